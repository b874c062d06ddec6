"""WebSocket runtime shared by the generated endpoints.

``auth`` is not re-exported here: it needs ``pyjwt``, which only
endpoints with authentication require.
"""

from .connection import Connection, Identity
from .logs import install_log_redaction
from .manager import ConnectionManager
from .protocol import (
    ChatMessage,
    ClientFrame,
    CloseCode,
    ErrorCode,
    JoinRoom,
    LeaveRoom,
    Ping,
    ProtocolError,
    Typing,
)
from .session import admit_guest, serve
from .settings import WebSocketSettings

__all__ = [
    "ChatMessage",
    "ClientFrame",
    "CloseCode",
    "Connection",
    "ConnectionManager",
    "ErrorCode",
    "Identity",
    "JoinRoom",
    "LeaveRoom",
    "Ping",
    "ProtocolError",
    "Typing",
    "WebSocketSettings",
    "admit_guest",
    "install_log_redaction",
    "serve",
]
