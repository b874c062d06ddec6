"""`--help` and `--version` answered without typer, and never stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wsgen import cli, fasthelp


def _run(
    *args: str, cache: Path, importtime: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": "100"}
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, "-m", "wsgen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def _typer_output(*args: str) -> str:
    """What the typer CLI itself prints, with no cache in the way."""
    code = f"from wsgen.cli import main; main({list(args)!r})"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "100"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _imports_typer(proc: subprocess.CompletedProcess[str]) -> bool:
    return any(line.endswith(" typer") for line in proc.stderr.splitlines())


def test_commands_match_the_cli() -> None:
    assert fasthelp.COMMANDS == cli.COMMANDS


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], True),
        (["-h"], True),
        (["check", "--help"], True),
        (["upgrade", "-h"], True),
        (["chat", "--help"], False),  # the default command's options differ
        (["--help", "check"], False),
        ([], False),
        (["check"], False),
    ],
)
def test_help_requests(args: list[str], expected: bool) -> None:
    assert fasthelp.is_help_request(args) is expected


@pytest.mark.parametrize("args", [["--help"], ["check", "--help"]])
def test_second_help_is_cached_and_identical(tmp_path: Path, args: list[str]) -> None:
    first = _run(*args, cache=tmp_path, importtime=True)
    second = _run(*args, cache=tmp_path, importtime=True)
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout == _typer_output(*args)
    assert _imports_typer(first)
    assert not _imports_typer(second)


def test_stale_entry_is_rendered_again(tmp_path: Path) -> None:
    assert _run("--help", cache=tmp_path).returncode == 0
    (entry,) = (tmp_path / "wsgen" / "help").glob("*.txt")
    key, _, _ = entry.read_text().partition("\n")
    # Another wsgen version wrote this entry: its text must not be shown.
    entry.write_text(key.replace("|", "-old|", 1) + "\nstale help\n")
    proc = _run("--help", cache=tmp_path)
    assert "stale help" not in proc.stdout
    assert proc.stdout == _typer_output("--help")
    assert "stale help" not in entry.read_text()


def test_width_is_part_of_the_key(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    outputs = []
    for columns in ("60", "100", "60"):
        proc = subprocess.run(
            [sys.executable, "-m", "wsgen", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "COLUMNS": columns},
            check=False,
        )
        outputs.append(proc.stdout)
    narrow, wide, narrow_again = outputs
    assert narrow != wide
    assert narrow == narrow_again
    # The examples keep one line each, whatever the width.
    prose = [line for line in narrow.splitlines() if not line.startswith("    wsgen ")]
    assert max(len(line) for line in prose) <= 60


def test_unwritable_cache_still_prints_help(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    proc = _run("--help", cache=blocker)
    assert proc.returncode == 0
    assert proc.stdout == _typer_output("--help")


def test_version_without_typer(tmp_path: Path) -> None:
    proc = _run("--version", cache=tmp_path, importtime=True)
    assert proc.returncode == 0
    assert proc.stdout == _typer_output("--version")
    assert not _imports_typer(proc)
