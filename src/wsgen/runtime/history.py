"""Room history (``--recover``): clients that rejoin get what they missed.

Each room keeps its last ``message`` frames (``WS_HISTORY_SIZE`` [100],
for ``WS_HISTORY_SECONDS`` [120]); typing and presence are not kept. Each
carries ``seq`` (+1 per message in the room) and ``epoch``, which changes
when the history is lost (process restarted, room quiet for too long).

A client rejoins with ``"since": {"seq": N, "epoch": "..."}`` on
``join_room``; ``room_joined`` carries the room's ``seq``, ``epoch`` and
``recovered``: true when every message after N follows, in order, before
any live one. False: reload the room from your own source of truth.

Here: a ring buffer per room in this process (the memory backend);
``redis_history.py`` keeps history in Redis, for several workers.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict, deque
from typing import Any

from pydantic import BaseModel, Field

from .connection import Connection
from .protocol import JoinRoom, ProtocolError, encode
from .settings import WebSocketSettings

__all__ = ["History", "JoinRoomSince", "Since"]

Kept = tuple[int, str]  # (seq, text) of one kept message frame
Sent = int | ProtocolError  # connections reached here, or why not sent


class Since(BaseModel):  # the last message a client saw in the room
    seq: int = Field(ge=0)
    epoch: str = Field(max_length=64)


class JoinRoomSince(JoinRoom):  # since: the replay asked for
    since: Since | None = None


def new_epoch() -> str:
    return uuid.uuid4().hex


def body_text(payload: dict[str, Any]) -> str:
    """The frame's JSON without its ``{`` and without ``seq`` or ``epoch``."""
    body = {k: v for k, v in payload.items() if k not in ("seq", "epoch")}
    return encode(body)[1:]


def frame_text(seq: int, epoch: str, payload: dict[str, Any]) -> str:
    # seq and epoch first, read back by seq_of (redis_history.py's too).
    return f'{{"seq":{seq},"epoch":"{epoch}",{body_text(payload)}'


def seq_of(text: str) -> tuple[int, str] | None:
    """(seq, epoch) of a frame built by ``frame_text``; None otherwise."""
    if not text.startswith('{"seq":'):
        return None
    seq, _, rest = text[7:].partition(',"epoch":"')
    return int(seq), rest[: rest.find('"')]


class _Room:
    def __init__(self, size: int) -> None:
        self.epoch, self.seq = new_epoch(), 0
        self.last = time.monotonic()  # the last message's time
        self.frames: deque[tuple[int, float, str]] = deque(maxlen=size)


class History:
    """Room history kept in this process (the memory backend)."""

    def __init__(self) -> None:
        self.size, self.seconds = 1, 0.0  # the manager's settings, running
        self.manager: Any = None
        # Least recently used first: expired rooms are dropped from the front.
        self._rooms: OrderedDict[str, _Room] = OrderedDict()
        # room_id -> frames seen while a join waits for its history read.
        self._pending: dict[str, list[list[str]]] = {}

    async def attach(self, manager: Any) -> None:
        """Start with the manager (``RoomManager(history=...)``): its room
        messages go through ``post``."""
        settings: WebSocketSettings = manager.settings
        self.manager = manager
        self.size = max(1, settings.history_size)
        self.seconds = settings.history_seconds
        await self.start()

    async def detach(self) -> None:
        await self.stop()

    # Where history lives is connected and left (nothing to do in memory).
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    # -- publishing ----------------------------------------------------------

    async def post(self, room_id: str, payload: dict[str, Any]) -> Sent:
        """A ``message`` frame to a room: numbered, kept, fanned out."""
        room = self._room(room_id)
        room.seq += 1
        room.last = time.monotonic()
        self._rooms.move_to_end(room_id)  # the order of ``last``
        text = frame_text(room.seq, room.epoch, payload)
        room.frames.append((room.seq, room.last, text))
        return int(await self.manager._publish(f"room:{room_id}", text))

    async def send(self, room_id: str, payload: dict[str, Any]) -> int:
        """``post`` for the server-side API: 0 when it could not be sent."""
        sent = await self.post(room_id, payload)
        return sent if isinstance(sent, int) else 0

    def reading(self, room_id: str) -> bool:
        """A join of ``room_id`` waits for its history read here."""
        return room_id in self._pending

    def seen(self, room_id: str, text: str) -> None:
        """A frame of ``room_id`` delivered here: kept for waiting joins."""
        for frames in self._pending.get(room_id, ()):
            frames.append(text)

    # -- rejoining -----------------------------------------------------------

    async def join(
        self,
        conn: Connection,
        room_id: str,
        since: Since | None,
    ) -> None:
        """Join, answer ``room_joined``, then replay what was missed."""
        manager = self.manager
        members = set(await manager.room_members(room_id))
        # It joins once the history is read: frames arriving meanwhile are
        # collected, and sent after the replay.
        waiting: list[str] = []
        self._pending.setdefault(room_id, []).append(waiting)
        try:
            seq, epoch, kept = await self.read(room_id)
        finally:
            self._pending[room_id].remove(waiting)
            if not self._pending[room_id]:
                del self._pending[room_id]
        joined = manager.join(conn, room_id)
        if isinstance(joined, ProtocolError):
            conn.send_error(joined.code, joined.message)
            await self.joined_failed(room_id)
            return
        frame: dict[str, Any] = {
            "type": "room_joined",
            "room_id": room_id,
            "users": sorted(members | set(joined)),
            "seq": seq,
            "epoch": epoch,
        }
        after = seq  # without since: live messages only
        if since is not None:
            same = since.epoch == epoch and since.seq <= seq
            after = since.seq if same else seq
            first = kept[0][0] if kept else seq + 1  # the oldest one kept
            frame["recovered"] = same and first <= after + 1
        conn.send_json(frame)
        for kept_seq, text in kept:
            if kept_seq > after:
                conn.send(text)
        for text in waiting:  # live ones, each once
            numbered = seq_of(text)
            if numbered is None or numbered[0] > seq or numbered[1] != epoch:
                conn.send(text)

    # A join refused after the read (nothing to undo in memory).
    async def joined_failed(self, room_id: str) -> None: ...

    async def read(self, room_id: str) -> tuple[int, str, list[Kept]]:
        """The room's seq, epoch and kept frames (oldest first)."""
        room = self._room(room_id)
        return room.seq, room.epoch, [(s, text) for s, _, text in room.frames]

    def _room(self, room_id: str) -> _Room:
        """The room's history, after forgetting what is too old."""
        rooms, oldest = self._rooms, time.monotonic() - self.seconds
        # Rooms quiet for longer than the retention: their history is lost.
        while rooms and next(iter(rooms.values())).last < oldest:
            rooms.popitem(last=False)
        room = rooms.get(room_id)
        if room is None or room.last < oldest:
            rooms.pop(room_id, None)
            room = rooms[room_id] = _Room(self.size)
        while room.frames and room.frames[0][1] < oldest:
            room.frames.popleft()
        return room
