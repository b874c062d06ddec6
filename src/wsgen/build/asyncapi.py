"""An endpoint's AsyncAPI 3.0 document, from the stored frame schemas.

A pure function of the endpoint's options: the frames it parses and sends
(`frame_schemas.json`, the runtime models' JSON Schemas) and its custom
message types. `--asyncapi` writes it beside the route module; `wsgen check`
reports it stale when the options or wsgen's models change. The client's
TypeScript declarations are written from the same schemas (`typescript`).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ASYNCAPI_VERSION = "3.0.0"
SCHEMAS = "#/components/schemas/"
MESSAGES = "#/components/messages/"
SECURITY = "#/components/securitySchemes/"
_DIRECTIONS = {"client": "client to server", "server": "server to client"}
_AUTH_ONLY = {4001, 4009}


@cache
def stored() -> dict[str, Any]:
    text = (Path(__file__).parent / "frame_schemas.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _custom_schema(name: str, class_name: str) -> dict[str, Any]:
    """What the route module's `--message-type` stub parses."""
    return {
        "description": f'Client frame ``{{"type": "{name}", "data": {{...}}}}``.',
        "properties": {
            "type": {"const": name, "title": "Type", "type": "string"},
            "data": {"additionalProperties": True, "title": "Data", "type": "object"},
        },
        "required": ["type"],
        "title": class_name,
        "type": "object",
    }


def frames(context: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Frame type -> schema name, client and server, of this endpoint."""
    data = stored()
    auth, rooms = bool(context["auth"]), bool(context["rooms"])
    messages = rooms or bool(context["broadcast"])
    client = {k: v for k, v in data["client"].items() if k != "auth" or auth}
    for t in context["message_types"]:
        client[t["name"]] = t["class_name"]
    room_frames = {"room_joined", "room_left", "user_joined", "user_left", "typing"}
    server = {
        k: v
        for k, v in data["server"].items()
        if (k != "auth_ok" or auth)
        and (k != "message" or messages)
        and (k not in room_frames or rooms)
    }
    return client, server


def schemas(context: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schemas this endpoint's frames use, by name."""
    data = stored()
    out: dict[str, Any] = {}
    client, server = frames(context)
    # --recover: join_room's since, seq and epoch of room messages.
    recover = data["recover"] if context.get("recover") else {}

    def add(name: str) -> None:
        schema = recover.get(name) or data["schemas"][name]
        out[name] = schema
        for ref in _refs_in(schema):
            if ref not in out:
                add(ref)

    custom = {t["class_name"]: t["name"] for t in context["message_types"]}
    for name in [*client.values(), *server.values()]:
        if name in custom:
            out[name] = _custom_schema(custom[name], name)
        else:
            add(name)
    return dict(sorted(out.items()))


def _refs_in(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        found = [schema["$ref"].rsplit("/", 1)[-1]] if "$ref" in schema else []
        return found + [r for v in schema.values() for r in _refs_in(v)]
    if isinstance(schema, list):
        return [r for v in schema for r in _refs_in(v)]
    return []


def close_codes(auth: bool) -> list[dict[str, Any]]:
    """Every close code the endpoint may send, with what a client should do."""
    data = stored()
    codes = [{"code": 1000, "name": "NORMAL"}, *data["close_codes"]]
    out = []
    for code in codes:
        if not auth and code["code"] in _AUTH_ONLY:
            continue
        default = [code["name"].lower(), "reconnect later"]
        meaning, retry = data["close_meanings"].get(str(code["code"]), default)
        out.append({**code, "meaning": meaning, "retry": retry})
    return out


def _security(auth: dict[str, Any]) -> dict[str, Any]:
    schemes: dict[str, Any] = {}
    if "subprotocol" in auth["transports"]:
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
    if "query" in auth["transports"]:
        schemes["queryToken"] = {
            "type": "httpApiKey",
            "in": "query",
            "name": "token",
            "description": "`?token=<JWT>`: proxies may log it.",
        }
    if "cookie" in auth["transports"]:
        schemes["cookieToken"] = {
            "type": "httpApiKey",
            "in": "cookie",
            "name": auth["cookie"],
            "description": "Trusted only from origins in WS_ALLOWED_ORIGINS.",
        }
    return schemes


def _description(codes: list[dict[str, Any]], auth: dict[str, Any] | None) -> str:
    lines = [
        (
            "JSON text frames, each an object with a `type`. Invalid frames"
            " are answered with an `error` frame and the connection stays"
            " open; binary frames are refused."
        ),
        "",
    ]
    if auth is not None:
        lines += [
            (
                "A JWT (claim `sub` names the user) is required. The handshake"
                " is accepted first and then closed with 4001 (missing or"
                " invalid token) or 4009 (expired) so that clients can read the"
                " code. On an open connection an `auth` frame with a fresh"
                " token for the same user is answered by `auth_ok`."
            ),
            "",
        ]
    lines += ["| Close code | Meaning | Client action |", "|---|---|---|"]
    lines += ["| {code} {name} | {meaning} | {retry} |".format(**c) for c in codes]
    return "\n".join(lines)


def document(context: dict[str, Any]) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the endpoint an endpoint context describes.

    Operations are seen from the server: it ``receive``s client frames and
    ``send``s server frames. With auth, the security schemes are the token
    transports on by default (``WS_AUTH_TRANSPORTS`` may change them).
    """
    name, path = str(context["name"]), str(context["path"])
    auth = stored()["auth_defaults"] if context["auth"] else None
    all_schemas = schemas(context)
    channel_ref = f"#/channels/{name}"
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    client, server = frames(context)
    summaries = stored()["client_summaries"]
    for side, action, kinds in (
        ("client", "receive", client),
        ("server", "send", server),
    ):
        for frame, model in kinds.items():
            key = f"{side}_{frame}"
            summary = all_schemas[model].get("description", "")
            if side == "client":
                summary = summaries.get(frame, summary)
            summary = summary or f"`{frame}` frame."
            messages[key] = {
                "name": frame,
                "title": f"{frame} ({_DIRECTIONS[side]})",
                "summary": summary,
                "contentType": "application/json",
                "payload": {"$ref": SCHEMAS + model},
            }
            operations[f"{action}_{frame}"] = {
                "action": action,
                "channel": {"$ref": channel_ref},
                "summary": summary,
                "messages": [{"$ref": f"{channel_ref}/messages/{key}"}],
            }
    codes = close_codes(auth is not None)
    schemes = _security(auth) if auth else {}
    server_entry: dict[str, Any] = {
        "host": "localhost:8000",
        "protocol": "ws",
        "description": "Replace the host with your deployment's.",
    }
    if schemes:
        server_entry["security"] = [{"$ref": SECURITY + key} for key in schemes]
    channel: dict[str, Any] = {
        "address": path,
        "title": f"{name} WebSocket",
        "description": _description(codes, auth),
        "messages": {key: {"$ref": MESSAGES + key} for key in messages},
        "x-close-codes": codes,
    }
    components: dict[str, Any] = {"schemas": all_schemas, "messages": messages}
    if schemes:
        components["securitySchemes"] = schemes
    kind = "with JWT authentication." if auth else "for guests."
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"{name} WebSocket API",
            "version": "1.0.0",
            "description": f"WebSocket endpoint `{path}` {kind}",
        },
        "defaultContentType": "application/json",
        "servers": {"default": server_entry},
        "channels": {name: channel},
        "operations": operations,
        "components": components,
    }


def document_json(context: dict[str, Any]) -> str:
    """The document as the file holds it: JSON, two-space indent."""
    return json.dumps(document(context), indent=2, ensure_ascii=False) + "\n"
