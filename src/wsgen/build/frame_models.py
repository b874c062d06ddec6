"""The frames' JSON Schemas, stored in `frame_schemas.json` for generation.

wsgen does not depend on pydantic, so it cannot ask the runtime's models
for their schemas while it generates. This module (run where pydantic is
installed) writes them once; a unit test fails when the stored file no
longer matches the runtime's models:

    python -m wsgen.build.frame_models > src/wsgen/build/frame_schemas.json

Client frames are the runtime's own models (`wsgen.runtime.protocol`), the
ones the endpoints parse with; server frames are described by the models
below, which list exactly the fields the runtime sends.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from wsgen.runtime.history import JoinRoomSince
from wsgen.runtime.protocol import (
    ChatMessage,
    ClientFrame,
    CloseCode,
    ErrorCode,
    JoinRoom,
    LeaveRoom,
    Ping,
    RoomId,
    Typing,
)
from wsgen.runtime.settings import WebSocketSettings

SCHEMAS: Final = "#/components/schemas/{model}"
_KNOWN_CODES: Final = [
    value for name, value in vars(ErrorCode).items() if name.isupper()
]


class AuthFrame(ClientFrame):
    """A token: the first frame (``message`` transport) or a refresh."""

    type: Literal["auth"]
    token: str = Field(min_length=1, description="A JWT.")


class ServerFrame(BaseModel):
    """Base of every frame the runtime sends."""

    model_config = ConfigDict(frozen=True)


class ConnectedFrame(ServerFrame):
    """First frame of every connection."""

    type: Literal["connected"]
    user_id: str
    connection_id: str
    message: str


class PongFrame(ServerFrame):
    """Answer to ``ping``."""

    type: Literal["pong"]
    timestamp: datetime


class ErrorFrame(ServerFrame):
    """A frame was refused; the connection stays open."""

    type: Literal["error"]
    code: str = Field(
        description=f"Machine-readable code, e.g. {', '.join(_KNOWN_CODES)}",
    )
    message: str


class MessageFrame(ServerFrame):
    """A chat message, to its room or (without ``room_id``) to everybody."""

    type: Literal["message"]
    id: str
    seq: int = Field(description="Increases by one per room.")
    room_id: RoomId | None
    user_id: str
    content: str
    timestamp: datetime


class RoomJoinedFrame(ServerFrame):
    """Answer to ``join_room``: the users already in the room."""

    type: Literal["room_joined"]
    room_id: RoomId
    users: list[str]


class RecoverMessageFrame(MessageFrame):
    """A chat message, to its room or (without ``room_id``) to everybody."""

    seq: int = Field(
        description="One more than the room's previous message, the same on"
        " every worker (to everybody: increases by one per process).",
    )
    epoch: str | None = Field(
        default=None,
        description="The lifetime of the room's history: another one means"
        " messages may have been lost. Absent on messages to everybody.",
    )


class RecoverRoomJoinedFrame(RoomJoinedFrame):
    """Answer to ``join_room``: the users in the room, where its history
    stands and, after ``since``, whether what was missed follows."""

    seq: int = Field(description="The room's last message (0: none yet).")
    epoch: str = Field(description="The lifetime of the room's history.")
    recovered: bool | None = Field(
        default=None,
        description="Only after ``since``: true when every message after"
        " since.seq follows, in order, before live ones; false: reload the"
        " room from your own source of truth.",
    )


class RoomLeftFrame(ServerFrame):
    """Answer to ``leave_room``."""

    type: Literal["room_left"]
    room_id: RoomId


class UserJoinedFrame(ServerFrame):
    """Presence: a user's first connection joined the room."""

    type: Literal["user_joined"]
    user_id: str
    room_id: RoomId
    timestamp: datetime


class UserLeftFrame(ServerFrame):
    """Presence: a user's last connection left the room."""

    type: Literal["user_left"]
    user_id: str
    room_id: RoomId
    timestamp: datetime


class TypingFrame(ServerFrame):
    """Another member of the room is typing (never echoed to the sender)."""

    type: Literal["typing"]
    user_id: str
    room_id: RoomId


class AuthOkFrame(ServerFrame):
    """Answer to a refresh: the connection now lasts until ``expires_at``."""

    type: Literal["auth_ok"]
    expires_at: float | None = Field(
        description="The new token's ``exp`` (seconds since the epoch).",
    )


_CLIENT_SUMMARIES: Final = {
    "join_room": "Join a room; answered with room_joined.",
    "leave_room": "Leave a room; answered with room_left.",
    "message": "Post a chat message to a room (or to everybody).",
    "ping": "Keep the connection alive; answered with pong.",
    "typing": "Tell the other members of a room that the user types.",
    "auth": "A JWT: the first frame (message transport) or a refresh.",
}

# Close code: (meaning, what the client should do).
_CLOSE_CODES: Final = {
    1000: ("normal closure", "reconnect if needed"),
    CloseCode.GOING_AWAY: ("idle timeout", "reconnect within a second"),
    CloseCode.SERVICE_RESTART: (
        "server shutting down or restarting",
        "reconnect within a second, with jitter",
    ),
    CloseCode.POLICY_VIOLATION: (
        "rate abuse or too many connections",
        "reconnect later, slower",
    ),
    CloseCode.MESSAGE_TOO_BIG: (
        "frame above the size limit",
        "do not resend that frame",
    ),
    CloseCode.INTERNAL_ERROR: ("server error", "reconnect with backoff"),
    CloseCode.TRY_AGAIN_LATER: (
        "client read too slowly",
        "reconnect later with backoff",
    ),
    CloseCode.UNAUTHENTICATED: (
        "missing or invalid token",
        "do not retry with the same token",
    ),
    CloseCode.FORBIDDEN: ("origin or user refused", "do not retry"),
    CloseCode.TOKEN_EXPIRED: (
        "token expired",
        "get a fresh token, then reconnect",
    ),
}


CLIENT_MODELS: Final = (JoinRoom, LeaveRoom, ChatMessage, Ping, Typing, AuthFrame)
SERVER_MODELS: Final = (
    ConnectedFrame,
    PongFrame,
    ErrorFrame,
    AuthOkFrame,
    MessageFrame,
    RoomJoinedFrame,
    RoomLeftFrame,
    UserJoinedFrame,
    UserLeftFrame,
    TypingFrame,
)


# With --recover these replace the frames of the same (base) name.
RECOVER_MODELS: Final = {
    "JoinRoom": (JoinRoomSince, "validation"),
    "MessageFrame": (RecoverMessageFrame, "serialization"),
    "RoomJoinedFrame": (RecoverRoomJoinedFrame, "serialization"),
}


def _frame_type(schema: dict[str, Any]) -> str:
    prop = schema["properties"]["type"]
    return str(prop["const"] if "const" in prop else prop["enum"][0])


def stored() -> dict[str, Any]:
    """What `frame_schemas.json` holds: schemas, frame types, defaults."""
    inputs: list[tuple[str, Any, TypeAdapter[Any]]] = [
        (model.__name__, "validation", TypeAdapter(model)) for model in CLIENT_MODELS
    ]
    inputs += [
        (model.__name__, "serialization", TypeAdapter(model)) for model in SERVER_MODELS
    ]
    inputs += [
        (model.__name__, mode, TypeAdapter(model))
        for model, mode in RECOVER_MODELS.values()
    ]
    _, definitions = TypeAdapter.json_schemas(inputs, ref_template=SCHEMAS)
    schemas: dict[str, Any] = definitions["$defs"]
    recover = {}
    for name, (model, _) in RECOVER_MODELS.items():
        recover[name] = {**schemas.pop(model.__name__), "title": name}
    settings = WebSocketSettings()
    return {
        "schemas": schemas,
        "client": {_frame_type(schemas[m.__name__]): m.__name__ for m in CLIENT_MODELS},
        "server": {_frame_type(schemas[m.__name__]): m.__name__ for m in SERVER_MODELS},
        "recover": recover,
        "client_summaries": _CLIENT_SUMMARIES,
        "error_codes": sorted(_KNOWN_CODES),
        "close_codes": [{"code": int(code), "name": code.name} for code in CloseCode],
        "close_meanings": {str(int(k)): list(v) for k, v in _CLOSE_CODES.items()},
        "auth_defaults": {
            "transports": list(settings.auth_transports),
            "cookie": settings.auth_cookie,
            "timeout": settings.auth_timeout,
        },
    }


if __name__ == "__main__":
    print(json.dumps(stored(), indent=2, sort_keys=True))
