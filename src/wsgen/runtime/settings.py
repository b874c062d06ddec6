"""Limits of the WebSocket runtime, read once from environment variables.

One place answers "what can a client do" (defaults: the fields below).
- ``WS_MAX_FRAME_BYTES``: largest incoming frame; bigger closes with 1009.
- ``WS_SEND_QUEUE_MESSAGES`` / ``_BYTES``: one connection's outbound queue;
  a client that falls this far behind is closed with 1013, never slowing
  anybody else. Bytes bound memory; frames must exceed a room's bursts.
- ``WS_RATE_MESSAGES_PER_SECOND`` / ``_BURST``: token bucket charged by
  every incoming frame; empty, it answers ``error`` ``rate_limited``.
- ``WS_RATE_TYPING_PER_SECOND`` / ``_BURST``: bucket for ``typing``
  frames; extra ones are dropped quietly (sent on every keystroke).
- ``WS_RATE_STRIKES``: rate-limited frames in a row before closing (1008).
- ``WS_MAX_ROOMS_PER_CONNECTION``, ``WS_MAX_CONNECTIONS_PER_USER``; all
  limits count per worker process, on the Redis backend too.
- ``WS_IDLE_TIMEOUT``: seconds without a frame before closing (1001); 0
  disables. Clients keep a connection alive with ``{"type": "ping"}``.
- ``WS_CLOSE_TIMEOUT``: seconds to flush queued frames and the close frame.
- ``WS_HISTORY_SIZE`` / ``_SECONDS``: with ``--recover``, the room messages
  kept for clients that rejoin, and for how long.
- ``WS_GC_FREEZE`` (off; 1/true/yes/on): ``gc.freeze`` what exists at
  first start-up, so full collections (100-250 ms pauses measured in a
  FastAPI process) scan only newer objects. Process-wide, hence opt-in.
- ``WS_ALLOWED_ORIGINS``: comma-separated ``Origin`` allowlist, else 4003.
- ``WS_AUTH_TRANSPORTS``: where tokens are read, in order: ``subprotocol``
  (``Sec-WebSocket-Protocol: bearer, <token>``), ``query`` (``?token=``;
  proxies may log URLs), ``cookie`` (needs ``WS_ALLOWED_ORIGINS``),
  ``message`` (a first frame ``{"type": "auth", "token": ...}``).
- ``WS_AUTH_COOKIE``: the ``cookie`` transport's HTTP-only cookie;
  ``WS_AUTH_TIMEOUT``: seconds the ``message`` transport waits (4001).

``auth.py`` reads ``WS_JWT_*`` at connect time (a rotated secret applies to
the next connection), ``redis_backend.py`` ``WS_REDIS_*`` at start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["WebSocketSettings"]

_TOKENS_IN = ("subprotocol", "query")  # WS_AUTH_TRANSPORTS' default


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


def _read(name: str, default: Any) -> Any:
    raw = os.environ.get(name, "").strip()
    if isinstance(default, tuple):  # comma-separated words
        raw = os.environ.get(name, ",".join(default))
        return tuple(word.strip() for word in raw.split(",") if word.strip())
    if isinstance(default, bool) and raw:
        word = raw.lower()
        if word not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ValueError(f"{name} must be on or off, got {word!r}")
        return word in ("1", "true", "yes", "on")
    if isinstance(default, (bool, str)):
        return raw or default
    value = _number(name, default)
    if isinstance(default, int) and value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return type(default)(value)


def _env(name: str, default: Any) -> Any:
    return field(default=default, metadata={"env": name})


@dataclass(frozen=True)
class WebSocketSettings:
    """Limits of one endpoint; use ``dataclasses.replace`` to adjust."""

    max_frame_bytes: int = _env("WS_MAX_FRAME_BYTES", 64 * 1024)
    send_queue_messages: int = _env("WS_SEND_QUEUE_MESSAGES", 1024)
    send_queue_bytes: int = _env("WS_SEND_QUEUE_BYTES", 1024 * 1024)
    messages_per_second: float = _env("WS_RATE_MESSAGES_PER_SECOND", 20.0)
    messages_burst: int = _env("WS_RATE_MESSAGES_BURST", 40)
    typing_per_second: float = _env("WS_RATE_TYPING_PER_SECOND", 2.0)
    typing_burst: int = _env("WS_RATE_TYPING_BURST", 3)
    rate_strikes: int = _env("WS_RATE_STRIKES", 10)
    max_rooms_per_connection: int = _env("WS_MAX_ROOMS_PER_CONNECTION", 50)
    max_connections_per_user: int = _env("WS_MAX_CONNECTIONS_PER_USER", 10)
    idle_timeout: float = _env("WS_IDLE_TIMEOUT", 60.0)
    close_timeout: float = _env("WS_CLOSE_TIMEOUT", 5.0)
    history_size: int = _env("WS_HISTORY_SIZE", 100)
    history_seconds: float = _env("WS_HISTORY_SECONDS", 120.0)
    gc_freeze: bool = _env("WS_GC_FREEZE", False)
    allowed_origins: tuple[str, ...] = _env("WS_ALLOWED_ORIGINS", ())
    auth_transports: tuple[str, ...] = _env("WS_AUTH_TRANSPORTS", _TOKENS_IN)
    auth_cookie: str = _env("WS_AUTH_COOKIE", "access_token")
    auth_timeout: float = _env("WS_AUTH_TIMEOUT", 5.0)

    @classmethod
    def from_env(cls) -> WebSocketSettings:
        """Build the settings from the ``WS_*`` environment variables."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            values[item.name] = _read(item.metadata["env"], item.default)
        return cls(**values)
