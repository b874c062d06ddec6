"""One client connection: a bounded outbound queue drained by one task.

``send`` never waits: no caller (a room fan-out, an HTTP route) waits on
somebody's socket; a client behind the queue limits is closed alone, with
1013. The writer parks on a future while the queue is empty (cheaper than
a task per burst). Under the uvicorn accelerator a frame goes straight to
the transport when it takes it, from ``send`` or from the queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import uuid4

import structlog

from .protocol import CloseCode, ProtocolError, encode
from .settings import WebSocketSettings

__all__ = ["FRAMES_EXTENSION", "Connection", "Identity", "text_frame"]

logger = structlog.get_logger(__name__)

# The scope extension of uvicorn_protocol.py's ``write_frame(frame)``.
FRAMES_EXTENSION = "wsgen.frames"


def text_frame(data: bytes) -> bytes:
    """A final, unmasked text frame (RFC 6455, 5.2), as servers send."""
    length = len(data)
    if length < 126:
        return bytes((0x81, length)) + data
    if length < 1 << 16:
        return b"\x81\x7e" + length.to_bytes(2, "big") + data
    return b"\x81\x7f" + length.to_bytes(8, "big") + data


async def finished(task: asyncio.Future[Any], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``task``, cancelled if not done by then
    (``wait_for`` raises a timeout error that is builtin only from 3.11)."""
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:
        if task.cancel():  # not done in time, or this wait was cancelled
            await asyncio.wait({task})
    return bool(done)


# What a connection needs from a socket (Starlette's WebSocket fits).
class OutboundSocket(Protocol):
    async def send_text(self, data: str) -> None: ...
    async def close(self, code: int, reason: str) -> None: ...


# A frame's text in; out, for an ``auth`` frame, the identity its fresh
# token proves (or why not), and None for any other frame.
Refresh = Callable[[str], Awaitable["Identity | ProtocolError | None"]]


@dataclass(frozen=True)
class Identity:
    """Who is on the other end; guests are never ``authenticated``."""

    user_id: str
    authenticated: bool = False
    claims: Mapping[str, Any] = field(default_factory=dict)
    # Epoch seconds at which the token stops being valid, if any.
    expires_at: float | None = None
    # Checks an open connection's ``auth`` frames (set by ``auth.py``).
    refresh: Refresh | None = field(default=None, repr=False, compare=False)


class Connection:
    def __init__(
        self,
        socket: OutboundSocket,
        identity: Identity,
        settings: WebSocketSettings,
        on_close: Callable[[Connection], None],
    ) -> None:
        self.id = uuid4().hex
        self.identity = identity
        self.user_id = identity.user_id
        self.rooms: set[str] = set()
        self.close_code: int | None = None
        self._socket = socket
        extensions = getattr(socket, "scope", {}).get("extensions") or {}
        self._direct = extensions.get(FRAMES_EXTENSION)  # False: not taken
        self._settings, self._on_close = settings, on_close
        # Frames waiting, and the run the writer is writing: both queued.
        self._queue: list[str] = []
        self._run: list[str] = []
        self._queued_bytes = 0
        self._closed = asyncio.get_running_loop().create_future()
        self._writer: asyncio.Task[None] | None = None  # the first frame's
        self._closer: asyncio.Task[None] | None = None
        self._parked: asyncio.Future[None] | None = None  # wakes the writer
        # ``serve``'s task, cancelled once closed: a silent peer keeps none.
        self.reader: asyncio.Task[Any] | None = None

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def send(
        self, text: str, size: int | None = None, frame: bytes | None = None
    ) -> bool:
        """Send encoded text, now or from the queue; ``size`` (its length
        in bytes) and ``frame`` (``text_frame`` of it) spare re-encoding."""
        if self.close_code is not None:
            return False
        size = len(text.encode()) if size is None else size
        frames, limits = len(self._queue) + len(self._run), self._settings
        if (
            not frames  # nothing waits before it
            and self._direct is not None
            and size <= limits.send_queue_bytes
            and self._direct(frame or text_frame(text.encode()))
        ):
            return True
        if (
            frames >= limits.send_queue_messages
            or self._queued_bytes + size > limits.send_queue_bytes
        ):
            log = logger.bind(connection_id=self.id, user_id=self.user_id)
            log.warning("ws.limit_hit", limit="send_queue", queued=frames)
            self._shut(CloseCode.TRY_AGAIN_LATER, "send queue full", False)
            # Inside somebody's fan-out: the manager hears of it next loop
            # iteration, so its ``user_left`` fan-out never nests in this.
            asyncio.get_running_loop().call_soon(self._on_close, self)
            return False
        self._queue.append(text)
        self._queued_bytes += size
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop())
        else:
            self._unpark()
        return True

    def send_json(self, payload: Any) -> bool:
        return self.send(encode(payload))

    def send_error(self, code: str, message: str) -> bool:
        error = {"type": "error", "code": code, "message": message}
        return self.send_json(error)

    def close(self, code: int, reason: str, *, drain: bool = True) -> None:
        """Close from the server side; ``drain`` flushes queued frames
        first. Idempotent and synchronous: safe inside a fan-out loop."""
        if self.close_code is None:
            self._shut(code, reason, drain)
            self._on_close(self)

    def abandon(self, code: int = 1000) -> None:
        """The peer is gone or the close done: stop every task, free the
        queue, tell the manager, end the read still waiting. Idempotent."""
        current = asyncio.current_task()
        for task in (self._writer, self._closer, self.reader):
            if task is not None and task is not current:
                task.cancel()  # no-op once done
        self._drop_queue()
        self.reader = None
        if self.close_code is None:
            self.close_code = int(code)
            self._on_close(self)
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        # wait(), not ``await``: a cancelled waiter leaves the future alone.
        await asyncio.wait({self._closed})

    def _shut(self, code: int, reason: str, drain: bool) -> None:
        self.close_code = int(code)
        if not drain:
            self._drop_queue()
        self._unpark()  # a parked writer sees the close and ends
        self._closer = asyncio.create_task(self._close(code, reason, drain))

    def _unpark(self) -> None:
        if self._parked is not None and not self._parked.done():
            self._parked.set_result(None)

    def _drop_queue(self) -> None:
        self._queue.clear()
        self._run.clear()  # ends the run the writer is in
        self._queued_bytes = 0

    async def _write_loop(self) -> None:
        send, direct = self._socket.send_text, self._direct
        try:
            while True:
                while self._queue:
                    run = self._run = self._queue
                    self._queue, taken = [], self._queued_bytes
                    for text in run:
                        if not (direct and direct(text_frame(text.encode()))):
                            await send(text)
                    if run:  # not dropped meanwhile
                        run.clear()
                        self._queued_bytes -= taken
                if self.close_code is not None:
                    return  # drained for the close
                self._parked = asyncio.get_running_loop().create_future()
                await self._parked
        except Exception as error:  # noqa: BLE001 (ends this connection only)
            logger.info("ws.write_failed", connection_id=self.id, error=error)
            self.abandon()

    async def _close(self, code: int, reason: str, drain: bool) -> None:
        timeout = self._settings.close_timeout
        if self._writer is not None:  # cancelled if stuck on a slow socket
            await finished(self._writer, timeout if drain else 0)
        closing = asyncio.ensure_future(self._socket.close(code, reason))
        try:
            if not await finished(closing, timeout):
                # The peer does not take the close frame: the server keeps
                # the TCP connection until its own ping timeout fails it.
                logger.warning("ws.close_failed", connection_id=self.id)
            elif closing.exception() is not None:  # a peer gone: routine
                logger.debug("ws.close_failed", connection_id=self.id)
        finally:
            self.abandon()
