"""Recoverable rooms, client side: the generated client on a real WebSocket
(Node) against a small fake server on loopback that numbers the room's
messages (``seq`` per room, ``epoch``) and restarts twice (1012).

The client must rejoin with ``since`` (its last seq and epoch), drop the
messages it has already seen (seq <= last in the same epoch), and tell the
application with a ``recovered`` event whether the server could replay what
was missed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.conftest import copy_example, run_wsgen

HERE = Path(__file__).resolve().parent


def message(epoch: str, seq: int, content: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"{epoch}-{seq}",
        "seq": seq,
        "epoch": epoch,
        "room_id": "lobby",
        "user_id": "bob",
        "content": content,
        "timestamp": "2026-01-01T00:00:00+00:00",
    }


# One scene per connection: what room_joined carries, then the messages sent
# after it; every connection but the last ends with a restart (1012).
SCENES: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
    # The room is at seq 2; message 3 arrives twice (a duplicate).
    ({"seq": 2, "epoch": "e1"}, [message("e1", 3, "m3"), message("e1", 3, "m3")]),
    # Recovered: the replay starts at a message the client already has.
    (
        {"seq": 5, "epoch": "e1", "recovered": True},
        [message("e1", 3, "m3"), message("e1", 4, "m4"), message("e1", 5, "m5")],
    ),
    # The history is gone (a new epoch): its seq starts again, lower.
    (
        {"seq": 1, "epoch": "e2", "recovered": False},
        [message("e2", 2, "n2"), message("e2", 3, "done")],
    ),
]


async def fake_server(
    client: list[str], env: dict[str, str]
) -> tuple[list[dict[str, Any]], str]:
    """Serve SCENES to the client command; the join frames and its output."""
    joins: list[dict[str, Any]] = []

    async def handler(ws: Any) -> None:
        joined, messages = SCENES[len(joins)]
        await ws.send(
            json.dumps(
                {
                    "type": "connected",
                    "user_id": "alice",
                    "connection_id": "c",
                    "message": "connected",
                }
            )
        )
        joins.append(json.loads(await ws.recv()))
        await ws.send(
            json.dumps(
                {
                    "type": "room_joined",
                    "room_id": "lobby",
                    "users": ["alice"],
                    **joined,
                }
            )
        )
        for frame in messages:
            await ws.send(json.dumps(frame))
        if len(joins) < len(SCENES):
            await ws.close(1012, "restarting")
        else:
            await ws.wait_closed()

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            *client,
            f"ws://127.0.0.1:{port}/ws/chat",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return joins, out.decode()


def node_with_websocket() -> list[str]:
    """node, with the flag Node 20 needs for its global WebSocket."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is required when CI is set")
        pytest.skip("node is not installed")
    check = "process.exit(typeof WebSocket === 'function' ? 0 : 1)"
    for flags in ([], ["--experimental-websocket"]):
        found = subprocess.run([node, *flags, "-e", check], check=False)
        if found.returncode == 0:
            return [node, *flags]
    pytest.skip("this node has no WebSocket")


def test_rejoin_asks_since_drops_duplicates_and_reports_recovery(
    tmp_path: Path,
) -> None:
    node = node_with_websocket()
    project = copy_example("src_factory", tmp_path)
    result = run_wsgen("chat", "--rooms", "--client", "js", "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    module = project / "src/shop/static/chat_client.js"
    env = {**os.environ, "WSGEN_CLIENT_MODULE": str(module)}
    client = [*node, str(HERE / "recovery_client.mjs")]
    joins, out = asyncio.run(fake_server(client, env))
    seen = json.loads(out.strip().splitlines()[-1])
    assert "error" not in seen, out
    # The first join knows nothing; each rejoin asks for what followed the
    # last message the client saw.
    assert joins == [
        {"type": "join_room", "room_id": "lobby"},
        {"type": "join_room", "room_id": "lobby", "since": {"seq": 3, "epoch": "e1"}},
        {"type": "join_room", "room_id": "lobby", "since": {"seq": 5, "epoch": "e1"}},
    ]
    # Each message once, in order; a new epoch starts afresh.
    assert seen["messages"] == [
        ["e1", 3, "m3"],
        ["e1", 4, "m4"],
        ["e1", 5, "m5"],
        ["e2", 2, "n2"],
        ["e2", 3, "done"],
    ]
    assert seen["recovered"] == [
        {"room_id": "lobby", "recovered": True},
        {"room_id": "lobby", "recovered": False},
    ]
    assert seen["firstJoin"] == 2
    assert [code for state, code in seen["states"] if state == "reconnecting"] == [
        1012,
        1012,
    ]
    assert seen["rooms"] == ["lobby"]
