"""Generate into copies of every example with every flag combination and run
what a user would run: the example's own tests plus the generated ones."""

from __future__ import annotations

import difflib
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_NAMES, copy_example, run_wsgen, snapshot

pytestmark = pytest.mark.e2e

COMBOS = [
    [flag for flag, on in zip(("--auth", "--rooms", "--broadcast"), bits) if on]
    for bits in itertools.product((True, False), repeat=3)
]


def run_pytest(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(  # noqa: PLW1510 - callers assert on returncode
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


_BASELINES: dict[str, int] = {}


def baseline_passed(example: str, project: Path) -> int:
    """Tests the untouched example passes (run once per example)."""
    if example not in _BASELINES:
        result = run_pytest(project)
        assert result.returncode == 0, result.stdout[-2000:]
        _BASELINES[example] = passed_count(result.stdout)
    return _BASELINES[example]


def passed_count(output: str) -> int:
    match = re.search(r"(\d+) passed", output)
    return int(match.group(1)) if match else 0


def assert_additions_only(before: dict[str, bytes], after: dict[str, bytes]) -> None:
    for path, old in before.items():
        assert path in after, f"{path} was removed"
        if after[path] == old:
            continue
        old_lines = old.decode().splitlines(keepends=True)
        new_lines = after[path].decode().splitlines(keepends=True)
        ops = difflib.SequenceMatcher(
            a=old_lines, b=new_lines, autojunk=False
        ).get_opcodes()
        changed = [op for op in ops if op[0] in ("delete", "replace")]
        assert not changed, f"{path}: existing lines changed: {changed}"


@pytest.mark.parametrize("flags", COMBOS, ids=lambda f: "+".join(f) or "bare")
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_generate_run_rerun_check(
    example: str, flags: list[str], tmp_path: Path
) -> None:
    project = copy_example(example, tmp_path)
    baseline = baseline_passed(example, project)
    before = snapshot(project)

    first = run_wsgen("chat", *flags, "--yes", cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Verified" in first.stdout
    after = snapshot(project)
    assert_additions_only(before, after)
    generated = set(after) - set(before)
    assert ".wsgen.toml" in generated
    assert any(p.endswith("test_chat_ws.py") for p in generated)

    result = run_pytest(project)
    assert result.returncode == 0, result.stdout[-4000:]
    assert passed_count(result.stdout) > baseline

    second = run_wsgen("chat", *flags, "--yes", cwd=project)
    assert second.returncode == 0, second.stdout + second.stderr
    assert snapshot(project) == after, "a second run changed files"
    assert "Nothing to change" in second.stdout

    check = run_wsgen("check", cwd=project)
    assert check.returncode == 0, check.stdout + check.stderr

    # The route module is the user's to edit; the runtime's edits are reported.
    route_file = next(
        p for p in generated if p.endswith("/chat.py") and ".wsgen" not in p
    )
    edited = project / route_file
    edited.write_text(edited.read_text() + "\n# a hand edit\n")
    check = run_wsgen("check", cwd=project)
    assert check.returncode == 0, check.stdout + check.stderr
    runtime_file = next(p for p in generated if p.endswith("websocket/manager.py"))
    edited = project / runtime_file
    edited.write_text(edited.read_text() + "\n# a hand edit\n")
    check = run_wsgen("check", cwd=project)
    assert check.returncode == 5, check.stdout + check.stderr
    assert runtime_file in check.stdout


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_generated_code_passes_ruff_and_mypy_strict(
    example: str, tmp_path: Path
) -> None:
    project = copy_example(example, tmp_path)
    flags = ["--auth", "--rooms", "--broadcast", "-m", "vote", "-m", "cursor-moved"]
    result = run_wsgen("live-updates", *flags, "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = (project / ".wsgen.toml").read_text()
    generated = sorted(
        set(re.findall(r'^"([^"]+\.py)" = "sha256:', manifest, re.MULTILINE))
    )
    assert len(generated) >= 10
    tools = Path(sys.executable).parent
    for command in (
        [str(tools / "ruff"), "check", *generated],
        [str(tools / "ruff"), "format", "--check", *generated],
    ):
        proc = subprocess.run(
            command, cwd=project, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    mypy_path = "src" if (project / "src").is_dir() else "."
    proc = subprocess.run(
        [str(tools / "mypy"), "--strict", "--follow-imports=silent", "--no-incremental",
         "--cache-dir=/dev/null", *generated],
        cwd=project, capture_output=True, text=True, check=False,
        env={**os.environ, "MYPYPATH": mypy_path},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tests = run_pytest(project)
    assert tests.returncode == 0, tests.stdout[-4000:]
