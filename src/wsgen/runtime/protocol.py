"""Wire protocol: incoming frame models, outgoing frames, codes.

Each endpoint joins the client frame models (plus its own) into one union
on ``type``, parsed once per frame with a ``TypeAdapter``; the frames the
server sends are plain dicts, encoded once per fan-out (``encode``).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import Annotated, Any, Final, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

RoomId = Annotated[str, Field(min_length=1, max_length=128)]


class ClientFrame(BaseModel):
    """Base of every incoming frame; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class JoinRoom(ClientFrame):
    type: Literal["join_room"]
    room_id: RoomId


class LeaveRoom(ClientFrame):
    type: Literal["leave_room"]
    room_id: RoomId


class ChatMessage(ClientFrame):
    type: Literal["message"]
    # Optional so that endpoints without rooms can broadcast.
    room_id: RoomId | None = None
    content: str = Field(min_length=1)


class Ping(ClientFrame):
    type: Literal["ping"]


class Typing(ClientFrame):
    type: Literal["typing"]
    room_id: RoomId


class CloseCode(IntEnum):
    """Close codes; 4xxx ones must not be retried with the same token."""

    GOING_AWAY = 1001  # idle timeout: reconnect
    POLICY_VIOLATION = 1008  # rate abuse, too many connections
    MESSAGE_TOO_BIG = 1009  # frame above WS_MAX_FRAME_BYTES
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # server shutting down or restarting: reconnect
    TRY_AGAIN_LATER = 1013  # client read too slowly: reconnect later
    UNAUTHENTICATED = 4001  # missing or invalid token: do not retry
    FORBIDDEN = 4003  # origin or user refused: do not retry
    TOKEN_EXPIRED = 4009  # get a fresh token, then reconnect


class ErrorCode:
    """Machine-readable ``code`` of ``error`` frames."""

    INVALID_JSON: Final = "invalid_json"
    UNKNOWN_TYPE: Final = "unknown_type"
    INVALID_FRAME: Final = "invalid_frame"
    BINARY_NOT_SUPPORTED: Final = "binary_not_supported"
    RATE_LIMITED: Final = "rate_limited"
    NOT_SUPPORTED: Final = "not_supported"
    NOT_IMPLEMENTED: Final = "not_implemented"
    NOT_IN_ROOM: Final = "not_in_room"
    TOO_MANY_ROOMS: Final = "too_many_rooms"
    FORBIDDEN: Final = "forbidden"
    INVALID_TOKEN: Final = "invalid_token"
    INTERNAL_ERROR: Final = "internal_error"


@dataclass(frozen=True)
class ProtocolError:
    """An incoming frame that could not be parsed; sent back as ``error``."""

    code: str
    message: str


# Spelled out so that linters targeting 3.10 and 3.11+ agree on it.
UTC: Final = timezone(timedelta(0))


def utc_now() -> str:
    """Timezone-aware UTC timestamp in ISO 8601."""
    return datetime.now(UTC).isoformat()


def encode(payload: Any) -> str:
    """Encode a frame once; the same text is queued to every recipient."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


# Ids: a random prefix per process and a count; they compress, unlike uuid4s.
_PREFIX, _ids = uuid4().hex[:12] + "-", itertools.count(1)


def message_frame(
    room_id: str | None, seq: int, user_id: str, content: str
) -> dict[str, Any]:
    return {
        "type": "message",
        "id": _PREFIX + str(next(_ids)),
        "seq": seq,
        "room_id": room_id,
        "user_id": user_id,
        "content": content,
        "timestamp": utc_now(),
    }


# pydantic error types mapped to our codes; anything else is invalid_frame.
_ERROR_CODES: Final = {
    "json_invalid": ErrorCode.INVALID_JSON,
    "union_tag_invalid": ErrorCode.UNKNOWN_TYPE,
}


def parse_frame(adapter: TypeAdapter[Any], text: str) -> Any:
    """Parse one text frame in a single pass: a frame or a ProtocolError."""
    try:
        return adapter.validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        code = _ERROR_CODES.get(first["type"], ErrorCode.INVALID_FRAME)
        where = ".".join(str(part) for part in first["loc"])
        detail = f"{where}: {first['msg']}" if where else first["msg"]
        return ProtocolError(code, detail)
    except (ValueError, RecursionError):  # no frame may raise out of here
        return ProtocolError(ErrorCode.INVALID_JSON, "frame could not be read")
