"""Admission and the read loop shared by every endpoint: limits first,
then one parse per frame; ``ping`` and ``auth`` refreshes are answered
here, other frames go to the endpoint, bad ones get an ``error`` frame."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

import structlog
from pydantic import TypeAdapter
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import protocol
from .connection import Connection, Identity
from .manager import ConnectionManager
from .protocol import CloseCode, ErrorCode, ProtocolError
from .settings import WebSocketSettings

__all__ = ["accept", "admit_guest", "refuse", "serve"]

logger = structlog.get_logger(__name__)

# Any, not a TypeVar: ruff would rewrite a TypeVar for 3.12+ (UP047).
Handler = Callable[[Connection, Any], Awaitable[None]]


async def accept(
    websocket: WebSocket,
    settings: WebSocketSettings,
    subprotocol: str | None = None,
) -> bool:
    """Accept the handshake, then refuse a disallowed ``Origin`` (4003):
    accepting first lets browsers read the code instead of a bare 1006."""
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
    websocket: WebSocket, settings: WebSocketSettings
) -> Identity | None:
    """Endpoints without auth: a random guest id, never authenticated."""
    if not await accept(websocket, settings):
        return None
    return Identity(user_id=f"guest-{uuid4().hex[:12]}")


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
        reason = "too many connections"
        await refuse(websocket, CloseCode.POLICY_VIOLATION, reason)
        return
    hello = {"type": "connected", "user_id": conn.user_id}
    conn.send_json({**hello, "connection_id": conn.id, "message": "connected"})
    # Read in this task: a task of its own would cost every idle connection.
    task = conn.reader = asyncio.current_task()
    code = 1000  # the client closed
    reader = _Reader(conn, manager.settings)
    try:
        code = await reader.read(websocket, frames, handle)
    except asyncio.CancelledError:
        # ``conn`` clears ``reader`` before it cancels the read once closed;
        # any other cancellation is the server stopping (hypercorn): send
        # 1012, as other servers do on shutdown, so that clients come back.
        uncancel = getattr(task, "uncancel", None)  # Python 3.11+ counts
        if conn.reader is task or (uncancel is not None and uncancel()):
            conn.reader, restart = None, "server shutting down"
            conn.close(CloseCode.SERVICE_RESTART, restart, drain=False)
            await conn.wait_closed()
            raise
    except WebSocketDisconnect as error:
        code = error.code
    except Exception:
        conn.reader = None
        logger.exception("ws.error", connection_id=conn.id)
        conn.close(CloseCode.INTERNAL_ERROR, "internal error")
        await conn.wait_closed()
    finally:
        reader.timer.cancel()
        conn.reader = None
        conn.abandon(code)  # the peer is gone or the close is done


class _Bucket:
    """``<kind>_burst`` tokens, refilled at ``<kind>_per_second``: every
    frame spends a ``messages`` token, typing frames a ``typing`` one too."""

    def __init__(self, settings: WebSocketSettings, kind: str) -> None:
        self.rate = getattr(settings, f"{kind}_per_second")
        burst = getattr(settings, f"{kind}_burst")
        self.burst = self.tokens = float(max(burst, 1))
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        refill = (now - self.stamp) * self.rate
        self.tokens, self.stamp = min(self.burst, self.tokens + refill), now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class _Reader:
    """One connection's reads, with its limits and one timer for the nearer
    of the idle and token-expiry deadlines (re-armed when it fires)."""

    def __init__(self, conn: Connection, settings: WebSocketSettings) -> None:
        self.conn, self.settings = conn, settings
        self.loop = asyncio.get_running_loop()
        self.last_frame = self.loop.time()
        self.expires = conn.identity.expires_at  # epoch seconds
        self.timer = self.loop.call_soon(self.arm)  # replaced by ``arm``

    async def read(
        self, websocket: WebSocket, frames: TypeAdapter[Any], handle: Handler
    ) -> int:
        """Read until the client disconnects; returns its close code."""
        conn, loop, settings = self.conn, self.loop, self.settings
        messages = _Bucket(settings, "messages")
        typing = _Bucket(settings, "typing")
        strikes = 0  # rate-limited frames in a row
        # ``receive`` does not yield while frames are buffered: yielding after
        # a quarter of a receiver's queue keeps a burst from filling queues.
        frame_budget = max(settings.send_queue_messages // 4, 1)
        byte_budget = max(settings.send_queue_bytes // 4, 1)
        handled = handled_bytes = 0
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return int(message.get("code") or 1005)
            text: str | None = message.get("text")
            data = (message.get("bytes") or b"") if text is None else text
            handled, handled_bytes = handled + 1, handled_bytes + len(data)
            if handled >= frame_budget or handled_bytes >= byte_budget:
                handled = handled_bytes = 0
                await asyncio.sleep(0)
            if conn.closing:
                continue  # closing from this side: frames are ignored
            self.last_frame = loop.time()
            limit, abuse = settings.max_frame_bytes, "rate limit exceeded"
            if text is not None and len(text) * 4 > limit:
                data = text.encode()  # at most 4 bytes per character
            if len(data) > limit:
                self.log_limit("frame_size")
                conn.close(CloseCode.MESSAGE_TOO_BIG, "frame too large")
                continue
            if not messages.take():
                strikes += 1
                if strikes >= settings.rate_strikes:
                    self.log_limit("rate_abuse")
                    conn.close(CloseCode.POLICY_VIOLATION, abuse)
                    continue
                if strikes == 1:
                    self.log_limit("rate")
                conn.send_error(ErrorCode.RATE_LIMITED, "too many frames")
                continue
            strikes = 0
            if text is None:
                error = "send JSON in text frames"
                conn.send_error(ErrorCode.BINARY_NOT_SUPPORTED, error)
                continue
            # Only an auth frame names "auth": others skip a second parse.
            renew = conn.identity.refresh
            renewed = await renew(text) if renew and '"auth"' in text else None
            if isinstance(renewed, ProtocolError):
                conn.send_error(renewed.code, renewed.message)
                continue
            if renewed is not None:  # the same user: the expiry moves
                conn.identity, self.expires = renewed, renewed.expires_at
                self.arm()
                conn.send_json({"type": "auth_ok", "expires_at": self.expires})
                continue
            frame = protocol.parse_frame(frames, text)
            if isinstance(frame, ProtocolError):
                conn.send_error(frame.code, frame.message)
            elif isinstance(frame, protocol.Ping):
                pong = {"type": "pong", "timestamp": protocol.utc_now()}
                conn.send_json(pong)
            elif not isinstance(frame, protocol.Typing) or typing.take():
                try:  # typing frames over their rate are dropped quietly
                    await handle(conn, frame)
                except Exception:
                    logger.exception("ws.handler_error", connection_id=conn.id)
                    conn.send_error(ErrorCode.INTERNAL_ERROR, "internal error")

    def arm(self) -> None:
        """(Re)arm the timer for the nearer deadline: idle or expiry."""
        self.timer.cancel()
        idle, now = self.settings.idle_timeout, self.loop.time()
        deadlines = [self.last_frame + idle] if idle > 0 else []
        if self.expires is not None:
            deadlines.append(now + self.expires - time.time())
        if deadlines:
            self.timer = self.loop.call_at(min(deadlines), self.on_timer)

    def on_timer(self) -> None:
        idle = self.settings.idle_timeout
        if self.expires is not None and time.time() >= self.expires:
            self.log_limit("token_expiry")
            self.conn.close(CloseCode.TOKEN_EXPIRED, "token expired")
        elif idle > 0 and self.loop.time() - self.last_frame >= idle:
            self.log_limit("idle_timeout")
            self.conn.close(CloseCode.GOING_AWAY, "idle timeout")
        else:
            self.arm()

    def log_limit(self, limit: str) -> None:
        ids = {"connection_id": self.conn.id, "user_id": self.conn.user_id}
        logger.warning("ws.limit_hit", limit=limit, **ids)
