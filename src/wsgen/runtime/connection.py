"""One client connection: a bounded outbound queue drained by one task.

``send`` never waits: it appends already-encoded text to the queue, so no
caller (a room fan-out, an HTTP route) ever waits on somebody's socket. A
client that falls behind the queue limits is closed alone, with 1013.

The writer task lives as long as the connection and parks on a future
while the queue is empty: waking a parked task costs a fraction of
starting one per burst, which at a paced 100 messages/s to a room of 200
is what keeps fan-out latency low. The socket is read in the ASGI
handler's own task.

Served by the runtime's uvicorn protocol (``uvicorn_protocol.py``, written
with ``wsgen ... --accelerator uvicorn``), a
connection whose queue is empty skips the queue: the frame, built once for
a whole fan-out, goes straight to its transport, if the transport takes it
(open, uncompressed, not paused). Anything queued keeps the order: while a
frame waits, the next ones wait behind it.

A connection belongs to the event loop that accepted it. Called from any
other loop or thread (tests running several apps, each on its own loop),
``send`` and ``close`` hand the call over to that loop instead of touching
its tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol
from uuid import uuid4

import structlog

from .protocol import CloseCode, ProtocolError, encode, error_frame
from .settings import WebSocketSettings

__all__ = [
    "FRAMES_EXTENSION",
    "Connection",
    "Identity",
    "OutboundSocket",
    "Refresh",
    "text_frame",
]

logger = structlog.get_logger(__name__)

# Written frames are dropped from the front of a queue that is never empty
# once this many have piled up (and they are at least half of it).
_COMPACT_AFTER = 256

# Where uvicorn_protocol.py offers its ``write_frame`` in the ASGI scope.
FRAMES_EXTENSION = "wsgen.frames"

# Writes one complete frame to the transport; False when it cannot.
WriteFrame = Callable[[bytes], bool]


def text_frame(data: bytes) -> bytes:
    """A final, unmasked text frame (RFC 6455, 5.2), as servers send."""
    length = len(data)
    if length < 126:
        return bytes((0x81, length)) + data
    if length < 1 << 16:
        return b"\x81\x7e" + length.to_bytes(2, "big") + data
    return b"\x81\x7f" + length.to_bytes(8, "big") + data


def _frame_writer(socket: object) -> WriteFrame | None:
    """The protocol's ``write_frame``, when the server offers it."""
    scope = getattr(socket, "scope", None)
    if not isinstance(scope, Mapping):
        return None
    extensions = scope.get("extensions") or {}
    write = extensions.get(FRAMES_EXTENSION)
    return write if callable(write) else None


class OutboundSocket(Protocol):
    """What a connection needs from a socket (Starlette's WebSocket fits)."""

    async def send_text(self, data: str) -> None: ...

    async def close(
        self,
        code: int = 1000,
        reason: str | None = None,
    ) -> None: ...


# A fresh token in, the identity it proves (or why not) out.
Refresh = Callable[[str], Awaitable["Identity | ProtocolError"]]


@dataclass(frozen=True)
class Identity:
    """Who is on the other end; guests are never ``authenticated``."""

    user_id: str
    authenticated: bool = False
    claims: Mapping[str, Any] = field(default_factory=dict)
    # Epoch seconds at which the token stops being valid, if any.
    expires_at: float | None = None
    # Checks the token of an ``auth`` frame sent on the open connection:
    # the identity it yields replaces this one (set by ``auth``).
    refresh: Refresh | None = field(default=None, repr=False, compare=False)

    @classmethod
    def guest(cls) -> Identity:
        return cls(user_id=f"guest-{uuid4().hex[:12]}")


class Connection:
    __slots__ = (
        "_closed",
        "_closer",
        "_direct",
        "_head",
        "_on_close",
        "_parked",
        "_queue",
        "_queued_bytes",
        "_settings",
        "_sizes",
        "_socket",
        "_writer",
        "close_code",
        "close_reason",
        "id",
        "identity",
        "loop",
        "reader",
        "rooms",
        "user_id",
    )

    def __init__(
        self,
        socket: OutboundSocket,
        identity: Identity,
        settings: WebSocketSettings,
        on_close: Callable[[Connection], None],
    ) -> None:
        self.id = uuid4().hex
        # The loop that owns the socket and this connection's tasks.
        self.loop = asyncio.get_running_loop()
        self.identity = identity
        self.user_id = identity.user_id
        self.rooms: set[str] = set()
        self.close_code: int | None = None
        self.close_reason = ""
        self._socket = socket
        self._direct = _frame_writer(socket)
        self._settings = settings
        self._on_close = on_close
        # Frames waiting to be written are ``_queue[_head:]``, their sizes
        # beside them. Lists, not a deque: an idle connection's empty list
        # costs 56 bytes where a deque costs 760; and two lists, not one of
        # (text, size) tuples, so a delivery allocates nothing that the
        # garbage collector has to track.
        self._queue: list[str] = []
        self._sizes: list[int] = []
        self._head = 0
        self._queued_bytes = 0
        self._closed: asyncio.Future[None] = self.loop.create_future()
        # Started by the first frame; ends when the connection closes.
        self._writer: asyncio.Task[None] | None = None
        # Resolved to wake the writer parked on an empty queue.
        self._parked: asyncio.Future[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        # The task reading the socket (``serve``), cancelled once the close
        # is done or given up: a peer that never answers keeps no reader.
        self.reader: asyncio.Task[Any] | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.id} user={self.user_id}>"

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    @property
    def queued(self) -> tuple[int, int]:
        """Frames and bytes waiting to be written."""
        return len(self._queue) - self._head, self._queued_bytes

    def _writer_done(self, writer: asyncio.Task[None]) -> None:
        # A dead socket ends this connection only, never the sender's:
        # whatever the send raised stops here, with the task.
        if writer.cancelled() or writer.exception() is None:
            return
        logger.info(
            "ws.write_failed",
            connection_id=self.id,
            user_id=self.user_id,
            error=type(writer.exception()).__name__,
        )
        self.abandon()

    def _elsewhere(self) -> bool:
        """True when called off this connection's own event loop."""
        try:
            return asyncio.get_running_loop() is not self.loop
        except RuntimeError:  # a thread without a running loop
            return True

    def _hand_over(self, call: Callable[[], object]) -> bool:
        """Run ``call`` on the connection's loop; False if it is closed."""
        try:
            self.loop.call_soon_threadsafe(call)
        except RuntimeError:
            return False
        return True

    def send(
        self,
        text: str,
        size: int | None = None,
        frame: bytes | None = None,
    ) -> bool:
        """Send encoded text, now or from the queue; ``size`` (its length
        in bytes) and ``frame`` (``text_frame`` of it) spare re-encoding."""
        if self.close_code is not None:
            return False
        if self._elsewhere():
            return self._hand_over(partial(self.send, text, size, frame))
        if size is None:
            size = len(text.encode())
        limits = self._settings
        if (
            self._direct is not None
            and self._head >= len(self._queue)  # nothing waits before it
            and (self._writer is None or self._parked is not None)
            and size <= limits.send_queue_bytes
            and self._direct(frame or text_frame(text.encode()))
        ):
            return True
        if (
            len(self._queue) - self._head >= limits.send_queue_messages
            or self._queued_bytes + size > limits.send_queue_bytes
        ):
            logger.warning(
                "ws.limit_hit",
                limit="send_queue",
                connection_id=self.id,
                user_id=self.user_id,
                queued_frames=len(self._queue) - self._head,
                queued_bytes=self._queued_bytes,
            )
            self._shut(CloseCode.TRY_AGAIN_LATER, "send queue full", False)
            # This runs inside somebody's fan-out: the manager hears of the
            # close on the next loop iteration, so the ``user_left`` it fans
            # out never nests in this one (each full queue it met would
            # close the next connection one stack level deeper).
            self.loop.call_soon(self._on_close, self)
            return False
        self._queue.append(text)
        self._sizes.append(size)
        self._queued_bytes += size
        if self._writer is None:
            self._writer = self.loop.create_task(
                self._write_loop(),
                name=f"ws-writer-{self.id}",
            )
            self._writer.add_done_callback(self._writer_done)
        else:
            self._unpark()
        return True

    def _unpark(self) -> None:
        parked, self._parked = self._parked, None
        if parked is not None and not parked.done():
            parked.set_result(None)

    def send_json(self, payload: Any) -> bool:
        return self.send(encode(payload))

    def send_error(self, code: str, message: str) -> bool:
        return self.send(encode(error_frame(code, message)))

    def close(self, code: int, reason: str, *, drain: bool = True) -> None:
        """Close from the server side; ``drain`` flushes queued frames first.

        Idempotent and synchronous, so it is safe inside a fan-out loop.
        """
        if self.close_code is not None:
            return
        if self._elsewhere():
            self._hand_over(partial(self.close, code, reason, drain=drain))
            return
        self._shut(code, reason, drain)
        self._on_close(self)

    def _shut(self, code: int, reason: str, drain: bool) -> None:
        """Mark the connection closing and start sending the close."""
        self.close_code, self.close_reason = int(code), reason
        if not drain:
            self._drop_queue()
        self._unpark()  # a parked writer sees the close and ends
        self._closer = self.loop.create_task(
            self._close(drain),
            name=f"ws-closer-{self.id}",
        )

    def abandon(
        self,
        code: int = 1000,
        reason: str = "client closed",
    ) -> None:
        """The peer is gone: stop writing (and closing), free the queue,
        tell the manager. Idempotent; call it on the connection's loop."""
        current = asyncio.current_task()
        for task in (self._writer, self._closer):
            if task is not None and task is not current:
                task.cancel()  # no-op once done
        self._drop_queue()
        if self.close_code is None:
            self.close_code, self.close_reason = int(code), reason
            self._on_close(self)
        self._finish()

    async def wait_closed(self) -> None:
        # wait(), not ``await``: a cancelled waiter leaves the future alone.
        await asyncio.wait({self._closed})

    def _finish(self) -> None:
        """Closed (or given up on): end the read still waiting for the
        peer, which may never come."""
        if not self._closed.done():
            self._closed.set_result(None)
        reader, self.reader = self.reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()

    def _drop_queue(self) -> None:
        self._queue.clear()
        self._sizes.clear()
        self._head = self._queued_bytes = 0

    async def _write_loop(self) -> None:
        queue, sizes, send = self._queue, self._sizes, self._socket.send_text
        while True:
            # Frames queued during a send join this run; a dropped queue
            # (``_drop_queue``) ends it.
            while self._head < len(queue):
                head = self._head
                if head >= _COMPACT_AFTER and head * 2 >= len(queue):
                    # A reader that never quite catches up never reaches
                    # the clear() below: forget the frames written so far.
                    del queue[:head], sizes[:head]
                    head = 0
                self._head = head + 1
                self._queued_bytes -= sizes[head]
                await send(queue[head])
            queue.clear()
            sizes.clear()
            self._head = 0
            if self.close_code is not None:
                return  # drained for the close
            self._parked = self.loop.create_future()
            await self._parked

    async def _close(self, drain: bool) -> None:
        writer, timeout = self._writer, self._settings.close_timeout
        if writer is not None:
            if drain:
                await asyncio.wait({writer}, timeout=timeout)
            if not writer.done():
                # Stuck on a socket that does not read; give up on it.
                writer.cancel()
                await asyncio.wait({writer})
        self._drop_queue()
        closing = asyncio.ensure_future(
            self._socket.close(self.close_code or 1000, self.close_reason),
        )
        try:
            await asyncio.wait({closing}, timeout=timeout)
            if not closing.done():
                closing.cancel()  # the peer does not take the close frame
                await asyncio.wait({closing})
                # The server keeps the TCP connection until its own ping
                # timeout fails it (uvicorn: --ws-ping-interval/-timeout).
                logger.warning(
                    "ws.close_failed",
                    connection_id=self.id,
                    user_id=self.user_id,
                    error="timeout",
                )
            elif not closing.cancelled() and closing.exception() is not None:
                # Closing a socket the peer already dropped is routine.
                error = type(closing.exception()).__name__
                logger.debug(
                    "ws.close_failed",
                    connection_id=self.id,
                    error=error,
                )
        finally:
            self._finish()
