"""Ceiling: the leanest room fan-out endpoint on the same stack.

FastAPI/Starlette WebSocket under uvicorn, the seed wire protocol, and only
what fan-out needs: each outgoing frame is JSON-encoded once and the same
text is put on every recipient's ``asyncio.Queue``; one writer task per
connection drains its queue. No validation, limits, presence, logging or
auth; queues are unbounded (a stalled reader grows memory without bound).
Route: ``/ws``; the user id comes from ``?user_id=``. With
``CEILING_FRAME=generated`` the room frame takes the generated endpoint's
shape (compact JSON with ``id`` and ``seq``): same work, longer frame.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import uuid
from datetime import datetime, timezone

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
rooms: dict[str, set[asyncio.Queue[str]]] = {}
GENERATED_FRAME = os.environ.get("CEILING_FRAME") == "generated"
PREFIX, ids = uuid.uuid4().hex[:12] + "-", itertools.count(1)


async def _writer(websocket: WebSocket, queue: asyncio.Queue[str]) -> None:
    try:
        while True:
            await websocket.send_text(await queue.get())
    except Exception:  # noqa: BLE001, S110
        pass  # the reader notices the disconnect and cleans up


@app.websocket("/ws")
async def ws(websocket: WebSocket) -> None:
    user_id = websocket.query_params.get("user_id") or uuid.uuid4().hex
    if GENERATED_FRAME:  # a guest id as long as the generated endpoint's
        user_id = f"guest-{uuid.uuid4().hex[:12]}"
    await websocket.accept()
    queue: asyncio.Queue[str] = asyncio.Queue()
    writer = asyncio.create_task(_writer(websocket, queue))
    joined: set[str] = set()
    queue.put_nowait(json.dumps({"type": "connected", "user_id": user_id}))
    try:
        while True:
            data = json.loads(await websocket.receive_text())
            kind = data.get("type")
            if kind == "message":
                room = rooms.get(data.get("room_id"), ())
                frame = {
                    "type": "message",
                    "room_id": data["room_id"],
                    "user_id": user_id,
                    "content": data["content"],
                    "timestamp": datetime.now(timezone.utc).isoformat(),
                }
                if GENERATED_FRAME:
                    n = next(ids)
                    frame = {"type": "message", "id": f"{PREFIX}{n}", "seq": n, **frame}
                    text = json.dumps(frame, separators=(",", ":"))
                else:
                    text = json.dumps(frame)
                for member in room:
                    member.put_nowait(text)
            elif kind == "join_room":
                room_id = data["room_id"]
                rooms.setdefault(room_id, set()).add(queue)
                joined.add(room_id)
                queue.put_nowait(json.dumps({"type": "room_joined", "room_id": room_id}))
            elif kind == "ping":
                queue.put_nowait('{"type":"pong"}')
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        for room_id in joined:
            members = rooms.get(room_id)
            if members is not None:
                members.discard(queue)
                if not members:
                    del rooms[room_id]
        writer.cancel()
