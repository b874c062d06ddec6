"""Shared helpers: copies of the example projects and a CLI runner.

Every `--json` output a test produces through `run_wsgen` is checked
against `wsgen schema`, so the schema cannot fall behind the output.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "README.md").exists())
IGNORED = shutil.ignore_patterns(
    "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"
)


def copy_example(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(EXAMPLES / name, target, ignore=IGNORED)
    return target


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def _schema_validator(kind: str | None) -> Any:
    from jsonschema import Draft202012Validator

    from wsgen.outputschema import load_schema

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    if kind is not None:
        assert kind in schema["$defs"], kind
        schema = {**schema, "anyOf": [{"$ref": f"#/$defs/{kind}"}]}
    return Draft202012Validator(schema)


def validated_json(text: str, kind: str | None = None) -> dict[str, Any]:
    """wsgen's `--json` stdout: exactly one JSON object, valid against
    `wsgen schema` (against its definition `kind` when given)."""
    document = json.loads(text)
    assert isinstance(document, dict), text
    errors = sorted(
        _schema_validator(kind).iter_errors(document), key=lambda e: list(e.path)
    )
    # anyOf hides the reasons in each error's context: show them all.
    assert not errors, "\n".join(
        f"{list(e.absolute_path)}: {e.message}"
        for error in errors
        for e in [error, *error.context]
    )
    return document


def run_wsgen(
    *args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **(os.environ if env is None else env),
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    result = subprocess.run(  # noqa: PLW1510 - callers assert on returncode
        [sys.executable, "-m", "wsgen", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    if "--json" in args:
        validated_json(result.stdout)
    return result


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file's bytes, caches excluded: to prove a run changed nothing."""
    out = {}
    for path in sorted(root.rglob("*")):
        if (
            path.is_file()
            and "__pycache__" not in path.parts
            and ".pytest_cache" not in path.parts
        ):
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


@pytest.fixture
def workers() -> Iterator[list[Any]]:
    """Servers a test starts (anything with ``stop()``), stopped after it."""
    started: list[Any] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture
def example_copy(tmp_path: Path):
    def make(name: str) -> Path:
        return copy_example(name, tmp_path)

    return make


def run_on_terminal(
    *args: str, cwd: Path, answers: list[tuple[str, str]] = (), timeout: float = 120
) -> tuple[int, str]:
    """Run wsgen on a pseudo-terminal, typing each answer once its prompt
    appears; the exit code and everything printed."""
    import pty
    import select
    import time

    main_fd, child_fd = pty.openpty()
    env = {**os.environ, "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "TERM": "dumb", "COLUMNS": "200"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsgen", *args],
        cwd=cwd, stdin=child_fd, stdout=child_fd, stderr=child_fd, env=env,
    )  # fmt: skip
    os.close(child_fd)
    pending = list(answers)
    output, seen = "", 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main_fd], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk.decode(errors="replace")
            if pending and pending[0][0] in output[seen:]:
                seen = len(output)
                os.write(main_fd, pending.pop(0)[1].encode() + b"\r")
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        proc.kill()
        os.close(main_fd)
    assert not pending, f"never asked {pending[0][0]!r}: {output}"
    return code, output
