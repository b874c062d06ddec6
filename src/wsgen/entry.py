"""The `wsgen` executable: start the edit worker, then run the CLI.

Kept free of imports so that the fork happens before typer, jinja2 and
rich are loaded (see edit_worker), and so that `--version` and a help
already rendered once (see fasthelp) need neither.
"""

from __future__ import annotations

import sys

# Commands that never edit host code have no use for the worker.
_NO_EDIT = frozenset({"check", "schema", "--help", "-h", "--version"})


def main() -> None:
    from wsgen import fasthelp

    args = sys.argv[1:]
    if args == ["--version"]:
        fasthelp.print_version()
        return
    if fasthelp.is_help_request(args):
        _help(args)
        return
    wants_edit = (
        bool(args)
        and args[0] not in _NO_EDIT
        and "--help" not in args
        and "-h" not in args
    )
    if wants_edit:
        from wsgen import edit_worker

        edit_worker.start()
    try:
        from wsgen.cli import main as cli_main

        cli_main()
    finally:
        if wants_edit:
            edit_worker.stop()


def _help(args: list[str]) -> None:
    """Print help from the cache, or render it with typer and keep it."""
    from wsgen import fasthelp

    text = fasthelp.cached_help(args)
    if text is None:
        import contextlib
        import io

        from wsgen.cli import main as cli_main

        printed = io.StringIO()
        code: str | int | None = 0
        with contextlib.redirect_stdout(printed):
            try:
                cli_main(args)
            except SystemExit as exc:
                code = exc.code
        text = printed.getvalue()
        if code not in (0, None):
            sys.stdout.write(text)
            sys.exit(code)
        fasthelp.store_help(args, text)
    sys.stdout.write(text)
