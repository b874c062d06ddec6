"""The `wsgen` executable: start the edit worker, then run the CLI.

Kept free of imports so that the fork happens before typer, jinja2 and
rich are loaded (see edit_worker), and so that `--version` needs none of them.
"""

from __future__ import annotations

import sys

# Commands that never edit host code have no use for the worker.
_NO_EDIT = frozenset({"check", "schema", "--help", "-h", "--version"})


def main() -> None:
    args = sys.argv[1:]
    if args == ["--version"]:
        from wsgen import __version__

        sys.stdout.write(f"wsgen {__version__}\n")
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
