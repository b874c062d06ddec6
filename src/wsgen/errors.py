"""Errors a user can cause: each carries one sentence and an exit code."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_REFUSED = 1  # refused: conflict, unsafe edit, nothing found to edit
EXIT_USAGE = 2  # bad arguments or a name wsgen cannot use
EXIT_CHECK_MISSING = 3
EXIT_CHECK_UNREGISTERED = 4
EXIT_CHECK_EDITED = 5
EXIT_CHECK_STALE = 6
# Verification: the host's Python lacks packages the generated code needs.
EXIT_VERIFY_MISSING = 7


class WsgenError(Exception):
    """A problem the user can fix; printed as one line, never a traceback."""

    exit_code = EXIT_REFUSED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class UsageError(WsgenError):
    exit_code = EXIT_USAGE


class RefusedError(WsgenError):
    exit_code = EXIT_REFUSED


def require_folder(folder: Path, option: str, *, missing: str, is_file: str) -> None:
    """A folder given on the command line (`option` as the user typed it)
    must exist and be a folder; the hints say what to give instead."""
    if not folder.exists():
        raise UsageError(f"{option}: no such folder.", hint=missing)
    if not folder.is_dir():
        raise UsageError(f"{option} is a file, not a folder.", hint=is_file)
