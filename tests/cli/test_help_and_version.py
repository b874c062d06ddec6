"""`--version` without typer; `--help` rendered by typer for the terminal."""

from __future__ import annotations

import os
import subprocess
import sys


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


def test_version_without_typer() -> None:
    proc = _run("-X", "importtime", "-m", "wsgen", "--version", env={})
    assert proc.returncode == 0
    by_typer = _run("-c", "from wsgen.cli import main; main(['--version'])", env={})
    assert proc.stdout == by_typer.stdout
    assert proc.stdout.startswith("wsgen ")
    assert not any(line.endswith(" typer") for line in proc.stderr.splitlines())


def test_help_follows_the_terminal_width() -> None:
    narrow, wide = (
        _run("-m", "wsgen", "--help", env={"COLUMNS": columns}).stdout
        for columns in ("60", "100")
    )
    assert narrow != wide
    # The examples keep one line each, whatever the width.
    prose = [line for line in narrow.splitlines() if not line.startswith("    wsgen ")]
    assert max(len(line) for line in prose) <= 60
