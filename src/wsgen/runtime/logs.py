"""Keep tokens out of the server's own log lines.

uvicorn logs each handshake with its query string (``?token=...``) on
``uvicorn.error``, HTTP requests on ``uvicorn.access``; at ``debug`` also
the handshake's headers (``bearer, <token>``) and every frame (an ``auth``
frame's token), at ``trace`` each ASGI scope. ``install_log_redaction``
adds a filter to the servers' loggers that hides every token value
(``token=``, ``bearer``, ``"token": "``, anything shaped like a JWT) before
any handler sees the record; ``auth`` installs it when it is imported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Final

__all__ = ["RedactTokens", "install_log_redaction", "redact"]

SERVER_LOGGERS: Final = (
    "uvicorn.access",
    "uvicorn.error",  # also the websockets library's debug lines
    "uvicorn.asgi",  # --log-level trace: each ASGI scope and message
    "gunicorn.access",
    "hypercorn.access",
    "hypercorn.error",
    "granian.access",
)
# A value ends at a separator of where it is written: a URL, a header
# list, a JSON string, a repr.
_VALUE: Final = r"[^&#\s\"',;)\]}]+"
_TOKEN: Final = re.compile(
    r"((?<![\w-])token=)" + _VALUE  # ?token=, and b'token=' in a scope
    + r"|((?i:bearer)(?:,\s*|\s+))" + _VALUE  # subprotocol, Authorization
    + r"|(\"token\"\s*:\s*\")[^\"\n]*"  # an auth frame, whole or cut short
    + r"|()eyJ[\w-]{6,}(?:\.[\w-]*){0,2}"  # a JWT anywhere else
)  # fmt: skip


def redact(text: str) -> str:
    """``text`` with every token value in it replaced by ``[redacted]``."""
    if not any(marker in text for marker in ("token", "earer", "eyJ")):
        return text  # the common case, cheaply
    # Each alternative captures the prefix it keeps (a JWT: none).
    return _TOKEN.sub(lambda m: m[m.lastindex or 0] + "[redacted]", text)


def _clean(value: object) -> object:
    if value is None or isinstance(value, (str, int, float)):
        return redact(value) if isinstance(value, str) else value
    # A scope, headers, bytes: logged through str(); hide what it shows.
    text = str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


class RedactTokens(logging.Filter):
    """Rewrites a record's message and arguments; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        return True


def install_log_redaction() -> None:
    """Add the filter to each server logger once (idempotent)."""
    for name in SERVER_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in target.filters):
            target.addFilter(RedactTokens())
