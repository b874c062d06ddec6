"""Errors a user can cause: each carries one sentence and an exit code."""

from __future__ import annotations

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_REFUSED = 1  # refused: conflict, unsafe edit, nothing found to edit
EXIT_USAGE = 2  # bad arguments or a name wsgen cannot use
EXIT_CHECK_MISSING = 3
EXIT_CHECK_UNREGISTERED = 4
EXIT_CHECK_EDITED = 5
EXIT_CHECK_STALE = 6


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
