"""Errors a user can cause: each carries one sentence, an exit code and a
stable `code` for programs (the list is in the README and in `wsgen schema`)."""

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

# Stable error codes, printed with `--json` beside the message. Programs
# branch on these, never on the wording; adding one is fine, renaming is not.
ERROR_CODES = {
    "usage": "bad arguments or flags",
    "bad_name": "an endpoint name or message type wsgen cannot use",
    "name_taken": "the name is already used by a module, the package or the runtime",
    "no_project": "--project is not a folder",
    "no_app": "no FastAPI application found",
    "several_apps": "several FastAPI applications found; choose one with --app",
    "bad_app_ref": "--app or --jwt-settings does not point at what it should",
    "syntax_error": "a host file wsgen must read does not parse",
    "invalid_config": "pyproject.toml is not valid TOML",
    "invalid_manifest": ".wsgen.toml is not a valid wsgen manifest",
    "no_manifest": "wsgen has generated nothing here",
    "unknown_endpoint": "no endpoint of that name in the manifest",
    "pydantic_v1": "the project uses pydantic v1",
    "fastapi_too_old": "the project's FastAPI cannot run the endpoint's start-up and shutdown",
    "path_taken": "the URL path is already used",
    "unsafe_edit": "the router cannot be registered safely; add two lines by hand",
    "conflict": "files exist and differ (or a folder is where a file goes)",
    "merge_conflict": "upgrade marked conflicts in files to resolve",
    "read_only": "a file or folder wsgen must write is not writable",
    "stale_plan": "the plan differs from the one given to --expect-plan",
    "verify_failed": "written, but importing the app did not show the route",
    "missing_dependencies": "written, but the app's Python lacks packages it needs (exit 7)",
    "template": "a --template cannot be used",
    "aborted": "interrupted; nothing written",
    "refused": "any other refusal",
}


class WsgenError(Exception):
    """A problem the user can fix; printed as one line, never a traceback."""

    exit_code = EXIT_REFUSED
    code = "refused"

    def __init__(
        self, message: str, *, hint: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, object]:
        return {
            "error": self.one_line(),
            "code": self.code,
            "exit_code": self.exit_code,
        }

    def one_line(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class UsageError(WsgenError):
    exit_code = EXIT_USAGE
    code = "usage"


class RefusedError(WsgenError):
    exit_code = EXIT_REFUSED


class TemplateUsageError(UsageError):
    """A --template that cannot be used as given."""

    code = "template"


class TemplateRefusedError(RefusedError):
    """A --template whose output wsgen refuses to write."""

    code = "template"


def require_folder(
    folder: Path, option: str, *, missing: str, is_file: str, code: str = "usage"
) -> None:
    """A folder given on the command line (`option` as the user typed it)
    must exist and be a folder; the hints say what to give instead."""
    if not folder.exists():
        raise UsageError(f"{option}: no such folder.", hint=missing, code=code)
    if not folder.is_dir():
        raise UsageError(f"{option} is a file, not a folder.", hint=is_file, code=code)
