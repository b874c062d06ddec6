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

With uvicorn's default WebSocket library (websockets, ``websockets-sansio``
on uvicorn 0.52.1 and later) the protocol also lets the runtime write
frames itself: a room message is framed once and the same bytes are
written to every receiver's transport, where the ASGI ``send`` would frame
(and compress) it again for each of them and take a task switch per
receiver. It does so only on an open connection whose transport buffers
less than ``_WRITE_BUFFER_LIMIT`` bytes (checked on the transport itself),
and, where permessage-deflate was negotiated, only for frames under
``_UNCOMPRESSED_BELOW`` bytes: RFC 7692 lets a sender leave any message
uncompressed (RSV1 unset), and such a message never enters the compressor
on either side, so the connection's compression context is unaffected.
Everything else goes through the ordinary ASGI ``send``.

Other uvicorn releases and WebSocket implementations (wsproto, the legacy
websockets one) get ``TCP_USER_TIMEOUT`` only. One line on the
``uvicorn.error`` logger says at start-up which it is, and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any, Final, cast

import uvicorn
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

from .connection import FRAMES_EXTENSION

__all__ = ["WebSocketProtocol", "direct_frames_refusal", "tcp_user_timeout"]

logger = logging.getLogger("uvicorn.error")

# The releases whose websockets-sansio protocol this module knows: 0.52.1
# added write flow control (pause_writing) to it, and its attributes are
# the ones ``write_frame`` reads.
_OLDEST: Final = (0, 52, 1)
# A transport holding more than this is not written to directly: the frame
# queues, and the ASGI send waits for the buffer to drain (uvicorn's
# flow control), so a reader that stops reading fills its queue and is
# closed 1013 instead of growing the server's memory.
_WRITE_BUFFER_LIMIT: Final = 64 * 1024
# With permessage-deflate, frames this small are written uncompressed.
_UNCOMPRESSED_BELOW: Final = 1024


def _release(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for part in version.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


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


def direct_frames_refusal(version: str, protocol: object) -> str | None:
    """Why frames cannot be written directly here; None when they can."""
    if _release(version) < _OLDEST:
        oldest = ".".join(map(str, _OLDEST))
        return f"uvicorn {version} is older than {oldest}"
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
    except ImportError:
        return f"uvicorn {version} has no websockets-sansio protocol"
    known = WebSocketsSansIOProtocol
    if not (isinstance(protocol, type) and issubclass(protocol, known)):
        name = getattr(protocol, "__name__", repr(protocol))
        return f"--ws auto picks {name}, not websockets-sansio"
    return None


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
    refusal = direct_frames_refusal(uvicorn.__version__, base)
    if refusal is None:
        methods.update(_direct_frames(base))
        logger.info(
            "wsgen accelerator: active (uvicorn %s, websockets-sansio): "
            "frames built once per fan-out, TCP_USER_TIMEOUT %ss",
            uvicorn.__version__,
            f"{seconds:g}",
        )
    else:
        logger.info(
            "wsgen accelerator: direct frame writes off (%s); "
            "TCP_USER_TIMEOUT %ss only",
            refusal,
            f"{seconds:g}",
        )
    return type("WebSocketProtocol", (base,), methods)


def _direct_frames(base: type[asyncio.Protocol]) -> dict[str, Any]:
    """``write_frame`` for websockets' sans-I/O protocol, offered in the
    scope."""
    from websockets.extensions.permessage_deflate import PerMessageDeflate
    from websockets.protocol import State

    open_state = State.OPEN
    parent_connect = getattr(base, "handle_connect")  # noqa: B009

    def write_frame(self: Any, frame: bytes) -> bool:
        """Write a complete server frame; False: send it through ASGI."""
        try:
            transport = self.transport
            if (
                self.close_sent
                or not self.handshake_complete
                or self.conn.state is not open_state
                or transport.is_closing()
                or transport.get_write_buffer_size() > _WRITE_BUFFER_LIMIT
            ):
                return False
            extensions = self.conn.extensions
        except AttributeError:  # a uvicorn whose protocol looks otherwise
            return False
        if extensions and (
            len(frame) >= _UNCOMPRESSED_BELOW
            or not all(isinstance(e, PerMessageDeflate) for e in extensions)
        ):
            return False  # compressed, frame by frame, by the ASGI send
        transport.write(frame)
        return True

    def handle_connect(self: Any, event: Any) -> None:
        parent_connect(self, event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            scope["extensions"][FRAMES_EXTENSION] = self.write_frame

    return {"write_frame": write_frame, "handle_connect": handle_connect}


# A subclass of whichever protocol ``--ws auto`` picks in this environment.
WebSocketProtocol = _protocol_class()
