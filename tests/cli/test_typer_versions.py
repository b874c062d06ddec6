"""Usage errors and help with the oldest and the newest typer wsgen allows.

typer changed under wsgen more than once (0.26 brought its own copy of
click, 0.29 coerces options with pydantic): each allowed end of the range
is installed into a fresh virtualenv, with wsgen's source on PYTHONPATH
(the parser runs before anything else of wsgen is imported).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_example

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib


def allowed_typer() -> dict[str, str]:
    """pip requirements for the ends of the typer range in pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    spec = next(d for d in project["project"]["dependencies"] if d.startswith("typer"))
    oldest = re.search(r">=\s*([\w.]+)", spec)
    assert oldest, f"typer needs a lower bound: {spec}"
    # The newest: whatever pip picks under the same specifier.
    return {"oldest": f"typer=={oldest.group(1)}", "newest": spec}


@pytest.fixture(scope="module", params=["oldest", "newest"])
def typer_python(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    requirement = allowed_typer()[request.param]
    venv = tmp_path_factory.mktemp(f"typer-{request.param}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", requirement],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return python


def run(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_COLOR": "1",
        "XDG_CACHE_HOME": str(cwd / ".cache"),
    }
    return subprocess.run(
        [str(python), "-m", "wsgen", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )


USAGE_ERRORS = {
    "unknown-option": (["chat", "--room", "--yes"], "--room"),
    "extra-argument": (["chat", "extra", "--yes"], "extra"),
    "missing-value": (["chat", "--backend"], "--backend"),
    "flag-given-a-value": (["chat", "--auth=yes"], "--auth"),
    "subcommand-unknown-option": (["check", "--bogus"], "--bogus"),
    "destroy-without-name": (["destroy"], "Missing the endpoint name"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_error_is_one_line_and_exit_2(
    typer_python: Path, tmp_path: Path, case: tuple[list[str], str]
) -> None:
    args, fragment = case
    project = copy_example("app_package", tmp_path)
    result = run(typer_python, project, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wsgen: error: ") and fragment in lines[0]


@pytest.mark.parametrize("command", ["", "new", "destroy", "upgrade"])
def test_help_renders_cleanly(typer_python: Path, tmp_path: Path, command: str) -> None:
    args = [command, "--help"] if command else ["--help"]
    result = run(typer_python, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert "\\[" not in result.stdout
    if not command:
        examples = [line for line in result.stdout.splitlines() if "  wsgen " in line]
        assert len(examples) == 7, result.stdout
        assert all(line.lstrip().startswith("wsgen ") for line in examples)
        assert all(line.count("wsgen ") == 1 for line in examples)
