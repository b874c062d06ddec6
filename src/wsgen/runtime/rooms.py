"""Rooms and presence, for endpoints generated with ``--rooms``.

A room holds connections by user, so presence counts connections: a
user's first connection in a room announces ``user_joined`` to the others
there, and their last one leaving announces ``user_left``.

Presence is this process's own without a backend. A backend that keeps
presence for every process (Redis) is told each change instead and
decides what to announce; while it cannot (Redis unreachable), this
process announces from its own view.
"""

from __future__ import annotations

from typing import Any

import structlog

from .connection import Connection
from .manager import ConnectionManager
from .protocol import (
    ErrorCode,
    ProtocolError,
    encode,
    message_frame,
    utc_now,
)
from .settings import WebSocketSettings

__all__ = ["RoomManager"]

logger = structlog.get_logger(__name__)


def _not_in_room(room_id: str) -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_IN_ROOM, f"join {room_id!r} first")


def _is_message(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("type") == "message"


def _presence(kind: str, user_id: str, room_id: str) -> str:
    return encode(
        {
            "type": kind,
            "user_id": user_id,
            "room_id": room_id,
            "timestamp": utc_now(),
        }
    )


class RoomManager(ConnectionManager):
    def __init__(
        self,
        settings: WebSocketSettings | None = None,
        backend: Any = None,
        history: Any = None,  # --recover: a History (history.py)
    ) -> None:
        super().__init__(settings, backend)
        self.history = history
        # room_id -> user_id -> connections: presence counts connections.
        self._rooms: dict[str, dict[str, set[Connection]]] = {}

    async def start(self) -> None:
        await super().start()
        if self.history is not None:
            await self.history.attach(self)

    async def stop(self) -> None:
        await super().stop()
        if self.history is not None:
            await self.history.detach()

    def join(
        self,
        conn: Connection,
        room_id: str,
    ) -> list[str] | ProtocolError:
        """Add a connection to a room; returns the member list."""
        if room_id in conn.rooms:
            return self.members(room_id)
        limit = self.settings.max_rooms_per_connection
        if len(conn.rooms) >= limit:
            logger.warning(
                "ws.limit_hit",
                limit="rooms_per_connection",
                connection_id=conn.id,
                user_id=conn.user_id,
            )
            too_many = f"at most {limit} rooms"
            return ProtocolError(ErrorCode.TOO_MANY_ROOMS, too_many)
        if room_id not in self._rooms:
            self._rooms[room_id] = {}
            self._follow(f"room:{room_id}", True)
        room = self._rooms[room_id]
        others = self.room_connections(room_id)
        first = conn.user_id not in room
        mine = room.setdefault(conn.user_id, set())
        mine.add(conn)
        conn.rooms.add(room_id)
        logger.info(
            "ws.room_joined",
            connection_id=conn.id,
            user_id=conn.user_id,
            room_id=room_id,
        )
        if not self._track(room_id, conn.user_id, len(mine)) and first:
            # Sent once the indexes are final: a fan-out may close a slow
            # recipient, which comes back into this manager.
            self._tell(room_id, "user_joined", conn.user_id, others)
        return self.members(room_id)

    def leave(self, conn: Connection, room_id: str) -> bool:
        if room_id not in conn.rooms:
            return False
        conn.rooms.discard(room_id)
        room = self._rooms.get(room_id, {})
        mine = room.get(conn.user_id, set())
        mine.discard(conn)
        if not mine:
            room.pop(conn.user_id, None)
        if not room:
            self._rooms.pop(room_id, None)
            self._seq.pop(room_id, None)
            # Followed still while a rejoin reads its history (history.py).
            reading = bool(self.history and self.history.reading(room_id))
            self._follow(f"room:{room_id}", reading)
        logger.info(
            "ws.room_left",
            connection_id=conn.id,
            user_id=conn.user_id,
            room_id=room_id,
        )
        if not self._track(room_id, conn.user_id, len(mine)) and not mine:
            others = self.room_connections(room_id)
            self._tell(room_id, "user_left", conn.user_id, others)
        return True

    def _forget(self, conn: Connection) -> None:
        if conn.id in self._connections:
            for room_id in list(conn.rooms):
                self.leave(conn, room_id)
        super()._forget(conn)

    def _tell(
        self, room_id: str, kind: str, user_id: str, to: list[Connection]
    ) -> None:
        """Presence decided here: to the local room and the other processes."""
        frame = _presence(kind, user_id, room_id)
        self._fan_out(to, frame)
        if self.backend is not None:
            self.backend.relay_soon(f"room:{room_id}", frame)

    def _follow(self, channel: str, on: bool) -> None:
        if self.backend is not None:
            self.backend.follow(channel, on)

    def _announce(self, kind: str, user: str, room: str, local: bool) -> str:
        """Presence decided by the backend: to the local room unless it
        knows already (``local`` false); returns the frame for the others."""
        frame = _presence(kind, user, room)
        if local:
            here = self.room_connections(room)
            self._fan_out([c for c in here if c.user_id != user], frame)
        return frame

    def _targets(self, channel: str) -> list[Connection]:
        if channel.startswith("room:"):
            return self.room_connections(channel[5:])
        return super()._targets(channel)

    async def post(
        self, conn: Connection, room_id: str | None, content: str
    ) -> int | ProtocolError:
        """A chat message from a client: to its room, or to everybody."""
        if room_id is not None and room_id not in conn.rooms:
            return _not_in_room(room_id)
        if self.history is not None and room_id is not None:
            # Numbered and kept by the history, which fans it out.
            frame = message_frame(room_id, 0, conn.user_id, content)
            sent: int | ProtocolError = await self.history.post(room_id, frame)
            return sent
        return await super().post(conn, room_id, content)

    async def typing(
        self,
        conn: Connection,
        room_id: str,
    ) -> int | ProtocolError:
        """Typing indicator to the room, never echoed to its sender."""
        if room_id not in conn.rooms:
            return _not_in_room(room_id)
        frame = encode(
            {"type": "typing", "user_id": conn.user_id, "room_id": room_id},
        )
        if self.backend is not None:
            await self.backend.relay(f"room:{room_id}", frame)
        room = self.room_connections(room_id)
        others = [other for other in room if other.user_id != conn.user_id]
        return self._fan_out(others, frame)

    async def send_to_room(self, room_id: str, payload: Any) -> int:
        if self.history is not None and _is_message(payload):
            sent: int = await self.history.send(room_id, payload)
            return sent
        return await self._publish(f"room:{room_id}", encode(payload))

    def room_ids(self) -> list[str]:
        return sorted(self._rooms)

    def members(self, room_id: str) -> list[str]:
        """Users in ``room_id`` in this process."""
        return sorted(self._rooms.get(room_id, ()))

    async def room_members(self, room_id: str) -> list[str]:
        """Users in ``room_id`` in every process the backend knows: what
        ``room_joined`` lists."""
        shared = self.backend and await self.backend.shared("room", room_id)
        return sorted(set(self._rooms.get(room_id, ())) | (shared or set()))

    def room_connections(self, room_id: str) -> list[Connection]:
        room = self._rooms.get(room_id, {})
        return [conn for conns in room.values() for conn in conns]
