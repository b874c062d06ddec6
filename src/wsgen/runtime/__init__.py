"""WebSocket runtime shared by the generated endpoints.

``auth`` is not re-exported here: it needs ``pyjwt``, which only
endpoints with authentication require.
"""

from .connection import Connection, Identity
from .manager import ConnectionManager
from .protocol import (
    ChatMessage,
    ClientFrame,
    ErrorCode,
    JoinRoom,
    LeaveRoom,
    Ping,
    ProtocolError,
    Typing,
)
from .session import admit_guest, serve
from .settings import WebSocketSettings

__all__ = ["Connection", "ConnectionManager", "Identity", "admit_guest"]
__all__ += ["ChatMessage", "ClientFrame", "ErrorCode", "JoinRoom", "LeaveRoom"]
__all__ += ["Ping", "ProtocolError", "Typing", "WebSocketSettings", "serve"]
