"""AsyncAPI 3.0 documents of the endpoints, built from the frame models.

Client frames are described by the endpoint's own ``TypeAdapter`` (the one
that parses them), server frames by the models below, so the document and
the code share one schema. Each endpoint exposes ``asyncapi()``; with
``WS_SERVE_ASYNCAPI`` set to ``1``/``true``/``yes``/``on`` it also serves
the document at ``GET <endpoint path>/asyncapi.json``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .protocol import ClientFrame, CloseCode, ErrorCode, RoomId
from .settings import WebSocketSettings

__all__ = [
    "AuthFrame",
    "AuthOkFrame",
    "ConnectedFrame",
    "ErrorFrame",
    "MessageFrame",
    "PongFrame",
    "RoomJoinedFrame",
    "RoomLeftFrame",
    "ServerFrame",
    "TypingFrame",
    "UserJoinedFrame",
    "UserLeftFrame",
    "asyncapi_document",
    "serve_asyncapi",
    "server_frames",
]

ASYNCAPI_VERSION: Final = "3.0.0"
SCHEMAS: Final = "#/components/schemas/{model}"
MESSAGES: Final = "#/components/messages/"
SECURITY: Final = "#/components/securitySchemes/"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_KNOWN_CODES: Final = [
    value for name, value in vars(ErrorCode).items() if name.isupper()
]
_DIRECTIONS: Final = {
    "client": "client to server",
    "server": "server to client",
}


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


def server_frames(
    *,
    rooms: bool,
    messages: bool,
    auth: bool = False,
) -> tuple[type[ServerFrame], ...]:
    """The frames an endpoint with these options sends."""
    frames: list[type[ServerFrame]] = [ConnectedFrame, PongFrame, ErrorFrame]
    if auth:
        frames.append(AuthOkFrame)
    if messages:
        frames.append(MessageFrame)
    if rooms:
        frames += [
            RoomJoinedFrame,
            RoomLeftFrame,
            UserJoinedFrame,
            UserLeftFrame,
            TypingFrame,
        ]
    return tuple(frames)


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
_AUTH_ONLY: Final = frozenset(
    {CloseCode.UNAUTHENTICATED, CloseCode.TOKEN_EXPIRED},
)


def serve_asyncapi() -> bool:
    """Whether ``WS_SERVE_ASYNCAPI`` asks to serve the documents."""
    raw = os.environ.get("WS_SERVE_ASYNCAPI", "")
    return raw.strip().lower() in _TRUE


def close_codes(*, auth: bool) -> list[dict[str, Any]]:
    """Every close code the endpoint may send, with its retry policy."""
    codes = [1000, *(code for code in CloseCode)]
    out = []
    for code in codes:
        if not auth and code in _AUTH_ONLY:
            continue
        meaning, retry = _CLOSE_CODES.get(
            code,
            (getattr(code, "name", str(code)).lower(), "reconnect later"),
        )
        name = code.name if isinstance(code, CloseCode) else "NORMAL"
        out.append(
            {
                "code": int(code),
                "name": name,
                "meaning": meaning,
                "retry": retry,
            }
        )
    return out


def _frame_type(schema: dict[str, Any]) -> str:
    """The ``type`` literal of one frame model's JSON schema."""
    prop = schema.get("properties", {}).get("type", {})
    if "const" in prop:
        return str(prop["const"])
    return str(prop["enum"][0])


def _refs(schema: dict[str, Any]) -> list[str]:
    """Model names of a (possibly discriminated) union's members."""
    members = schema.get("oneOf") or schema.get("anyOf") or [schema]
    return [member["$ref"].rsplit("/", 1)[-1] for member in members]


def _security(settings: WebSocketSettings) -> dict[str, Any]:
    transports = settings.auth_transports
    schemes: dict[str, Any] = {}
    if "subprotocol" in transports:
        schemes["bearerSubprotocol"] = {
            "type": "httpApiKey",
            "in": "header",
            "name": "Sec-WebSocket-Protocol",
            "description": (
                "Offer the subprotocols `bearer, <JWT>` (browsers: "
                "`new WebSocket(url, ['bearer', token])`); the server "
                "echoes `bearer`. Preferred: the token stays out of URLs."
            ),
        }
    if "query" in transports:
        schemes["queryToken"] = {
            "type": "httpApiKey",
            "in": "query",
            "name": "token",
            "description": "`?token=<JWT>`: proxies may log it.",
        }
    if "cookie" in transports:
        schemes["cookieToken"] = {
            "type": "httpApiKey",
            "in": "cookie",
            "name": settings.auth_cookie,
            "description": "Trusted only from origins in WS_ALLOWED_ORIGINS.",
        }
    return schemes


def _description(
    codes: list[dict[str, Any]],
    settings: WebSocketSettings | None,
) -> str:
    lines = [
        (
            "JSON text frames, each an object with a `type`. Invalid frames"
            " are answered with an `error` frame and the connection stays"
            " open; binary frames are refused."
        ),
        "",
    ]
    if settings is not None:
        lines += [
            (
                "A JWT (claim `sub` names the user) is required. The"
                " handshake is accepted first and then closed with 4001"
                " (missing or invalid token) or 4009 (expired) so that"
                " clients can read the code. On an open connection an"
                " `auth` frame with a fresh token for the same user is"
                " answered by `auth_ok`."
            ),
            "",
        ]
        if "message" in settings.auth_transports:
            lines += [
                (
                    "Without a token in the handshake, the first frame must"
                    f" be `auth`, within {settings.auth_timeout:g} seconds."
                ),
                "",
            ]
    lines += ["| Close code | Meaning | Client action |", "|---|---|---|"]
    row = "| {code} {name} | {meaning} | {retry} |"
    lines += [row.format(**code) for code in codes]
    return "\n".join(lines)


def asyncapi_document(
    *,
    name: str,
    path: str,
    client_frames: TypeAdapter[Any],
    server_models: Sequence[type[BaseModel]],
    auth: bool,
    settings: WebSocketSettings | None = None,
    host: str = "localhost:8000",
    protocol: str = "ws",
    version: str = "1.0.0",
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one WebSocket endpoint.

    Message payloads are the JSON schemas of ``client_frames`` (the union
    the endpoint parses) and of ``server_models``; shared definitions go
    to ``components.schemas``. Operations are seen from the server: it
    ``receive``s client frames and ``send``s server frames. ``settings``
    gives the enabled token transports of an endpoint with ``auth``.
    """
    auth_settings = (settings or WebSocketSettings()) if auth else None
    inputs: list[tuple[str, Any, TypeAdapter[Any]]] = [
        ("client", "validation", client_frames),
    ]
    if auth:
        inputs.append(("auth", "validation", TypeAdapter(AuthFrame)))
    for model in server_models:
        inputs.append((model.__name__, "serialization", TypeAdapter(model)))
    tops, definitions = TypeAdapter.json_schemas(
        inputs,
        ref_template=SCHEMAS,
    )
    schemas: dict[str, Any] = definitions.get("$defs", {})
    channel_id = name
    channel_ref = f"#/channels/{channel_id}"
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    sides = [("client", "receive", _refs(tops[("client", "validation")]))]
    if auth:
        sides.append(("client", "receive", _refs(tops["auth", "validation"])))
    sides += [
        ("server", "send", _refs(tops[(model.__name__, "serialization")]))
        for model in server_models
    ]
    for side, action, models in sides:
        for ref in models:
            schema = schemas[ref]
            frame = _frame_type(schema)
            key = f"{side}_{frame}"
            summary = schema.get("description", "")
            if side == "client":
                summary = _CLIENT_SUMMARIES.get(frame, summary)
            messages[key] = {
                "name": frame,
                "title": f"{frame} ({_DIRECTIONS[side]})",
                "summary": summary or f"`{frame}` frame.",
                "contentType": "application/json",
                "payload": {"$ref": SCHEMAS.format(model=ref)},
            }
            operations[f"{action}_{frame}"] = {
                "action": action,
                "channel": {"$ref": channel_ref},
                "summary": summary or f"`{frame}` frame.",
                "messages": [{"$ref": f"{channel_ref}/messages/{key}"}],
            }
    codes = close_codes(auth=auth)
    schemes = _security(auth_settings) if auth_settings else {}
    server: dict[str, Any] = {
        "host": host,
        "protocol": protocol,
        "description": "Replace the host with your deployment's.",
    }
    if schemes:
        server["security"] = [{"$ref": SECURITY + key} for key in schemes]
    channel: dict[str, Any] = {
        "address": path,
        "title": f"{name} WebSocket",
        "description": _description(codes, auth_settings),
        "messages": {key: {"$ref": MESSAGES + key} for key in messages},
        "x-close-codes": codes,
    }
    if auth_settings and "query" in auth_settings.auth_transports:
        channel["bindings"] = {
            "ws": {
                "query": {
                    "type": "object",
                    "properties": {
                        "token": {
                            "type": "string",
                            "description": "JWT, if not sent as subprotocol.",
                        },
                    },
                },
                "bindingVersion": "0.1.0",
            },
        }
    components: dict[str, Any] = {"schemas": schemas, "messages": messages}
    if schemes:
        components["securitySchemes"] = schemes
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"{name} WebSocket API",
            "version": version,
            "description": (
                f"WebSocket endpoint `{path}`"
                + (" with JWT authentication." if auth else " for guests.")
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"default": server},
        "channels": {channel_id: channel},
        "operations": operations,
        "components": components,
    }
