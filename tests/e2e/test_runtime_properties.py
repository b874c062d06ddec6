"""Runs the hypothesis property test inside a generated project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_example, run_wsgen

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent


def test_thousands_of_arbitrary_frames(tmp_path: Path) -> None:
    project = copy_example("single_file", tmp_path)
    result = run_wsgen(
        "chat",
        "--rooms",
        "--broadcast",
        "-m",
        "vote",
        "--yes",
        "--no-verify",
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shutil.copy(
        HERE / "hostfiles" / "ws_properties.py",
        project / "tests" / "test_ws_properties.py",
    )
    counter = tmp_path / "frames-sent.txt"
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "WS_PROPERTY_COUNTER": str(counter),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_ws_properties.py"],
        cwd=project, capture_output=True, text=True, timeout=900, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert int(counter.read_text()) >= 2000, "fewer frames than the property promises"
