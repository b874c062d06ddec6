"""Keep tokens out of the server's own log lines.

Clients that cannot set ``Sec-WebSocket-Protocol`` pass ``?token=``, and
uvicorn logs each handshake with its query string
(``"WebSocket /ws/chat?token=..." [accepted]``) on ``uvicorn.error``, and
HTTP requests on ``uvicorn.access``. ``install_log_redaction`` adds a
filter to those loggers that replaces every ``token=`` value with
``[redacted]`` before any handler sees the record. The runtime's own
structlog events never carry tokens, query strings or headers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = ["SERVER_LOGGERS", "RedactTokens", "install_log_redaction", "redact"]

SERVER_LOGGERS: Final = ("uvicorn.access", "uvicorn.error")
REDACTED: Final = "[redacted]"
_TOKEN: Final = re.compile(r"([?&]token=)[^&#\s\"']*")


def redact(text: str) -> str:
    """``text`` with the value of every ``token=`` query parameter hidden."""
    if "token=" not in text:
        return text
    return _TOKEN.sub(lambda match: match.group(1) + REDACTED, text)


def _clean(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


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
