"""Keep tokens out of the server's own log lines.

Clients that cannot set ``Sec-WebSocket-Protocol`` pass ``?token=``, and
uvicorn logs each handshake with its query string
(``"WebSocket /ws/chat?token=..." [accepted]``) on ``uvicorn.error``, and
HTTP requests on ``uvicorn.access``. At ``--log-level debug`` it also logs
the handshake's headers (``sec-websocket-protocol: bearer, <token>``) and
every frame (an ``auth`` frame's token), at ``trace`` each ASGI scope.

``install_log_redaction`` adds a filter to the servers' loggers that hides
every token value (``token=``, ``bearer, ``, ``"token": "``, and anything
shaped like a JWT) before any handler sees the record. It runs when this
module is imported, that is when the app imports its endpoint, so it holds
at every log level and without a lifespan (``--lifespan off``); calling it
again is harmless. The runtime's own structlog events never carry tokens,
query strings or headers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = ["SERVER_LOGGERS", "RedactTokens", "install_log_redaction", "redact"]

SERVER_LOGGERS: Final = (
    "uvicorn.access",
    "uvicorn.error",  # also the websockets library's debug lines
    "uvicorn.asgi",  # --log-level trace: each ASGI scope and message
    "gunicorn.access",
    "hypercorn.access",
    "hypercorn.error",
    "granian.access",
)
REDACTED: Final = "[redacted]"
# A value ends at a separator of the place it is written in: a URL, a
# header list, a JSON string, a repr.
_VALUE: Final = r"[^&#\s\"',;)\]}]+"
_TOKEN: Final = re.compile(
    # ?token=, &token=, and b'token=' in a logged scope's query string
    r"((?<![\w-])token=)"
    + _VALUE
    # Sec-WebSocket-Protocol: bearer, <token>; Authorization: Bearer <token>
    + r"|((?i:bearer)(?:,\s*|\s+))"
    + _VALUE
    # an auth frame, {"type": "auth", "token": "..."}, whole or cut short
    + r"|(\"token\"\s*:\s*\")[^\"\n]*"
    # a JWT anywhere else (a cookie, a custom header)
    + r"|()eyJ[\w-]{6,}(?:\.[\w-]*){0,2}"
)
_MARKERS: Final = ("token", "earer", "eyJ")


def redact(text: str) -> str:
    """``text`` with every token value in it replaced by ``[redacted]``."""
    if not any(marker in text for marker in _MARKERS):
        return text
    return _TOKEN.sub(_hide, text)


def _hide(match: re.Match[str]) -> str:
    prefix = next((group for group in match.groups() if group is not None), "")
    return prefix + REDACTED


def _clean(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (int, float)):
        return value
    # A scope, headers, bytes: logged through str(); hide what it shows.
    text = str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


class RedactTokens(logging.Filter):
    """Rewrites a record's message and arguments; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_clean(arg) for arg in args)
        elif isinstance(args, Mapping):
            record.args = {key: _clean(value) for key, value in args.items()}
        return True


def install_log_redaction(names: Iterable[str] = SERVER_LOGGERS) -> None:
    """Add the filter to each named logger once (idempotent)."""
    for name in names:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in target.filters):
            target.addFilter(RedactTokens())


# At import: before the server logs its first handshake, whatever the log
# level, and whether or not the app's lifespan ever runs.
install_log_redaction()
