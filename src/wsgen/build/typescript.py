"""TypeScript declarations of an endpoint's frames, from their JSON Schemas.

The same schemas as the AsyncAPI document (`wsgen.build.asyncapi`): one interface
per frame, a union and a map by ``type`` for each direction, and the error
codes. The client's generic part is declared once in `ws_client.d.ts`.
"""

from __future__ import annotations

import json
from typing import Any

from wsgen.build import asyncapi

_SIMPLE = {"string": "string", "integer": "number", "number": "number"}
_SIMPLE |= {"boolean": "boolean", "null": "null"}
_RULE = "-" * 60


def ts_type(schema: dict[str, Any], schemas: dict[str, Any]) -> str:
    """The TypeScript type of one JSON Schema (as pydantic writes them)."""
    if "$ref" in schema:
        return ts_type(schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas)
    if "anyOf" in schema:
        return " | ".join(ts_type(option, schemas) for option in schema["anyOf"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type")
    if kind == "array":
        return ts_type(schema.get("items", {}), schemas) + "[]"
    if kind == "object" and "properties" in schema:  # e.g. join_room's since
        required = set(schema.get("required", ()))
        fields = [
            f"{name}{'' if name in required else '?'}: {ts_type(prop, schemas)}"
            for name, prop in schema["properties"].items()
        ]
        return "{ " + "; ".join(fields) + " }"
    if kind == "object" or kind is None:
        return "Record<string, unknown>"
    return _SIMPLE[kind]


def _interface(name: str, frame: str, schema: dict[str, Any], all_: Any) -> str:
    lines = [f"export interface {name} {{", f'  type: "{frame}";']
    required = set(schema.get("required", ()))
    for field, prop in schema.get("properties", {}).items():
        if field == "type":
            continue
        kind = (
            "ErrorCode" if (frame, field) == ("error", "code") else ts_type(prop, all_)
        )
        lines.append(f"  {field}{'' if field in required else '?'}: {kind};")
    return "\n".join([*lines, "}"])


def _section(title: str, union: str, frames: dict[str, str], all_: Any) -> list[str]:
    out = [f"// -- {title} {_RULE}"[:78], ""]
    for frame, name in frames.items():
        out += [_interface(name, frame, all_[name], all_), ""]
    names = [f"  | {name}" for name in frames.values()]
    out += [f"export type {union} =", *names[:-1], names[-1] + ";", ""]
    out += [f"export interface {union}Map {{"]
    out += [f"  {frame}: {name};" for frame, name in frames.items()]
    return [*out, "}", ""]


def declarations(context: dict[str, Any]) -> str:
    """The frame declarations of the endpoint ``context`` describes."""
    all_ = asyncapi.schemas(context)
    client, server = asyncapi.frames(context)
    # Interfaces are named after the frames, never after each other.
    client_names = {
        f: n if n.endswith("Frame") else n + "Frame" for f, n in client.items()
    }
    server_names = {
        f: "Server" + n if n in client_names.values() else n for f, n in server.items()
    }
    renamed = dict(all_)
    for frames, names in ((client, client_names), (server, server_names)):
        for frame, model in frames.items():
            renamed[names[frame]] = all_[model]
    codes = [f'  | "{code}"' for code in asyncapi.stored()["error_codes"]]
    out = ["/** `code` of `error` frames (the server's ErrorCode). */"]
    out += ["export type ErrorCode =", *codes[:-1], codes[-1] + ";", ""]
    out += _section("client -> server", "ClientFrame", client_names, renamed)
    out += _section("server -> client", "ServerFrame", server_names, renamed)
    return "\n".join(out)
