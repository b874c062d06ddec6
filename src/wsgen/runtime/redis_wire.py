"""The two hot connections of the Redis backend: PUBLISH and SUBSCRIBE.

Every frame that crosses workers is written by one and read by the
other, so they speak Redis's wire protocol (RESP2) themselves instead of
going through redis-py's command layer: a PUBLISH is written to the
socket by the caller, in the same step as the local fan-out, and a
message read from Redis is handed to the fan-out from the socket's read
callback. On the benchmark's two-CPU machine that took a Redis hop from
about 0.8 ms to about 0.4 ms at p50 (BENCHMARKS.md). Everything else
(presence scripts, reads) goes through redis-py.

Where to connect, TLS and credentials come from redis-py's reading of
the URL (``redis://``, ``rediss://`` with its ``ssl_*`` options,
``unix://``), so both kinds of connection accept the same URLs. The
database number does not matter: pub/sub channels are shared by every
database.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, cast

__all__ = ["ReplyError", "Wire", "open_wire"]

Value = Any  # bytes | int | None | ReplyError | list[Value]


class ReplyError(Exception):
    """An error reply from Redis (``-ERR ...``)."""


class _Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


def encode(*parts: str | bytes) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def parse(buffer: bytearray | bytes, start: int) -> tuple[Value, int]:
    """The reply beginning at ``start`` and where the next one begins.

    Raises _Incomplete when the buffer ends before the reply does.
    """
    end = buffer.find(b"\r\n", start)
    if end < 0:
        raise _Incomplete
    kind, line = buffer[start : start + 1], buffer[start + 1 : end]
    after = end + 2
    if kind == b"$":
        length = int(line)
        if length < 0:
            return None, after
        if len(buffer) < after + length + 2:
            raise _Incomplete
        return bytes(buffer[after : after + length]), after + length + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = parse(buffer, after)
            items.append(item)
        return items, after
    if kind == b":":
        return int(line), after
    if kind == b"+":
        return bytes(line), after
    if kind == b"-":
        return ReplyError(bytes(line).decode(errors="replace")), after
    raise ValueError(f"unexpected type byte {bytes(kind)!r}")


# Most replies handled in one step of the event loop (see Wire._handle).
REPLIES_PER_STEP = 64


class Wire(asyncio.Protocol):
    """One connection to Redis, with replies handed out in order.

    ``send`` writes a command whose reply is only counted (``pending``);
    ``call`` writes one and waits for its reply; ``send_push`` writes one
    whose answers come as pushes (SUBSCRIBE). Replies nobody waits for go
    to ``on_push``. ``on_lost`` is called once when the connection ends.
    """

    def __init__(
        self,
        on_push: Callable[[Value], None] | None = None,
        on_lost: Callable[[Exception], None] | None = None,
    ) -> None:
        self.on_push = on_push
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self._waiting: deque[asyncio.Future[Value] | None] = deque()
        self._buffer = bytearray()
        self._closed: asyncio.Future[None] | None = None
        # Commands written after the first in one step of the event loop,
        # sent together at the end of the step (one syscall, one wake-up
        # of Redis, for a burst); the first goes out at once.
        self._corked: list[bytes] | None = None
        self._held = False  # reading paused while a backlog is handled

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's: no isinstance.
        self.transport = cast(asyncio.Transport, transport)
        self._closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._held:
            self._handle()

    def _handle(self) -> None:
        """Hand out the replies read so far, at most REPLIES_PER_STEP: a
        backlog from Redis (each message a fan-out) does not keep the event
        loop from everything else; reading waits until it is handled."""
        buffer, start = self._buffer, 0
        try:
            for _ in range(REPLIES_PER_STEP):
                if start == len(buffer) or self.transport is None:
                    break
                value, start = parse(buffer, start)
                self._reply(value)
            else:
                if start < len(buffer) and self.transport is not None:
                    del buffer[:start]
                    self._hold()
                    return
        except _Incomplete:
            pass
        except ValueError as error:  # not RESP: nothing more makes sense
            self._fail(ConnectionError(f"bad reply from Redis: {error}"))
            return
        except ConnectionError as error:
            self._fail(error)
            return
        del buffer[:start]
        self._release()

    def _hold(self) -> None:
        """Stop reading, go on with the buffer in the loop's next step."""
        if not self._held and self.transport is not None:
            self._held = True
            self.transport.pause_reading()
        asyncio.get_running_loop().call_soon(self._handle)

    def _release(self) -> None:
        if self._held:
            self._held = False
            if self.transport is not None:
                self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._corked = None
        self._held = False
        error = exc or ConnectionError("Redis closed the connection")
        while self._waiting:
            waiter = self._waiting.popleft()
            if waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionError(str(error)))
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self._tell_lost(error)

    # -- commands ------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Commands written whose replies have not been read yet."""
        return len(self._waiting)

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, *parts: str | bytes) -> None:
        self._write(encode(*parts))
        self._waiting.append(None)

    def send_push(self, *parts: str | bytes) -> None:
        self._write(encode(*parts))

    async def call(self, *parts: str | bytes) -> Value:
        waiter = asyncio.get_running_loop().create_future()
        self._write(encode(*parts))
        self._waiting.append(waiter)
        reply = await waiter
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def close(self) -> None:
        """Close now, dropping what is not written yet (a Redis that does
        not read would keep a graceful close waiting)."""
        self.on_lost = None  # closed on purpose: nobody to tell
        if self.transport is not None:
            self.transport.abort()
        if self._closed is not None:
            await self._closed

    def _write(self, data: bytes) -> None:
        if self.transport is None:
            raise ConnectionError("the connection to Redis is closed")
        if self._corked is not None:
            self._corked.append(data)
            return
        self.transport.write(data)
        self._corked = []
        asyncio.get_running_loop().call_soon(self._uncork)

    def _uncork(self) -> None:
        corked, self._corked = self._corked, None
        if corked and self.transport is not None:
            self.transport.write(b"".join(corked))

    def _reply(self, value: Value) -> None:
        if not self._waiting:
            if self.on_push is not None:
                self.on_push(value)
            return
        waiter = self._waiting.popleft()
        if waiter is None:
            if isinstance(value, ReplyError):
                raise ConnectionError(f"Redis refused a command: {value}")
        elif not waiter.done():
            waiter.set_result(value)

    def _fail(self, error: Exception) -> None:
        if self.transport is not None:
            self.transport.abort()  # connection_lost follows
        self._tell_lost(error)

    def _tell_lost(self, error: Exception) -> None:
        on_lost, self.on_lost = self.on_lost, None
        if on_lost is not None:
            on_lost(error)


async def open_wire(url: str, wire: Wire, timeout: float) -> Wire:
    """Connect ``wire`` to the Redis at ``url`` and authenticate it."""
    redis = importlib.import_module("redis.asyncio")
    # Not connected: read for its address, TLS context and credentials.
    target: Any = redis.ConnectionPool.from_url(url).make_connection()
    loop = asyncio.get_running_loop()

    def factory() -> Wire:
        return wire

    async def connect() -> None:
        path = getattr(target, "path", None)
        if path is not None:
            await loop.create_unix_connection(factory, path)
            return
        tls = getattr(target, "ssl_context", None)
        transport, _ = await loop.create_connection(
            factory,
            target.host,
            target.port,
            ssl=tls.get() if tls is not None else None,
        )
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    async def handshake() -> None:
        await connect()
        if target.password:
            user = [target.username] if target.username else []
            await wire.call("AUTH", *user, target.password)

    try:
        await asyncio.wait_for(handshake(), timeout)
    except BaseException:
        await wire.close()
        raise
    return wire
