"""An endpoint's live connections, by user, and the fan-out to them: a
frame is encoded once and queued to every local recipient, never awaiting
a socket. With no backend this process is the whole audience; a backend
(Redis) carries frames and presence to the others. Rooms: ``rooms.py``.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import structlog

from .connection import Connection, Identity, OutboundSocket, text_frame
from .protocol import CloseCode, ProtocolError, encode, message_frame
from .settings import WebSocketSettings

__all__ = ["ConnectionManager"]

logger = structlog.get_logger(__name__)

ALL = "all"  # channels: "all", "user:<id>" and (rooms.py) "room:<id>"
_frozen = False


class ConnectionManager:
    def __init__(
        self,
        settings: WebSocketSettings | None = None,
        backend: Any = None,  # a BroadcastBackend (backend.py), or None
    ) -> None:
        self.settings = settings or WebSocketSettings.from_env()
        self.backend = backend
        self._connections: dict[str, Connection] = {}
        self._users: dict[str, set[Connection]] = {}
        self._seq: dict[str | None, int] = {}  # per room (None: to all)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """A lifespan: ``start``, and ``stop`` on the way out."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        global _frozen
        if self.settings.gc_freeze and not _frozen:
            # Start-up objects live as long as the process: scanning them made
            # each full collection a pause of 100 ms or more for every socket.
            _frozen = True
            gc.freeze()
        if self.backend is not None:
            await self.backend.attach(self)

    async def stop(self) -> None:
        """Close every connection (1012: clients come back at once)."""
        closing = list(self._connections.values())
        for conn in closing:
            conn.close(CloseCode.SERVICE_RESTART, "server shutting down")
        await asyncio.gather(*(conn.wait_closed() for conn in closing))
        if self.backend is not None:
            await self.backend.detach()

    def connect(
        self,
        socket: OutboundSocket,
        identity: Identity,
    ) -> Connection | None:
        """Register an accepted socket; None when the user has too many."""
        user_id = identity.user_id
        mine = self._users.get(user_id, set())
        if len(mine) >= self.settings.max_connections_per_user:
            logger.warning("ws.limit_hit", limit="connections_per_user")
            return None
        conn = Connection(socket, identity, self.settings, self._forget)
        self._connections[conn.id] = conn
        self._users[user_id] = mine
        mine.add(conn)
        self._track(None, user_id, len(mine))
        logger.info("ws.connected", connection_id=conn.id, user_id=user_id)
        return conn

    def _forget(self, conn: Connection) -> None:
        """Drop a closing connection from every index (sync, idempotent)."""
        if self._connections.pop(conn.id, None) is None:
            return
        mine = self._users.get(conn.user_id, set())
        mine.discard(conn)
        if not mine:
            self._users.pop(conn.user_id, None)
        self._track(None, conn.user_id, len(mine))
        logger.info("ws.disconnected", connection_id=conn.id)

    def _track(self, room_id: str | None, user_id: str, count: int) -> bool:
        """``user_id`` has ``count`` connections in ``room_id`` (None: at
        all) here; False unless the backend announces presence."""
        backend = self.backend
        return bool(backend and backend.here(room_id, user_id, count))

    def _targets(self, channel: str) -> list[Connection]:
        if channel.startswith("user:"):
            return list(self._users.get(channel[5:], ()))
        return list(self._connections.values()) if channel == ALL else []

    async def _publish(self, channel: str, text: str) -> int:
        if self.backend is not None:  # first: the others fan out meanwhile
            await self.backend.relay(channel, text)
        return self._fan_out(self._targets(channel), text)

    @staticmethod
    def _fan_out(targets: Iterable[Connection], text: str) -> int:
        data = text.encode()  # encoded and framed once for every receiver
        frame = text_frame(data)
        return sum(conn.send(text, len(data), frame) for conn in targets)

    async def post(
        self, conn: Connection, room_id: str | None, content: str
    ) -> int | ProtocolError:
        """A chat message from a client to everybody (to a room: rooms.py)."""
        seq = self._seq[room_id] = self._seq.get(room_id, 0) + 1
        frame = encode(message_frame(room_id, seq, conn.user_id, content))
        channel = f"room:{room_id}" if room_id else ALL
        return await self._publish(channel, frame)

    async def send_to_user(self, user_id: str, payload: Any) -> int:
        """Send to every connection of a user; returns how many."""
        return await self._publish(f"user:{user_id}", encode(payload))

    async def broadcast(self, payload: Any) -> int:
        return await self._publish(ALL, encode(payload))

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def user_ids(self) -> list[str]:
        return sorted(self._users)

    async def user_connections(self, user_id: str) -> int:
        """Connections of ``user_id`` in every process the backend knows."""
        shared = self.backend and await self.backend.shared("user", user_id)
        return max(shared or 0, len(self._users.get(user_id, ())))
