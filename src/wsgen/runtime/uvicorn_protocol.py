"""uvicorn's WebSocket protocol, with a bound on peers that stop reading.

When a client stops reading its socket, the runtime drops it at once (its
queue is freed, its rooms are told), but the close frame can never be
written, and an ASGI application has no way to abort a TCP connection:
the server keeps the socket, and the kernel its send buffer, for as long as
the client's TCP stack answers zero-window probes, which is forever.

Linux's ``TCP_USER_TIMEOUT`` bounds how long sent data may stay
unacknowledged, zero-window probing included; past it the kernel aborts
the connection and the handler sees a disconnect. This protocol is
uvicorn's own (``--ws auto``) with that option set on every accepted
WebSocket. Run uvicorn with it::

    uvicorn main:app --ws <this package>.uvicorn_protocol:WebSocketProtocol

``WS_TCP_USER_TIMEOUT`` [10]
    Seconds sent data may stay unacknowledged before the kernel drops the
    connection; 0 leaves the socket alone. Keep it above the longest
    stall a healthy client may have (a train tunnel, a sleeping laptop is
    not one: its TCP stack is gone too).

Elsewhere than Linux the option does not exist and sockets are left alone.

With uvicorn's default WebSocket library (websockets) the protocol also
lets the runtime write frames itself: a room message is framed once and
the same bytes are written to every receiver's transport, where the ASGI
``send`` would frame it again for each of them and take a task switch per
receiver. It does so only on an open connection without compression and
with room in the transport's buffer; otherwise the runtime's frame goes
through the ordinary ASGI ``send``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any, cast

from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

from .connection import FRAMES_EXTENSION

__all__ = ["WebSocketProtocol", "tcp_user_timeout"]


def tcp_user_timeout() -> float:
    """``WS_TCP_USER_TIMEOUT`` in seconds (0: off)."""
    raw = os.environ.get("WS_TCP_USER_TIMEOUT", "").strip()
    try:
        seconds = float(raw) if raw else 10.0
    except ValueError:
        raise ValueError(
            f"WS_TCP_USER_TIMEOUT must be a number of seconds, got {raw!r}"
        ) from None
    if seconds < 0:
        raise ValueError("WS_TCP_USER_TIMEOUT must not be negative")
    return seconds


def _bound_unacknowledged(
    transport: asyncio.BaseTransport,
    seconds: float,
) -> None:
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    sock = transport.get_extra_info("socket")
    if option is None or sock is None or seconds <= 0:
        return
    # Not TCP (a Unix socket): nothing to bound.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, option, int(seconds * 1000))


def _protocol_class() -> type[asyncio.Protocol]:
    if AutoWebSocketsProtocol is None:
        raise ImportError(
            "uvicorn has no WebSocket library: pip install 'uvicorn[standard]'"
        )
    # A class: the WebSocket protocol ``--ws auto`` picks.
    base = cast("type[asyncio.Protocol]", AutoWebSocketsProtocol)
    seconds = tcp_user_timeout()

    def connection_made(self: Any, transport: asyncio.BaseTransport) -> None:
        _bound_unacknowledged(transport, seconds)
        base.connection_made(self, transport)

    methods: dict[str, Any] = {"connection_made": connection_made}
    methods.update(_direct_frames(base))
    return type("WebSocketProtocol", (base,), methods)


def _direct_frames(base: type[asyncio.Protocol]) -> dict[str, Any]:
    """``write_frame`` for websockets' protocol, offered in the scope."""
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
        from websockets.protocol import State
    except ImportError:  # an older uvicorn, or wsproto: ASGI sends only
        return {}
    if not issubclass(base, WebSocketsSansIOProtocol):
        return {}
    open_state = State.OPEN
    parent_connect = base.handle_connect

    def write_frame(self: Any, frame: bytes) -> bool:
        """Write a complete server frame; False: send it through ASGI."""
        try:
            if (
                self.close_sent
                or not self.handshake_complete
                or not self.writable.is_set()  # paused: the buffer is full
                or self.conn.extensions  # compressed, frame by frame
                or self.conn.state is not open_state
                or self.transport.is_closing()
            ):
                return False
        except AttributeError:  # a uvicorn whose protocol looks otherwise
            return False
        self.transport.write(frame)
        return True

    def handle_connect(self: Any, event: Any) -> None:
        parent_connect(self, event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            scope["extensions"][FRAMES_EXTENSION] = self.write_frame

    return {"write_frame": write_frame, "handle_connect": handle_connect}


# A subclass of whichever protocol ``--ws auto`` picks in this environment.
WebSocketProtocol = _protocol_class()
