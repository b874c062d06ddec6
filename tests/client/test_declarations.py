"""The TypeScript declarations (``--client ts``) against the server they
describe, so that the two cannot drift apart:

- every client frame model of the generated endpoint (the pydantic union it
  parses, ``--message-type`` models included) has an interface with the
  same fields, each required exactly when the model requires it;
- every server frame, as the generated app really sends it, has exactly
  the fields of its interface, with values of the declared types;
- ``ErrorCode`` lists the server's error codes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import copy_example, run_wsgen

# Run inside the generated project: the frame models and real frames, as JSON.
PROBE = r"""
import json, typing
from fastapi.testclient import TestClient
from shop.api import chat
from shop.app import create_app
from shop.websocket import protocol

models = {}
union = typing.get_args(chat.Frame)[0]
for model in typing.get_args(union):
    (kind,) = typing.get_args(model.model_fields["type"].annotation)
    models[kind] = {
        name: field.is_required()
        for name, field in model.model_fields.items()
        if name != "type"
    }

frames = {}
def until(ws, kind):
    for _ in range(50):
        frame = ws.receive_json()
        frames.setdefault(frame["type"], []).append(frame)
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")

with TestClient(create_app()) as client:
    with client.websocket_connect("/ws/chat") as a, \
         client.websocket_connect("/ws/chat") as b:
        until(a, "connected"); until(b, "connected")
        a.send_json({"type": "join_room", "room_id": "lobby"}); until(a, "room_joined")
        b.send_json({"type": "join_room", "room_id": "lobby"}); until(b, "room_joined")
        until(a, "user_joined")
        b.send_json({"type": "typing", "room_id": "lobby"}); until(a, "typing")
        a.send_json({"type": "message", "room_id": "lobby", "content": "hi"})
        until(a, "message"); until(b, "message")
        a.send_json({"type": "message", "content": "everybody"}); until(a, "message")
        a.send_json({"type": "ping"}); until(a, "pong")
        a.send_json({"type": "no_such_type"}); until(a, "error")
        a.send_json({"type": "cursor_move", "data": {"x": 1}}); until(a, "error")
        b.send_json({"type": "leave_room", "room_id": "lobby"}); until(b, "room_left")
        until(a, "user_left")

codes = sorted(
    value for name, value in vars(protocol.ErrorCode).items()
    if name.isupper() and isinstance(value, str)
)
print(json.dumps({"models": models, "frames": frames, "codes": codes}))
"""

INTERFACE = re.compile(
    r'export interface (\w+) \{\n  type: "(\w+)";\n((?:  [^\n]*\n)*?)\}'
)
FIELD = re.compile(r"  (\w+)(\??): (.+);")


def interfaces(text: str) -> dict[str, dict[str, tuple[str, bool]]]:
    """{frame type: {field: (TypeScript type, required)}} of one section."""
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    for match in INTERFACE.finditer(text):
        fields = {}
        for line in match.group(3).splitlines():
            found = FIELD.fullmatch(line)
            assert found, f"unparsed declaration line {line!r}"
            fields[found.group(1)] = (found.group(3), found.group(2) == "")
        out[match.group(2)] = fields
    return out


def python_matches(ts: str, value: Any) -> bool:
    options = [part.strip() for part in ts.split("|")]
    for option in options:
        if option == "null" and value is None:
            return True
        if option in ("string", "ErrorCode") and isinstance(value, str):
            return True
        if option == "number" and isinstance(value, (int, float)):
            return not isinstance(value, bool)
        if option == "string[]" and isinstance(value, list):
            return all(isinstance(item, str) for item in value)
        if option.startswith("Record<") and isinstance(value, dict):
            return True
    return False


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    project = copy_example("src_factory", tmp_path_factory.mktemp("dts"))
    result = run_wsgen(
        "chat",
        "--rooms",
        "--broadcast",
        "--client",
        "ts",
        "-m",
        "cursor_move",
        "--yes",
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    probe = subprocess.run(  # noqa: PLW1510 - asserted below
        [sys.executable, "-c", PROBE],
        cwd=project,
        env={
            **os.environ,
            "PYTHONPATH": str(project / "src"),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stdout + probe.stderr
    declarations = (project / "src/shop/static/chat_client.d.ts").read_text()
    return declarations, json.loads(probe.stdout.strip().splitlines()[-1])


def sections(declarations: str) -> tuple[str, str]:
    client_part, rest = declarations.split("// -- server -> client", 1)
    server_part = rest.split("// -- the client", 1)[0]
    return client_part.split("// -- client -> server", 1)[1], server_part


def test_client_frames_match_the_pydantic_models(
    generated: tuple[str, dict[str, Any]],
) -> None:
    declarations, probe = generated
    declared = interfaces(sections(declarations)[0])
    models = probe["models"]
    assert "cursor_move" in models
    assert sorted(declared) == sorted(models)
    for kind, fields in models.items():
        got = {name: required for name, (_, required) in declared[kind].items()}
        assert got == fields, kind


def test_server_frames_match_what_the_server_sends(
    generated: tuple[str, dict[str, Any]],
) -> None:
    declarations, probe = generated
    declared = interfaces(sections(declarations)[1])
    frames = probe["frames"]
    assert sorted(declared) == sorted(frames), "a server frame type not covered"
    for kind, sent in frames.items():
        fields = declared[kind]
        required = {name for name, (_, needed) in fields.items() if needed}
        for frame in sent:
            keys = set(frame) - {"type"}
            assert required <= keys, (kind, frame)
            assert keys <= set(fields), (kind, frame)
            for name in keys:
                ts, _ = fields[name]
                assert python_matches(ts, frame[name]), (kind, name, frame[name], ts)


def test_error_codes_match_the_server(generated: tuple[str, dict[str, Any]]) -> None:
    declarations, probe = generated
    union = declarations.split("export type ErrorCode =", 1)[1].split(";", 1)[0]
    assert sorted(re.findall(r'"(\w+)"', union)) == probe["codes"]
