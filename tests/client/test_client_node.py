"""The generated client's Node tests (``tests/client/*.test.mjs``): backoff
schedule, close-code policy, queue and rooms, on a fake WebSocket and a
manual clock. The client is rendered by wsgen into a copy of an example.

Needs ``node`` (18 or newer); without it the tests skip, except under CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import copy_example, run_wsgen

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("client", ["js", "ts"])
def test_node_suite_passes_on_the_generated_client(tmp_path: Path, client: str) -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is required when CI is set")
        pytest.skip("node is not installed")
    project = copy_example("src_factory", tmp_path)
    result = run_wsgen(
        "chat",
        "--auth",
        "--rooms",
        "--broadcast",
        "--client",
        client,
        "-m",
        "cursor_move",
        "--yes",
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    module = project / "src/shop/static/chat_client.js"
    assert module.is_file()
    assert (project / "src/shop/static/chat_client.d.ts").exists() == (client == "ts")
    # The shared core is written once, beside the endpoint's module.
    assert (project / "src/shop/static/ws_client.js").is_file()
    assert (project / "src/shop/static/ws_client.d.ts").exists() == (client == "ts")
    tests = sorted(str(path) for path in HERE.glob("*.test.mjs"))
    assert tests
    run = subprocess.run(  # noqa: PLW1510 - asserted below
        [node, "--test", *tests],
        env={**os.environ, "WSGEN_CLIENT_MODULE": str(module)},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout


def test_no_client_files_with_client_none(tmp_path: Path) -> None:
    project = copy_example("src_factory", tmp_path)
    result = run_wsgen("chat", "--rooms", "--client", "none", "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list((project / "src/shop/static").glob("chat_client*"))
    assert not list((project / "src/shop/static").glob("ws_*"))
