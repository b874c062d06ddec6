"""Baseline: "the seed pattern", re-implemented for benchmarking.

This is the ConnectionManager most FastAPI projects run today, as described
in the seed document the project started from (not a copy of its code). The
behaviour that matters for the benchmarks is kept on purpose:

* one WebSocket per user id (a second connection replaces the first);
* ``broadcast_to_room`` builds one ``send_json`` coroutine per recipient and
  awaits them all with ``asyncio.gather``, so the sender's handler waits for
  the slowest socket in the room;
* the payload dict is JSON-encoded again for every recipient (``send_json``);
* frames are read with ``receive_json`` and dispatched on ``type`` with no
  validation and no size or rate limits;
* timestamps come from ``datetime.utcnow()`` (naive, deprecated).

Differences from the document, all needed to run it at all:

* the document's endpoint forgets to import ``datetime``; here it is imported,
  otherwise every ``message`` frame would end the connection;
* no authentication: the user id comes from ``?user_id=`` (a random one when
  absent), so the benchmark measures delivery, not token checks.

Wire protocol (unchanged): client -> server ``join_room``, ``leave_room``,
``message``, ``ping``, ``typing``; server -> client ``connected``,
``room_joined``, ``user_joined``, ``user_left``, ``room_left``, ``message``,
``pong``, ``typing``, ``error``. Route: ``/ws``.
"""

# The baseline keeps the pattern's flaws on purpose (utcnow, blind excepts).
# ruff: noqa: BLE001, DTZ003

from __future__ import annotations

import asyncio
import uuid
import warnings
from datetime import datetime
from typing import Any

import structlog
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

# utcnow() is part of the pattern; keep its DeprecationWarning out of stderr.
warnings.filterwarnings("ignore", category=DeprecationWarning)

logger = structlog.get_logger()


class ConnectionManager:
    """Seed pattern: user -> one socket, room -> users, user -> rooms."""

    def __init__(self) -> None:
        self.active_connections: dict[str, WebSocket] = {}
        self.rooms: dict[str, set[str]] = {}
        self.user_rooms: dict[str, set[str]] = {}

    async def connect(self, websocket: WebSocket, user_id: str) -> bool:
        try:
            await websocket.accept()
            # One connection per user: a newer socket silently replaces it.
            self.active_connections[user_id] = websocket
            logger.info(
                "websocket_connected",
                user_id=user_id,
                total_connections=len(self.active_connections),
            )
            return True
        except Exception as exc:  # the pattern swallows errors into logs
            logger.error("websocket_connect_failed", user_id=user_id, error=str(exc))
            return False

    def disconnect(self, user_id: str) -> None:
        for room_id in list(self.user_rooms.get(user_id, ())):
            self.leave_room(user_id, room_id)
        self.user_rooms.pop(user_id, None)
        self.active_connections.pop(user_id, None)
        logger.info(
            "websocket_disconnected",
            user_id=user_id,
            total_connections=len(self.active_connections),
        )

    async def join_room(self, user_id: str, room_id: str) -> None:
        self.rooms.setdefault(room_id, set()).add(user_id)
        self.user_rooms.setdefault(user_id, set()).add(room_id)
        await self.broadcast_to_room(
            room_id,
            {
                "type": "user_joined",
                "user_id": user_id,
                "room_id": room_id,
                "timestamp": datetime.utcnow().isoformat(),
            },
            exclude={user_id},
        )
        logger.info("user_joined_room", user_id=user_id, room_id=room_id)

    def leave_room(self, user_id: str, room_id: str) -> None:
        members = self.rooms.get(room_id)
        if members is not None:
            members.discard(user_id)
            if not members:
                del self.rooms[room_id]
        if user_id in self.user_rooms:
            self.user_rooms[user_id].discard(room_id)
        logger.info("user_left_room", user_id=user_id, room_id=room_id)

    async def send_personal(self, user_id: str, message: dict[str, Any]) -> bool:
        websocket = self.active_connections.get(user_id)
        if websocket is None:
            return False
        try:
            await websocket.send_json(message)
            return True
        except Exception as exc:
            logger.warning("send_failed", user_id=user_id, error=str(exc))
            self.disconnect(user_id)
            return False

    async def broadcast_to_room(
        self,
        room_id: str,
        message: dict[str, Any],
        exclude: set[str] | None = None,
    ) -> None:
        exclude = exclude or set()
        if room_id not in self.rooms:
            return
        sends = []
        for user_id in self.rooms[room_id]:
            if user_id in exclude:
                continue
            websocket = self.active_connections.get(user_id)
            if websocket is not None:
                sends.append(self._safe_send(websocket, user_id, message))
        # The defining trait: wait for every recipient's socket.
        await asyncio.gather(*sends, return_exceptions=True)

    async def _safe_send(
        self, websocket: WebSocket, user_id: str, message: dict[str, Any]
    ) -> None:
        try:
            await websocket.send_json(message)  # one json.dumps per recipient
        except Exception as exc:
            logger.warning("broadcast_send_failed", user_id=user_id, error=str(exc))
            self.disconnect(user_id)

    def get_room_users(self, room_id: str) -> list[str]:
        return list(self.rooms.get(room_id, set()))


manager = ConnectionManager()
app = FastAPI()


@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    user_id = websocket.query_params.get("user_id") or uuid.uuid4().hex
    if not await manager.connect(websocket, user_id):
        return
    try:
        await manager.send_personal(
            user_id,
            {"type": "connected", "user_id": user_id, "message": "Successfully connected"},
        )
        while True:
            data = await websocket.receive_json()
            await handle_message(user_id, data)
    except WebSocketDisconnect:
        logger.info("websocket_disconnect", user_id=user_id)
    except Exception as exc:
        logger.error("websocket_error", user_id=user_id, error=str(exc))
    finally:
        manager.disconnect(user_id)


async def handle_message(user_id: str, data: dict[str, Any]) -> None:
    handler = HANDLERS.get(data.get("type"))  # type: ignore[arg-type]
    if handler is None:
        await manager.send_personal(
            user_id,
            {"type": "error", "message": f"Unknown message type: {data.get('type')}"},
        )
        return
    await handler(user_id, data)


async def handle_join_room(user_id: str, data: dict[str, Any]) -> None:
    room_id = data.get("room_id")
    if not room_id:
        await manager.send_personal(
            user_id, {"type": "error", "message": "room_id is required"}
        )
        return
    await manager.join_room(user_id, room_id)
    await manager.send_personal(
        user_id,
        {"type": "room_joined", "room_id": room_id, "users": manager.get_room_users(room_id)},
    )


async def handle_leave_room(user_id: str, data: dict[str, Any]) -> None:
    room_id = data.get("room_id")
    if not room_id:
        return
    manager.leave_room(user_id, room_id)
    await manager.broadcast_to_room(
        room_id, {"type": "user_left", "user_id": user_id, "room_id": room_id}
    )
    await manager.send_personal(user_id, {"type": "room_left", "room_id": room_id})


async def handle_chat_message(user_id: str, data: dict[str, Any]) -> None:
    room_id = data.get("room_id")
    content = data.get("content")
    if not room_id or not content:
        await manager.send_personal(
            user_id,
            {"type": "error", "message": "room_id and content are required"},
        )
        return
    await manager.broadcast_to_room(
        room_id,
        {
            "type": "message",
            "room_id": room_id,
            "user_id": user_id,
            "content": content,
            "timestamp": datetime.utcnow().isoformat(),
        },
    )


async def handle_ping(user_id: str, data: dict[str, Any]) -> None:
    await manager.send_personal(
        user_id, {"type": "pong", "timestamp": datetime.utcnow().isoformat()}
    )


async def handle_typing(user_id: str, data: dict[str, Any]) -> None:
    room_id = data.get("room_id")
    if room_id:
        await manager.broadcast_to_room(
            room_id,
            {"type": "typing", "user_id": user_id, "room_id": room_id},
            exclude={user_id},
        )


HANDLERS = {
    "join_room": handle_join_room,
    "leave_room": handle_leave_room,
    "message": handle_chat_message,
    "ping": handle_ping,
    "typing": handle_typing,
}
