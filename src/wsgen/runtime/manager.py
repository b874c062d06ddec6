"""Indexes of live connections, rooms and presence, and the fan-out.

Fan-out encodes a frame once and queues the same text to every local
recipient (never awaiting a socket), then hands it to the backend for the
other processes. Counts returned by the server-side API are the
connections reached in this process.

Presence (``user_joined``/``user_left``, member lists) is this process's
own with the memory backend. A backend that keeps presence for every
process (Redis) is told each change instead and decides what to announce;
while it cannot (Redis unreachable), this process announces from its own
view, as the memory backend does.

One manager may serve several lifespans at once, each on its own event
loop (a test suite running a session-wide ``TestClient`` next to per-test
ones). Lifespans are counted per loop: the last one ending on a loop
closes that loop's connections only. The backend listener runs on one
loop; it is handed over when that loop's lifespans end while others run,
and restarted when its loop has been closed. Nothing here ever awaits a
task of another loop.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Coroutine, Iterable
from contextlib import asynccontextmanager
from typing import Any

import structlog

from .backend import BroadcastBackend, MemoryBackend
from .connection import Connection, Identity, OutboundSocket, text_frame
from .protocol import (
    CloseCode,
    ErrorCode,
    ProtocolError,
    encode,
    message_frame,
    utc_now,
)
from .settings import WebSocketSettings

__all__ = ["ConnectionManager"]

logger = structlog.get_logger(__name__)

ALL = "all"


def _room(room_id: str) -> str:
    return f"room:{room_id}"


def _user(user_id: str) -> str:
    return f"user:{user_id}"


def _not_in_room(room_id: str) -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_IN_ROOM, f"join {room_id!r} first")


def _is_message(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("type") == "message"


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_frozen = False


def _freeze_startup_objects() -> None:
    """Once per process: what exists at start-up lives as long as the
    process, and scanning it made each full collection a pause of 100 ms
    or more for every socket (seen as the p99 of room fan-out)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


class ConnectionManager:
    def __init__(
        self,
        settings: WebSocketSettings | None = None,
        backend: BroadcastBackend | None = None,
    ) -> None:
        self.settings = settings or WebSocketSettings.from_env()
        self.backend = backend or MemoryBackend()
        self._connections: dict[str, Connection] = {}
        self._users: dict[str, set[Connection]] = {}
        # room_id -> user_id -> connections: presence counts connections.
        self._rooms: dict[str, dict[str, set[Connection]]] = {}
        self._seq: dict[str, int] = {}
        self.history: Any = None  # --recover: set by history.py while running
        self._listener: asyncio.Task[None] | None = None
        self._lifespans: dict[asyncio.AbstractEventLoop, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ConnectionManager]:
        """One lifespan: the backend listener runs while any lifespan
        does; the last one on this loop closes its connections (1012)."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def start(self) -> None:
        """Begin one lifespan on the running loop."""
        if self.settings.gc_freeze:
            _freeze_startup_objects()
        loop = asyncio.get_running_loop()
        self._prune()
        self._lifespans[loop] = self._lifespans.get(loop, 0) + 1
        if self._listener_loop() is not None:
            return  # already listening, maybe on another loop
        try:
            await self._connect_backend()
        except BaseException:
            self._end_lifespan(loop)
            raise
        self._listener = loop.create_task(
            self._listen(),
            name="ws-backend-listener",
        )

    async def stop(
        self,
        code: int = CloseCode.SERVICE_RESTART,
        reason: str = "server shutting down",
    ) -> None:
        """End one lifespan; the last one on this loop closes its sockets."""
        loop = asyncio.get_running_loop()
        if self._end_lifespan(loop):
            return
        everyone = list(self._connections.values())
        mine = [conn for conn in everyone if conn.loop is loop]
        for conn in mine:
            conn.close(code, reason)
        await asyncio.gather(*(conn.wait_closed() for conn in mine))
        listener = self._listener
        if listener is not None and listener.get_loop() is loop:
            self._listener = None
            listener.cancel()
            await asyncio.wait({listener})
            await self.backend.disconnect()
            self._hand_over_listener()
        tasks = {task for task in list(self._tasks) if task.get_loop() is loop}
        if tasks:
            await asyncio.wait(tasks)

    def _end_lifespan(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Count one lifespan out; True while others run on ``loop``."""
        left = self._lifespans.pop(loop, 0) - 1
        if left > 0:
            self._lifespans[loop] = left
        return left > 0

    def _prune(self) -> None:
        """Forget what belonged to event loops that are closed by now."""
        for loop in [loop for loop in self._lifespans if loop.is_closed()]:
            del self._lifespans[loop]
        for conn in list(self._connections.values()):
            if conn.loop.is_closed():
                self._forget(conn)

    async def _connect_backend(self) -> None:
        self.backend.bind(
            self._deliver,
            self._announce,
            self._presence_snapshot,
        )
        await self.backend.connect()
        channels = [ALL, *map(_user, self._users), *map(_room, self._rooms)]
        for channel in channels:
            await self.backend.subscribe(channel)

    def _listener_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop of a live listener, if there is one."""
        listener = self._listener
        if listener is None or listener.done():
            return None
        loop = listener.get_loop()
        return None if loop.is_closed() else loop

    def _on_listener_loop(self) -> bool:
        loop = self._listener_loop()
        return loop is not None and loop is _running_loop()

    def _hand_over_listener(self) -> None:
        """The listener's loop is done: listen on a loop still running."""
        for loop in self._lifespans:
            try:
                loop.call_soon_threadsafe(self._resume_listener)
            except RuntimeError:  # closed meanwhile: try the next one
                continue
            return

    def _resume_listener(self) -> None:
        loop = asyncio.get_running_loop()
        if self._listener is None and loop in self._lifespans:
            self._listener = loop.create_task(
                self._listen(resume=True),
                name="ws-backend-listener",
            )

    async def _listen(self, *, resume: bool = False) -> None:
        """Holds the backend connection on this loop; frames from other
        processes arrive through ``_deliver``."""
        try:
            if resume:
                await self._connect_backend()
            await asyncio.get_running_loop().create_future()
        except Exception:
            logger.exception("ws.backend_failed")

    def _deliver(self, channel: str, message: str) -> None:
        self._fan_out(self._targets(channel), message)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Backend work started from sync code, on the listener's loop."""
        loop = self._listener_loop()
        if loop is None:
            work.close()
            return
        if loop is not _running_loop():
            try:
                loop.call_soon_threadsafe(self._spawn, work)
            except RuntimeError:  # its loop closed meanwhile
                work.close()
            return
        task = loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _subscribe(self, channel: str, subscribe: bool) -> None:
        if self._listener is not None:
            backend = self.backend
            op = backend.subscribe if subscribe else backend.unsubscribe
            self._spawn(op(channel))

    async def _publish(
        self,
        channel: str,
        text: str,
        targets: Iterable[Connection],
    ) -> int:
        # Published first: other processes fan out while this one does.
        loop = self._listener_loop()
        if loop is not None and loop is _running_loop():
            await self.backend.publish(channel, text)
        elif loop is not None:
            self._spawn(self.backend.publish(channel, text))
        return self._fan_out(targets, text)

    def _publish_soon(
        self,
        channel: str,
        text: str,
        targets: Iterable[Connection],
    ) -> None:
        self._fan_out(targets, text)
        if self._listener is not None:
            self._spawn(self.backend.publish(channel, text))

    # -- connections -------------------------------------------------------

    def connect(
        self,
        socket: OutboundSocket,
        identity: Identity,
    ) -> Connection | None:
        """Register an accepted socket; None when the user has too many."""
        user_id = identity.user_id
        mine = self._users.get(user_id, set())
        if len(mine) >= self.settings.max_connections_per_user:
            logger.warning(
                "ws.limit_hit",
                limit="connections_per_user",
                user_id=user_id,
            )
            return None
        conn = Connection(socket, identity, self.settings, self._forget)
        self._connections[conn.id] = conn
        if not mine:
            self._users[user_id] = mine
            self._subscribe(_user(user_id), True)
        mine.add(conn)
        self._track(None, user_id, len(mine))
        logger.info(
            "ws.connected",
            connection_id=conn.id,
            user_id=user_id,
            authenticated=identity.authenticated,
            connections=len(self._connections),
        )
        return conn

    def _forget(self, conn: Connection) -> None:
        """Drop a closing connection from every index (sync, idempotent)."""
        if self._connections.pop(conn.id, None) is None:
            return
        for room_id in list(conn.rooms):
            self._leave(conn, room_id)
        mine = self._users.get(conn.user_id)
        if mine is not None:
            mine.discard(conn)
            self._track(None, conn.user_id, len(mine))
            if not mine:
                del self._users[conn.user_id]
                self._subscribe(_user(conn.user_id), False)
        logger.info(
            "ws.disconnected",
            connection_id=conn.id,
            user_id=conn.user_id,
            code=conn.close_code,
            reason=conn.close_reason,
        )

    # -- rooms -------------------------------------------------------------

    def join(
        self,
        conn: Connection,
        room_id: str,
    ) -> list[str] | ProtocolError:
        """Add a connection to a room; returns the member list."""
        if room_id not in conn.rooms:
            if len(conn.rooms) >= self.settings.max_rooms_per_connection:
                logger.warning(
                    "ws.limit_hit",
                    limit="rooms_per_connection",
                    connection_id=conn.id,
                    user_id=conn.user_id,
                )
                return ProtocolError(
                    ErrorCode.TOO_MANY_ROOMS,
                    f"at most {self.settings.max_rooms_per_connection} rooms",
                )
            room = self._rooms.get(room_id)
            if room is None:
                room = self._rooms[room_id] = {}
                self._subscribe(_room(room_id), True)
            others = self.room_connections(room_id)
            first = conn.user_id not in room
            mine = room.setdefault(conn.user_id, set())
            mine.add(conn)
            conn.rooms.add(room_id)
            tracked = self._track(room_id, conn.user_id, len(mine))
            if first and not tracked:
                # Presence: only a user's first connection announces them.
                # Published after the indexes are final: a fan-out may close
                # a slow recipient, which re-enters this manager.
                self._publish_soon(
                    _room(room_id),
                    self._presence("user_joined", conn.user_id, room_id),
                    others,
                )
            logger.info(
                "ws.room_joined",
                connection_id=conn.id,
                user_id=conn.user_id,
                room_id=room_id,
            )
        return self.members(room_id)

    def leave(self, conn: Connection, room_id: str) -> bool:
        if room_id not in conn.rooms:
            return False
        self._leave(conn, room_id)
        return True

    def _leave(self, conn: Connection, room_id: str) -> None:
        conn.rooms.discard(room_id)
        room = self._rooms.get(room_id, {})
        mine = room.get(conn.user_id, set())
        mine.discard(conn)
        last = not mine
        if last:
            room.pop(conn.user_id, None)
        if not room:
            self._rooms.pop(room_id, None)
            self._seq.pop(room_id, None)
            self._subscribe(_room(room_id), False)
        tracked = self._track(room_id, conn.user_id, len(mine))
        logger.info(
            "ws.room_left",
            connection_id=conn.id,
            user_id=conn.user_id,
            room_id=room_id,
        )
        if last and not tracked:
            # Presence: the user's last connection in the room is gone.
            self._publish_soon(
                _room(room_id),
                self._presence("user_left", conn.user_id, room_id),
                self.room_connections(room_id),
            )

    def _track(self, room_id: str | None, user_id: str, count: int) -> bool:
        """Hand a presence change to a backend that keeps presence for every
        process; False when this process has to announce it itself."""
        backend = self.backend
        loop = self._listener_loop()
        if loop is None or not backend.tracking:
            return False
        if loop is _running_loop():
            backend.track(room_id, user_id, count)
            return True
        try:
            loop.call_soon_threadsafe(backend.track, room_id, user_id, count)
        except RuntimeError:  # its loop closed meanwhile
            return False
        return True

    def _announce(
        self,
        kind: str,
        user_id: str,
        room_id: str,
        local: bool,
    ) -> str:
        """A presence change decided by the backend: tell the local room
        (unless ``local`` is false: it knows already), return the frame for
        the other processes."""
        frame = self._presence(kind, user_id, room_id)
        if not local:
            return frame
        room = self.room_connections(room_id)
        others = [conn for conn in room if conn.user_id != user_id]
        self._fan_out(others, frame)
        return frame

    def _presence_snapshot(self) -> dict[tuple[str | None, str], int]:
        """This process's presence, for a backend re-registering it."""
        users = self._users.items()
        counts: dict[tuple[str | None, str], int] = {
            (None, user_id): len(conns) for user_id, conns in users
        }
        for room_id, room in self._rooms.items():
            for user_id, conns in room.items():
                counts[room_id, user_id] = len(conns)
        return counts

    @staticmethod
    def _presence(kind: str, user_id: str, room_id: str) -> str:
        return encode(
            {
                "type": kind,
                "user_id": user_id,
                "room_id": room_id,
                "timestamp": utc_now(),
            }
        )

    # -- fan-out -----------------------------------------------------------

    def _targets(self, channel: str) -> list[Connection]:
        kind, _, key = channel.partition(":")
        if kind == "room":
            return self.room_connections(key)
        if kind == "user":
            return list(self._users.get(key, ()))
        return list(self._connections.values())

    @staticmethod
    def _fan_out(targets: Iterable[Connection], text: str) -> int:
        # Encoded and framed once for every receiver.
        data = text.encode()
        frame = text_frame(data)
        return sum(conn.send(text, len(data), frame) for conn in targets)

    async def post(
        self,
        conn: Connection,
        room_id: str | None,
        content: str,
    ) -> int | ProtocolError:
        """A chat message from a client: to its room, or to everybody."""
        if room_id is not None and room_id not in conn.rooms:
            return _not_in_room(room_id)
        if self.history is not None and room_id is not None:  # --recover
            message = message_frame(room_id, 0, conn.user_id, content)
            return await self.history.post(room_id, message)  # type: ignore[no-any-return]
        key = room_id or ""
        seq = self._seq[key] = self._seq.get(key, 0) + 1
        frame = encode(message_frame(room_id, seq, conn.user_id, content))
        if room_id is None:
            return await self._publish(ALL, frame, self._targets(ALL))
        return await self._publish(
            _room(room_id),
            frame,
            self.room_connections(room_id),
        )

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
        others = [
            other
            for other in self.room_connections(room_id)
            if other.user_id != conn.user_id
        ]
        return await self._publish(_room(room_id), frame, others)

    # -- server-side API ---------------------------------------------------

    async def send_to_user(self, user_id: str, payload: Any) -> int:
        """Send to every connection of a user; returns how many."""
        channel = _user(user_id)
        return await self._publish(
            channel,
            encode(payload),
            self._targets(channel),
        )

    async def send_to_room(self, room_id: str, payload: Any) -> int:
        if self.history is not None and _is_message(payload):  # --recover
            return await self.history.send(room_id, payload)  # type: ignore[no-any-return]
        channel = _room(room_id)
        return await self._publish(
            channel,
            encode(payload),
            self._targets(channel),
        )

    async def broadcast(self, payload: Any) -> int:
        return await self._publish(ALL, encode(payload), self._targets(ALL))

    # -- introspection -----------------------------------------------------

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def user_ids(self) -> list[str]:
        return sorted(self._users)

    def room_ids(self) -> list[str]:
        return sorted(self._rooms)

    def members(self, room_id: str) -> list[str]:
        """Users in ``room_id`` in this process."""
        return sorted(self._rooms.get(room_id, ()))

    async def room_members(self, room_id: str) -> list[str]:
        """Users in ``room_id`` in every process (with the memory backend,
        in this one): what ``room_joined`` lists."""
        local = set(self._rooms.get(room_id, ()))
        if not self.backend.tracking or not self._on_listener_loop():
            return sorted(local)
        shared = await self.backend.room_members(room_id)
        return sorted(local | (shared or set()))

    async def user_connections(self, user_id: str) -> int:
        """Connections of ``user_id`` in every process (with the memory
        backend, in this one)."""
        local = len(self._users.get(user_id, ()))
        if not self.backend.tracking or not self._on_listener_loop():
            return local
        shared = await self.backend.user_connections(user_id)
        return local if shared is None else max(shared, local)

    def connections_of(self, user_id: str) -> list[Connection]:
        return list(self._users.get(user_id, ()))

    def room_connections(self, room_id: str) -> list[Connection]:
        room = self._rooms.get(room_id, {})
        return [conn for conns in room.values() for conn in conns]
