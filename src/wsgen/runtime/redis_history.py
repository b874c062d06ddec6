"""Room history in Redis, shared by every worker (``--recover`` on Redis).

Per room, one hash slot (Redis Cluster): ``<prefix>:{<room>}:history``
(``seq``, ``epoch``; missing after the retention, or Redis flushed: a new
epoch) and the stream ``<prefix>:{<room>}:stream`` of its last messages.
One script numbers, keeps and publishes a message (the same ``seq`` on
every worker); scripts go through one connection, in order. Every worker,
this one too, fans a message out as its subscription hears it: in ``seq``
order. Rejoins of a room at the same moment (a deploy) share one read.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections import deque
from typing import Any

import structlog

from .history import History, Kept, Sent, body_text, new_epoch
from .protocol import ErrorCode, ProtocolError
from .redis_backend import RedisBackend
from .redis_session import ORIGIN

logger = structlog.get_logger(__name__)

# KEYS: the hash, the stream. ARGV: a new epoch, the ttl (ms), "post" or
# "read", then for a post: the frame without its "{", the size, the
# channel, no worker id (every worker delivers it); for a read: the
# age kept (ms), the channel, a marker. The marker, published after the
# read, tells this worker that what was numbered before has arrived.
SCRIPT = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'seq', 0, 'epoch', epoch)
  redis.call('DEL', KEYS[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] == 'post' then
  local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  local text = '{"seq":' .. seq .. ',"epoch":"' .. epoch .. '",' .. ARGV[4]
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'f', text)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  redis.call('PUBLISH', ARGV[6], ARGV[7] .. text)
  return text
end
local t = redis.call('TIME')
local oldest = string.format('%d', t[1] * 1000 + t[2] / 1000 - ARGV[4])
local kept = redis.call('XRANGE', KEYS[2], oldest, '+')
redis.call('PUBLISH', ARGV[5], ARGV[6])
return {redis.call('HGET', KEYS[1], 'seq'), epoch, kept}
"""
MARKER = "#"  # no JSON text starts with it: never a frame
UNAVAILABLE = ProtocolError(ErrorCode.INTERNAL_ERROR, "not sent: retry")
BATCH = 500  # most commands in one write


class RedisHistory(History):
    backend: RedisBackend  # the manager's, once attached

    def __init__(self) -> None:
        super().__init__()
        # (room_id, EVAL command, future), sent in this order.
        self._outbox: deque[tuple[str, tuple[Any, ...], Any]] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._reads: dict[str, asyncio.Task[tuple[int, str, list[Kept]]]] = {}
        self._markers: dict[str, asyncio.Future[None]] = {}
        self._deliver: Any = None

    def _eval(self, room_id: str, kind: str, *args: Any) -> Any:
        """Queue the script for the writer; a future of its reply."""
        if len(self._outbox) >= self.backend.queue_limit:
            raise RuntimeError("too many history commands waiting")
        slot = f"{self.backend.prefix}:{{{room_id}}}"  # the room's hash tag
        ttl = max(1, int(self.seconds * 1000))
        command = (
            "EVAL", SCRIPT, 2, f"{slot}:history", f"{slot}:stream",
            new_epoch(), ttl, kind, *args,
        )  # fmt: skip
        done = asyncio.get_running_loop().create_future()
        self._outbox.append((room_id, command, done))
        self._wake.set()
        return done

    async def start(self) -> None:
        self.backend = self.manager.backend
        # Frames from other workers pass here first (markers, waiting joins).
        self._deliver, self.backend.deliver = self.backend.deliver, self._heard
        self._writer = asyncio.get_running_loop().create_task(self._write())

    async def stop(self) -> None:
        self.backend.deliver = self._deliver
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.wait({self._writer})

    def _heard(self, channel: str, message: str) -> None:
        if message.startswith(MARKER):  # a read's marker, not a frame
            if waiter := self._markers.pop(message[1:], None):
                waiter.set_result(None)
            return
        if self._pending and channel.startswith("room:"):
            self.seen(channel[5:], message)
        self._deliver(channel, message)

    async def post(self, room_id: str, payload: dict[str, Any]) -> Sent:
        channel = self.backend.channel(f"room:{room_id}")
        args = body_text(payload), self.size, channel, "-" * ORIGIN
        try:
            sent: int = await self._eval(room_id, "post", *args)
        except Exception as error:  # noqa: BLE001 - Redis unavailable
            logger.warning("ws.history_unavailable", error=repr(error))
            return UNAVAILABLE
        return sent

    async def _write(self) -> None:
        """Send what is queued in one go; act on each reply, in order."""
        redis = importlib.import_module("redis.asyncio")
        errors = importlib.import_module("redis.exceptions")
        # Idle for a second: checked (and reconnected once) before use.
        pool = redis.ConnectionPool.from_url(
            self.backend.url,
            health_check_interval=1,
            socket_timeout=5.0,
            retry_on_error=[errors.ConnectionError],
        )
        connection = pool.make_connection()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                count = min(len(self._outbox), BATCH)
                batch = [self._outbox.popleft() for _ in range(count)]
                for room_id, command, _ in batch:
                    if command[7] == "read":  # sent: later rejoins read anew
                        self._reads.pop(room_id, None)
                try:
                    packed = connection.pack_commands([b[1] for b in batch])
                    await connection.send_packed_command(packed)
                    for room_id, command, done in batch:
                        try:
                            reply = await connection.read_response()
                        except errors.ResponseError as error:  # this one
                            done.set_exception(error)
                            continue
                        if command[7] == "post":  # fanned out when heard
                            here = self.manager.room_connections(room_id)
                            done.set_result(len(here))
                        else:
                            done.set_result(reply)
                except Exception as error:  # noqa: BLE001 - fails this batch
                    await connection.disconnect()
                    for *_, done in batch:
                        if not done.done():
                            done.set_exception(error)

    async def read(self, room_id: str) -> tuple[int, str, list[Kept]]:
        """Shared by the rejoins of the room until it is sent."""
        task = self._reads.get(room_id)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._read(room_id))
            self._reads[room_id] = task
        try:
            return await asyncio.shield(task)
        except Exception as error:  # noqa: BLE001 - Redis unavailable
            logger.warning("ws.history_unavailable", error=repr(error))
            return 0, "", []

    async def _read(self, room_id: str) -> tuple[int, str, list[Kept]]:
        # This worker hears the room before reading it: no message falls
        # between the history read and the live ones.
        # Followed as the manager follows it: a leave or a refused join
        # ends it (``backend.follow``), never behind the manager's back.
        self.backend._followed.add(f"room:{room_id}")
        await self.backend.subscribe(f"room:{room_id}")
        session = self.backend._session
        if session is not None:
            await session.settle()
        marker, loop = uuid.uuid4().hex, asyncio.get_running_loop()
        heard = self._markers[marker] = loop.create_future()
        age = int(self.seconds * 1000)
        channel = self.backend.channel(f"room:{room_id}")
        note = "-" * ORIGIN + MARKER + marker  # from no worker: all read it
        try:
            reply = await self._eval(room_id, "read", age, channel, note)
            await asyncio.wait({heard}, timeout=2.0)  # at most
        finally:
            self._markers.pop(marker, None)
        seq, epoch, entries = reply
        # Entries: [id, [b"f", text]]; each text starts with '{"seq":N,'.
        texts = [fields[1].decode() for _, fields in entries]
        kept = [(int(t[7 : t.index(",")]), t) for t in texts]
        return int(seq), epoch.decode(), kept[-self.size :]

    async def joined_failed(self, room_id: str) -> None:
        """The read subscribed this worker: undo it if nobody is here."""
        if not self.manager.room_connections(room_id):
            self.backend.follow(f"room:{room_id}", False)
