"""Admission and the read loop shared by every endpoint.

The loop enforces the limits before any parsing, parses each frame once,
answers ``ping`` itself, checks ``auth`` refreshes of authenticated
connections and hands every other frame to the endpoint.
Bad frames get an ``error`` frame and the connection stays open.

A connection ends when the client disconnects (or the server drops the
socket, as uvicorn does with 1012 on shutdown) or once the server side has
closed it; either way its writer and closer tasks end and the read, which
runs in the ASGI handler's own task, is cut short, so the handler always
returns. A server that cancels the handler instead (hypercorn, once its
graceful timeout is over) gets a 1012 close frame sent first, the code
every other server's shutdown sends: clients reconnect at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import TypeAdapter
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from .connection import Connection, Identity, Refresh
from .limits import RateLimiter
from .manager import ConnectionManager
from .protocol import (
    CloseCode,
    ErrorCode,
    Ping,
    ProtocolError,
    Typing,
    auth_token,
    parse_frame,
    utc_now,
)
from .settings import WebSocketSettings

__all__ = ["accept", "admit_guest", "refuse", "serve"]

logger = structlog.get_logger(__name__)

# A handler gets a frame of its endpoint's own union. Any, not a TypeVar:
# hosts targeting 3.12+ would have ruff rewrite a TypeVar (UP047).
Handler = Callable[[Connection, Any], Awaitable[None]]


async def accept(
    websocket: WebSocket,
    settings: WebSocketSettings,
    subprotocol: str | None = None,
) -> bool:
    """Accept the handshake; then refuse a disallowed ``Origin`` (4003).

    Accepting first lets browsers read the close code and reason instead of
    a bare 1006, so clients can tell a refusal from a network error.
    """
    await websocket.accept(subprotocol=subprotocol)
    origin = websocket.headers.get("origin")
    allowed = settings.allowed_origins
    if allowed and origin is not None and origin not in allowed:
        await refuse(websocket, CloseCode.FORBIDDEN, "origin not allowed")
        return False
    return True


async def refuse(websocket: WebSocket, code: int, reason: str) -> None:
    logger.info("ws.refused", code=int(code), reason=reason)
    await websocket.close(code, reason)


async def admit_guest(
    websocket: WebSocket,
    settings: WebSocketSettings,
) -> Identity | None:
    """Endpoints without auth: a random guest id, never authenticated."""
    if not await accept(websocket, settings):
        return None
    return Identity.guest()


async def serve(
    websocket: WebSocket,
    manager: ConnectionManager,
    identity: Identity,
    frames: TypeAdapter[Any],
    handle: Handler,
) -> None:
    """Run one accepted connection until either side closes it."""
    conn = manager.connect(websocket, identity)
    if conn is None:
        await refuse(
            websocket,
            CloseCode.POLICY_VIOLATION,
            "too many connections",
        )
        return
    conn.send_json(
        {
            "type": "connected",
            "user_id": conn.user_id,
            "connection_id": conn.id,
            "message": "connected",
        }
    )
    # Read in this task: a task of its own would cost every idle connection.
    # The read ends on a disconnect, or is cancelled by ``conn`` once the
    # server side has sent its close frame (or given up on a client that
    # does not read), after which nothing more is read.
    task = asyncio.current_task()
    conn.reader = task
    code, reason = 1000, "client closed"
    try:
        code = await _read(websocket, conn, manager.settings, frames, handle)
    except asyncio.CancelledError:
        if task is None or conn.reader is task or not _uncancel(task):
            # Not (only) the connection's doing: the server stops.
            await _restart_close(websocket, conn)
            raise
    except WebSocketDisconnect as error:
        code, reason = error.code, error.reason or reason
    except Exception:
        conn.reader = None
        logger.exception(
            "ws.error",
            connection_id=conn.id,
            user_id=conn.user_id,
        )
        conn.close(CloseCode.INTERNAL_ERROR, "internal error")
        await conn.wait_closed()
    finally:
        conn.reader = None
        # The peer is gone or the close is done: stop every task left.
        conn.abandon(code, reason)


# Seconds a cancelled handler spends on its close frame: the server that
# cancelled it is shutting down and waits for it.
_RESTART_CLOSE_TIMEOUT = 1.0


async def _restart_close(websocket: WebSocket, conn: Connection) -> None:
    """The server cancelled the handler of an open connection (shutdown):
    send 1012 so that the client comes back, not an error (1011)."""
    if conn.closing:
        return
    conn.abandon(CloseCode.SERVICE_RESTART, "server shutting down")
    closing = asyncio.ensure_future(
        websocket.close(CloseCode.SERVICE_RESTART, "server shutting down"),
    )
    # wait(), not wait_for(): a peer that does not read cannot hold the
    # shutdown, and whatever the close raises (a socket already gone)
    # stays in the future.
    await asyncio.wait({closing}, timeout=_RESTART_CLOSE_TIMEOUT)
    if not closing.done():
        closing.cancel()
    elif not closing.cancelled():
        closing.exception()  # retrieved: routine when the peer is gone


def _uncancel(task: asyncio.Task[Any]) -> bool:
    """Take back the cancellation that cut the read short; False when the
    task was cancelled by somebody else as well (Python 3.11+ counts)."""
    uncancel = getattr(task, "uncancel", None)
    return uncancel is None or uncancel() == 0


class _Deadlines:
    """Idle and token-expiry timers: one timer per period, not per frame."""

    def __init__(
        self,
        conn: Connection,
        idle_timeout: float,
        expires_at: float | None,
    ) -> None:
        self._conn = conn
        self._idle = idle_timeout
        self._loop = asyncio.get_running_loop()
        self.last_frame = self._loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._expiry_timer: asyncio.TimerHandle | None = None
        if idle_timeout > 0:
            self._idle_timer = self._loop.call_later(
                idle_timeout,
                self._check_idle,
            )
        self.expire_at(expires_at)

    def expire_at(self, expires_at: float | None) -> None:
        """(Re)arm the token-expiry timer: a refreshed token moves it."""
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None
        if expires_at is not None:
            delay = max(expires_at - time.time(), 0.0)
            self._expiry_timer = self._loop.call_later(delay, self._expire)

    def cancel(self) -> None:
        for timer in (self._idle_timer, self._expiry_timer):
            if timer is not None:
                timer.cancel()

    def _check_idle(self) -> None:
        quiet = self._loop.time() - self.last_frame
        if quiet < self._idle:
            self._idle_timer = self._loop.call_later(
                self._idle - quiet,
                self._check_idle,
            )
            return
        _limit_hit(self._conn, "idle_timeout")
        self._conn.close(CloseCode.GOING_AWAY, "idle timeout")

    def _expire(self) -> None:
        _limit_hit(self._conn, "token_expiry")
        self._conn.close(CloseCode.TOKEN_EXPIRED, "token expired")


async def _read(
    websocket: WebSocket,
    conn: Connection,
    settings: WebSocketSettings,
    frames: TypeAdapter[Any],
    handle: Handler,
) -> int:
    """Read until the client disconnects; returns its close code."""
    limiter = RateLimiter(settings)
    deadlines = _Deadlines(
        conn,
        settings.idle_timeout,
        conn.identity.expires_at,
    )
    # ``receive`` does not yield while frames are buffered, so a burst would
    # be fanned out whole before any writer runs, filling the queues of
    # readers that keep up. The reader yields once it has handled a quarter
    # of what a receiver's queue holds (frames or bytes): no queue fills,
    # and writers still send long runs to one socket, which costs the
    # kernel far less per frame than a task switch every few frames.
    frame_budget = max(settings.send_queue_messages // 4, 1)
    byte_budget = max(settings.send_queue_bytes // 4, 1)
    handled = handled_bytes = 0
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return int(message.get("code") or 1005)
            if conn.closing:
                continue  # closing from this side: frames are ignored
            deadlines.last_frame = asyncio.get_running_loop().time()
            await _on_frame(
                message,
                conn,
                settings,
                limiter,
                frames,
                handle,
                deadlines,
            )
            handled += 1
            data = message.get("text") or message.get("bytes") or ""
            handled_bytes += len(data)
            if handled >= frame_budget or handled_bytes >= byte_budget:
                handled = handled_bytes = 0
                await asyncio.sleep(0)
    finally:
        deadlines.cancel()


def _too_big(message: Message, limit: int) -> bool:
    text: str | None = message.get("text")
    if text is not None:
        # A str holds at most 4 UTF-8 bytes per character: skip the encode
        # for every frame that is small enough either way.
        return len(text) * 4 > limit and len(text.encode()) > limit
    return len(message.get("bytes") or b"") > limit


async def _on_frame(
    message: Message,
    conn: Connection,
    settings: WebSocketSettings,
    limiter: RateLimiter,
    frames: TypeAdapter[Any],
    handle: Handler,
    deadlines: _Deadlines,
) -> None:
    if _too_big(message, settings.max_frame_bytes):
        _limit_hit(conn, "frame_size")
        conn.close(CloseCode.MESSAGE_TOO_BIG, "frame too large")
        return
    if not limiter.allow_frame():
        if limiter.abusive:
            _limit_hit(conn, "rate_abuse")
            conn.close(CloseCode.POLICY_VIOLATION, "rate limit exceeded")
        else:
            if limiter.strikes == 1:
                _limit_hit(conn, "rate")
            conn.send_error(ErrorCode.RATE_LIMITED, "too many frames")
        return
    text: str | None = message.get("text")
    if text is None:
        conn.send_error(
            ErrorCode.BINARY_NOT_SUPPORTED,
            "send JSON in text frames",
        )
        return
    refresh = conn.identity.refresh
    token = auth_token(text) if refresh is not None else None
    if refresh is not None and token is not None:
        await _refresh(conn, refresh, token, deadlines)
        return
    frame = parse_frame(frames, text)
    if isinstance(frame, ProtocolError):
        conn.send_error(frame.code, frame.message)
    elif isinstance(frame, Ping):
        conn.send_json({"type": "pong", "timestamp": utc_now()})
    elif isinstance(frame, Typing) and not limiter.allow_typing():
        return  # throttled: typing indicators are best effort
    else:
        try:
            await handle(conn, frame)
        except Exception:
            logger.exception(
                "ws.handler_error",
                connection_id=conn.id,
                user_id=conn.user_id,
            )
            conn.send_error(ErrorCode.INTERNAL_ERROR, "internal error")


async def _refresh(
    conn: Connection,
    refresh: Refresh,
    token: str,
    deadlines: _Deadlines,
) -> None:
    """A fresh token for the same user: move the connection's expiry."""
    identity = await refresh(token)
    if isinstance(identity, ProtocolError):
        conn.send_error(identity.code, identity.message)
        return
    conn.identity = identity
    deadlines.expire_at(identity.expires_at)
    conn.send_json({"type": "auth_ok", "expires_at": identity.expires_at})


def _limit_hit(conn: Connection, limit: str) -> None:
    logger.warning(
        "ws.limit_hit",
        limit=limit,
        connection_id=conn.id,
        user_id=conn.user_id,
    )
