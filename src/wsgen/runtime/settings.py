"""Limits of the WebSocket runtime, read once from environment variables.

Every limit lives here so that one place answers "what can a client do".

Environment variables (defaults in brackets):

``WS_MAX_FRAME_BYTES`` [65536]
    Largest incoming frame; a bigger one closes the connection with 1009.
``WS_SEND_QUEUE_MESSAGES`` [1024], ``WS_SEND_QUEUE_BYTES`` [1048576]
    Outbound queue of one connection. A client that falls this far behind
    is closed with 1013 so that it never slows anybody else down. The byte
    limit is the memory bound; the frame count only has to exceed the
    bursts a room sees, so that readers that keep up are never closed.
``WS_RATE_MESSAGES_PER_SECOND`` [20], ``WS_RATE_MESSAGES_BURST`` [40]
    Token bucket charged by every incoming frame; an empty bucket answers
    ``error`` with code ``rate_limited``.
``WS_RATE_TYPING_PER_SECOND`` [2], ``WS_RATE_TYPING_BURST`` [3]
    Separate bucket for ``typing`` frames; extra ones are dropped quietly,
    because clients send them on every keystroke.
``WS_RATE_STRIKES`` [10]
    Consecutive rate-limited frames before the connection is closed (1008).
``WS_MAX_ROOMS_PER_CONNECTION`` [50], ``WS_MAX_CONNECTIONS_PER_USER`` [10]
    Every limit here counts per worker process, on the Redis backend too:
    with 4 workers a user may hold up to 4 x 10 connections (checking
    Redis would delay every connect, and a lost Redis would refuse users).
``WS_IDLE_TIMEOUT`` [60]
    Seconds without any incoming frame before closing (1001); 0 disables.
    Clients keep a connection alive with ``{"type": "ping"}``.
``WS_CLOSE_TIMEOUT`` [5]
    Seconds granted to flush queued frames and the close frame.
``WS_HISTORY_SIZE`` [100], ``WS_HISTORY_SECONDS`` [120]
    With ``--recover``: room messages kept for clients that rejoin.
``WS_GC_FREEZE`` [off]
    Opt-in, and process-wide: ``1``, ``true``, ``yes`` or ``on`` move every
    object that exists at the first start-up (the app, its libraries) out
    of the garbage collector's reach with ``gc.freeze``. Full collections
    then scan only what was allocated since; measured in a FastAPI process,
    they otherwise paused every socket for 100-250 ms, which set the p99 of
    room fan-out. It affects the whole host process, so it stays off unless
    asked for.
``WS_ALLOWED_ORIGINS`` [empty: any]
    Comma-separated ``Origin`` allowlist; other origins are closed with 4003.
``WS_AUTH_TRANSPORTS`` [subprotocol,query]
    Where tokens are accepted from, tried in this order: ``subprotocol``
    (``Sec-WebSocket-Protocol: bearer, <token>``), ``query``
    (``?token=``: redacted in uvicorn's logs, but proxies may log URLs too;
    prefer the subprotocol), ``cookie`` (needs ``WS_ALLOWED_ORIGINS``:
    without it cookie tokens are refused) and ``message`` (a first frame
    ``{"type": "auth", "token": ...}``).
``WS_AUTH_COOKIE`` [access_token]
    Name of the HTTP-only cookie read by the ``cookie`` transport.
``WS_AUTH_TIMEOUT`` [5]
    Seconds the ``message`` transport waits for the ``auth`` frame (4001).

JWT settings are read at connect time by ``auth.py`` (so a secret rotated
in the environment applies to the next connection): ``WS_JWT_SECRET``
(at least 32 bytes), ``WS_JWT_ALGORITHMS`` [HS256], ``WS_JWT_AUDIENCE``,
``WS_JWT_ISSUER``, ``WS_JWT_LEEWAY`` [10 seconds], and for RS/ES/PS
algorithms ``WS_JWT_PUBLIC_KEY`` (PEM) or ``WS_JWT_JWKS_URL``.

Endpoints on the Redis backend (``--backend redis``) read ``WS_REDIS_URL``
and the other ``WS_REDIS_*`` settings in ``redis_backend.py``, when the app
starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["WebSocketSettings"]


def _number(name: str, default: float, *, positive: bool = False) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


def _integer(name: str, default: int) -> int:
    value = _number(name, default)
    if value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def _switch(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be on or off, got {value!r}")


def _words(name: str, default: str) -> tuple[str, ...]:
    raw = os.environ.get(name, default)
    return tuple(word.strip() for word in raw.split(",") if word.strip())


@dataclass(frozen=True)
class WebSocketSettings:
    """Limits of one endpoint; use ``dataclasses.replace`` to adjust."""

    max_frame_bytes: int = 64 * 1024
    send_queue_messages: int = 1024
    send_queue_bytes: int = 1024 * 1024
    messages_per_second: float = 20.0
    messages_burst: int = 40
    typing_per_second: float = 2.0
    typing_burst: int = 3
    rate_strikes: int = 10
    max_rooms_per_connection: int = 50
    max_connections_per_user: int = 10
    idle_timeout: float = 60.0
    close_timeout: float = 5.0
    gc_freeze: bool = False  # process-wide: opt-in (WS_GC_FREEZE)
    allowed_origins: tuple[str, ...] = ()
    auth_transports: tuple[str, ...] = field(default=("subprotocol", "query"))
    auth_cookie: str = "access_token"
    auth_timeout: float = 5.0
    history_size: int = 100  # --recover: messages kept per room
    history_seconds: float = 120.0  # --recover: and for how long

    @classmethod
    def from_env(cls) -> WebSocketSettings:
        """Build the settings from the ``WS_*`` environment variables."""
        default = cls()
        return cls(
            max_frame_bytes=_integer(
                "WS_MAX_FRAME_BYTES",
                default.max_frame_bytes,
            ),
            send_queue_messages=_integer(
                "WS_SEND_QUEUE_MESSAGES",
                default.send_queue_messages,
            ),
            send_queue_bytes=_integer(
                "WS_SEND_QUEUE_BYTES",
                default.send_queue_bytes,
            ),
            messages_per_second=_number(
                "WS_RATE_MESSAGES_PER_SECOND",
                default.messages_per_second,
            ),
            messages_burst=_integer(
                "WS_RATE_MESSAGES_BURST",
                default.messages_burst,
            ),
            typing_per_second=_number(
                "WS_RATE_TYPING_PER_SECOND",
                default.typing_per_second,
            ),
            typing_burst=_integer(
                "WS_RATE_TYPING_BURST",
                default.typing_burst,
            ),
            rate_strikes=_integer("WS_RATE_STRIKES", default.rate_strikes),
            max_rooms_per_connection=_integer(
                "WS_MAX_ROOMS_PER_CONNECTION",
                default.max_rooms_per_connection,
            ),
            max_connections_per_user=_integer(
                "WS_MAX_CONNECTIONS_PER_USER",
                default.max_connections_per_user,
            ),
            idle_timeout=_number("WS_IDLE_TIMEOUT", default.idle_timeout),
            close_timeout=_number("WS_CLOSE_TIMEOUT", default.close_timeout),
            gc_freeze=_switch("WS_GC_FREEZE", default.gc_freeze),
            allowed_origins=_words("WS_ALLOWED_ORIGINS", ""),
            auth_transports=_words(
                "WS_AUTH_TRANSPORTS",
                ",".join(default.auth_transports),
            ),
            auth_cookie=os.environ.get("WS_AUTH_COOKIE", "").strip()
            or default.auth_cookie,
            auth_timeout=_number("WS_AUTH_TIMEOUT", default.auth_timeout),
            history_size=_integer("WS_HISTORY_SIZE", 100),
            history_seconds=_number("WS_HISTORY_SECONDS", 120.0),
        )
