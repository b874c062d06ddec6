"""Load libcst in a forked child while the parent discovers and renders.

Importing libcst costs about a third of a generating run. Forked at start-up,
before anything else is imported, a child pays that cost on the second core
while the parent parses arguments, scans the project and renders templates;
the parent then sends it the one file to edit and reads back the result.
Without fork (or if the child fails) the edit simply runs in-process.
"""

from __future__ import annotations

import os
import pickle
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgen.build.registration import Registration, RegistrationEdit

_worker: tuple[int, int, int] | None = None  # (pid, request fd, result fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _serve(request_fd: int, result_fd: int) -> None:
    from wsgen.build.registration_edit import register_router
    from wsgen.errors import WsgenError

    data = _read_all(request_fd)
    if not data:
        return  # the parent did not need an edit
    source, registration = pickle.loads(data)
    try:
        edit = register_router(source, registration)
        # Plain values: unpickling the dataclass would import libcst here too.
        result: tuple[str, object] = (
            "ok",
            (edit.new_source, edit.added_import, edit.added_include),
        )
    except WsgenError as error:
        result = ("error", (error.message, error.hint, error.exit_code, error.code))
    _write_all(result_fd, pickle.dumps(result))


def start() -> None:
    """Fork the worker; call before importing anything heavy."""
    global _worker
    if not hasattr(os, "fork") or _worker is not None:
        return
    request_r, request_w = os.pipe()
    result_r, result_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into the CLI
        os.close(request_w)
        os.close(result_r)
        code = 0
        try:
            _serve(request_r, result_w)
        except BaseException:  # noqa: BLE001 - any failure: the parent edits in-process
            code = 1
        finally:
            os._exit(code)
    os.close(request_r)
    os.close(result_w)
    _worker = (pid, request_w, result_r)


def stop() -> None:
    """Release an unused worker (it exits when its request pipe closes)."""
    global _worker
    if _worker is None:
        return
    pid, request_w, result_r = _worker
    _worker = None
    for fd in (request_w, result_r):
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def register(source: bytes, registration: Registration) -> RegistrationEdit:
    global _worker
    if _worker is not None:
        pid, request_w, result_r = _worker
        _worker = None
        try:
            _write_all(request_w, pickle.dumps((source, registration)))
            os.close(request_w)
            reply = _read_all(result_r)
        finally:
            os.close(result_r)
            os.waitpid(pid, 0)
        if reply:
            kind, value = pickle.loads(reply)
            if kind == "ok":
                from wsgen.build.registration import RegistrationEdit

                new_source, added_import, added_include = value
                return RegistrationEdit(new_source, added_import, added_include)
            from wsgen.errors import WsgenError

            message, hint, exit_code, code = value
            error = WsgenError(message, hint=hint, code=code)
            error.exit_code = exit_code
            raise error
    from wsgen.build.registration_edit import register_router

    return register_router(source, registration)
