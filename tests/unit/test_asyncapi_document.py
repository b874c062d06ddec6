"""The AsyncAPI document wsgen writes with --asyncapi: a pure function of
the endpoint's options over the stored frame schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wsgen.build import asyncapi, frame_models


def context(**options: Any) -> dict[str, Any]:
    base = {
        "name": "chat",
        "path": "/ws/chat",
        "auth": False,
        "rooms": False,
        "broadcast": False,
        "message_types": [],
    }
    return {**base, **options}


def test_stored_schemas_match_the_runtime_models() -> None:
    # Fails when a frame model changes: re-run `python -m wsgen.build.frame_models`.
    stored = Path(asyncapi.__file__).with_name("frame_schemas.json")
    assert json.loads(stored.read_text()) == frame_models.stored()


def test_frames_follow_the_options() -> None:
    client, server = asyncapi.frames(context())
    assert set(client) == {"join_room", "leave_room", "message", "ping", "typing"}
    assert set(server) == {"connected", "pong", "error"}
    client, server = asyncapi.frames(
        context(
            auth=True,
            rooms=True,
            message_types=[{"name": "vote", "class_name": "Vote"}],
        )
    )
    assert {"auth", "vote"} <= set(client)
    assert {"auth_ok", "message", "room_joined", "user_left"} <= set(server)


def test_document_references_resolve_and_custom_types_have_a_schema() -> None:
    document = asyncapi.document(
        context(auth=True, message_types=[{"name": "vote", "class_name": "Vote"}])
    )
    schemas = document["components"]["schemas"]
    text = json.dumps(document)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        section, _, key = ref.removeprefix("#/").rpartition("/")
        target: Any = document
        for step in [*section.split("/"), key]:
            target = target[step]
        assert target, ref
    assert schemas["Vote"]["properties"]["type"]["const"] == "vote"
    codes = {c["code"] for c in document["channels"]["chat"]["x-close-codes"]}
    assert {4001, 4009} <= codes
    guest = asyncapi.document(context())
    guest_codes = {c["code"] for c in guest["channels"]["chat"]["x-close-codes"]}
    assert not guest_codes & {4001, 4009}
    assert "securitySchemes" not in guest["components"]
