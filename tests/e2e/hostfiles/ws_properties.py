"""Property test of a generated endpoint, copied into a generated project.

Thousands of arbitrary frames and frame sequences from three connections go
through the real ASGI stack; no frame may cause an unhandled exception (an
`internal_error` frame or a 1011 close), every reply must be a valid server
frame, and the manager's indexes must stay consistent and end empty.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect

from main import app
from app.routes.chat import manager

SERVER_TYPES = {
    "connected", "room_joined", "room_left", "user_joined", "user_left",
    "message", "pong", "typing", "error",
}  # fmt: skip
CLIENT_TYPES = ["join_room", "leave_room", "message", "ping", "typing", "vote"]
COUNTER = Path(os.environ.get("WS_PROPERTY_COUNTER", "frames-sent.txt"))
PATH = app.url_path_for("chat_ws")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
room_ids = st.sampled_from(["a", "b", "c"]) | st.text(max_size=8)
frame_objects = st.fixed_dictionaries(
    {
        "type": st.sampled_from([*CLIENT_TYPES, "bogus", "", "ROOM"])
        | st.text(max_size=6)
    },
    optional={
        "room_id": room_ids | json_values,
        "content": st.text(max_size=40) | json_values,
        "data": json_values,
    },
)
frames = st.one_of(
    frame_objects.map(lambda obj: ("text", json.dumps(obj))),
    st.text(max_size=60).map(lambda text: ("text", text)),
    st.binary(max_size=40).map(lambda data: ("bytes", data)),
    json_values.map(lambda value: ("text", json.dumps(value))),
)
sequences = st.lists(st.tuples(st.integers(0, 2), frames), min_size=10, max_size=60)


def check_frame(raw: str) -> dict[str, Any]:
    frame = json.loads(raw)
    assert isinstance(frame, dict) and frame.get("type") in SERVER_TYPES, raw
    if frame["type"] == "error":
        assert frame.get("code") and frame["code"] != "internal_error", raw
    return frame


def check_indexes() -> None:
    users = set(manager.user_ids())
    for room in manager.room_ids():
        members = manager.members(room)
        assert members, f"empty room {room!r} left in the index"
        assert set(members) <= users, f"room {room!r} lists users who are gone"
        assert manager.room_connections(room), f"room {room!r} has no connections"
    for user in users:
        assert manager._users.get(user), f"user {user!r} has no connections"


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(sequences)
def test_arbitrary_frames_keep_the_endpoint_sound(
    sequence: list[tuple[int, tuple[str, Any]]],
) -> None:
    manager.settings = replace(
        manager.settings,
        messages_per_second=1e6, messages_burst=10**6,
        typing_per_second=1e6, typing_burst=10**6,
    )  # fmt: skip
    with TestClient(app) as client:
        with (
            client.websocket_connect(PATH) as first,
            client.websocket_connect(PATH) as second,
            client.websocket_connect(PATH) as third,
        ):
            sockets = [first, second, third]
            for ws in sockets:
                assert check_frame(ws.receive_text())["type"] == "connected"
            for who, (kind, payload) in sequence:
                if kind == "bytes":
                    sockets[who].send_bytes(payload)
                else:
                    sockets[who].send_text(payload)
            # A ping is answered after every earlier frame of that socket.
            for ws in sockets:
                ws.send_text('{"type": "ping"}')
                try:
                    while check_frame(ws.receive_text())["type"] != "pong":
                        pass
                except WebSocketDisconnect as closed:
                    assert closed.code != 1011, closed
            check_indexes()
            assert manager.connection_count == 3
    assert manager.connection_count == 0
    assert manager.user_ids() == [] and manager.room_ids() == []
    COUNTER.write_text(
        str(int(COUNTER.read_text() or 0) + len(sequence))
        if COUNTER.exists()
        else str(len(sequence))
    )
