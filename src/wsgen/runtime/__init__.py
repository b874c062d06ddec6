"""WebSocket runtime shared by the generated endpoints.

``auth`` is not re-exported here: it needs ``pyjwt``, which only
endpoints with authentication require.
"""

from .backend import BroadcastBackend, MemoryBackend
from .connection import Connection, Identity
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
    "BroadcastBackend",
    "ChatMessage",
    "ClientFrame",
    "CloseCode",
    "Connection",
    "ConnectionManager",
    "ErrorCode",
    "Identity",
    "JoinRoom",
    "LeaveRoom",
    "MemoryBackend",
    "Ping",
    "ProtocolError",
    "Typing",
    "WebSocketSettings",
    "admit_guest",
    "serve",
]
