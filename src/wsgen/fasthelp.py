"""Help and version without importing typer.

Importing typer and click costs more than the whole budget of
`wsgen --help` on a small machine, while the text they print depends only
on wsgen's CLI module, their own versions and the terminal width. So the
first `--help` of each kind is printed by typer and kept in the user cache;
later ones are read back. The key is checked in full on every read, so an
upgrade of wsgen, typer or click, an edit of the CLI or another terminal
width gets a fresh rendering, never a stale one.
"""

from __future__ import annotations

import os
import sys

HELP_FLAGS = ("--help", "-h")
# Kept in step with cli.COMMANDS by a test (importing cli here would cost
# what this module saves).
COMMANDS = ("new", "check", "list", "destroy", "upgrade", "install-command", "schema")


def is_help_request(args: list[str]) -> bool:
    """`wsgen --help` or `wsgen COMMAND --help`: nothing else to parse."""
    if len(args) == 1:
        return args[0] in HELP_FLAGS
    return len(args) == 2 and args[0] in COMMANDS and args[1] in HELP_FLAGS


def _stat(path: str | None) -> str:
    if path is None:
        return "-"
    try:
        info = os.stat(path)
    except OSError:
        return "-"
    return f"{path}:{info.st_mtime_ns}:{info.st_size}"


def _origin(module: str) -> str | None:
    # find_spec locates a module without running it.
    from importlib.util import find_spec

    spec = find_spec(module)
    return None if spec is None else spec.origin


def cache_key(args: list[str]) -> str:
    """Everything the printed help depends on, as one line."""
    import shutil

    from wsgen import __version__

    # click wraps help at the terminal width, capped at 80 columns.
    width = min(shutil.get_terminal_size().columns, 80)
    cli = os.path.join(os.path.dirname(__file__), "cli.py")
    parts = [
        __version__,
        " ".join(args),
        str(width),
        _stat(cli),
        _stat(_origin("typer")),
        _stat(_origin("click")),
    ]
    return "|".join(parts)


def _cache_file(args: list[str]) -> str | None:
    from wsgen.cachedir import user_cache_dir

    directory = user_cache_dir("help")
    if directory is None:
        return None
    name = "_".join(arg.lstrip("-") for arg in args) or "root"
    return os.path.join(directory, f"{name}.txt")


def cached_help(args: list[str]) -> str | None:
    """The help text stored for ``args`` under the current key, if any."""
    path = _cache_file(args)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            key, _, text = handle.read().partition("\n")
    except (OSError, UnicodeDecodeError):
        return None
    return text if key == cache_key(args) else None


def store_help(args: list[str], text: str) -> None:
    """Keep ``text`` for the next run; a cache that cannot be written is
    only slower, never an error."""
    path = _cache_file(args)
    if path is None:
        return
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(f"{cache_key(args)}\n{text}")
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def print_version() -> None:
    from wsgen import __version__

    sys.stdout.write(f"wsgen {__version__}\n")
