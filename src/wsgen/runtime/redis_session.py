"""One session with Redis, through redis-py: from connecting to failing.

Two redis-py clients opened from the same URL (so TLS, Unix sockets and
credentials work alike for both; hiredis parses replies when installed):

* the subscription: one task reads it and fans each frame out as it
  arrives, at most ``FRAMES_PER_STEP`` before letting the loop run;
* commands: one task writes the queued frames in one pipeline (a publish
  never waits for Redis), and one task brings Redis to what this worker
  wants, in order: its subscriptions, its presence, the heartbeat.

Any failure ends the session; the backend opens a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import json
import time
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import structlog

from .connection import finished
from .redis_presence import SCRIPT, field

if TYPE_CHECKING:
    from .redis_backend import RedisBackend

__all__ = ["Session"]

logger = structlog.get_logger(__name__)

CONNECT_TIMEOUT = 2.0  # seconds to open a connection
COMMAND_TIMEOUT = 5.0  # seconds for a command to answer
SETTLE_TIMEOUT = 2.0  # most a member list waits for pending changes
FRAMES_PER_STEP = 64  # frames from Redis fanned out per step of the loop
BATCH = 1000  # most frames in one write to Redis
ORIGIN = 32  # a worker id's length: the prefix of each frame published


class Session:
    """One connection to Redis: its clients, queues and tasks."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self.client: Any = None  # commands and PUBLISH, with a timeout
        self._pubsub: Any = None  # its client has no read timeout
        self._script: Any = None  # the presence script (EVALSHA)
        self._outbox: deque[tuple[str, str]] = deque()
        self._in_flight = 0  # frames written, not yet acknowledged
        self._mail = asyncio.Event()  # the outbox has frames
        self._subscribed: set[str] = set()  # channels, as Redis has them
        self._pong = asyncio.Event()
        self._changes: dict[str, int] = {}  # presence field -> count
        self._beat = False  # the heartbeat is due
        self._wake = asyncio.Event()  # something for Redis to catch up
        self._idle = asyncio.Event()  # Redis has caught up
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        redis = importlib.import_module("redis.asyncio")
        retry = importlib.import_module("redis.asyncio.retry")
        backoff = importlib.import_module("redis.backoff")
        url = self.backend.url
        # No retries inside redis-py: a failure ends the session instead.
        options: dict[str, Any] = {
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "retry": retry.Retry(backoff.NoBackoff(), 0),
        }
        if not url.startswith("unix:"):  # TCP: notice a dead peer
            options["socket_keepalive"] = True
        timeout = {"socket_timeout": COMMAND_TIMEOUT}
        self.client = redis.Redis.from_url(
            url, decode_responses=True, **timeout, **options
        )
        await self.client.ping()
        self._script = self.client.register_script(SCRIPT)
        # Bytes, and no read timeout: a quiet subscription is no failure
        # (the heartbeat PINGs it), a frame that is not UTF-8 is dropped.
        self._pubsub = redis.Redis.from_url(url, **options).pubsub()
        await self._pubsub.connect()
        self._start(self._read())
        # From here on changes wait for the snapshot taken next.
        self.backend._session = self
        self.changed()
        await self._subscribe()
        await self._write("replace", self._counts())
        self._start(self._publish(), self._catch_up(), self._keep())

    def _start(self, *works: Coroutine[Any, Any, None]) -> None:
        self._tasks += [asyncio.create_task(work) for work in works]

    async def run(self) -> None:
        """Until Redis fails: raises what broke the session."""
        first = asyncio.FIRST_COMPLETED
        done, _ = await asyncio.wait(self._tasks, return_when=first)
        for task in done:
            task.result()  # they end only by failing

    async def close(self) -> None:
        self.backend._dropped += self.pending  # never acknowledged: lost
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        for task in self._tasks:  # retrieved: no "never retrieved" logs
            _ = task.cancelled() or task.exception()
        if self.backend._session is self:
            self.backend._session = None
        for closing in (self._pubsub, self.client):
            if closing is not None:
                with contextlib.suppress(Exception):
                    # aclose() since redis 5.0.1, close() before.
                    await getattr(closing, "aclose", closing.close)()

    async def finish(self) -> None:
        """Graceful stop: apply queued changes, leave presence, flush."""
        await self.settle()
        await self._write("leave", {})
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    # -- the subscription --------------------------------------------------

    async def _read(self) -> None:
        """Each frame is fanned out as it is read."""
        for handled in itertools.count(1):
            message = await self._pubsub.get_message(timeout=None)
            if message is None:
                continue
            if message["type"] == "message":
                self._received(message["channel"], message["data"])
            elif message["type"] == "pong":
                self._pong.set()
            if handled % FRAMES_PER_STEP == 0:
                await asyncio.sleep(0)  # a backlog does not hold the loop

    def _received(self, channel: bytes, data: bytes) -> None:
        backend = self.backend
        try:
            name, text = channel.decode(), data.decode()
        except (AttributeError, UnicodeDecodeError):
            backend.drop("inbound")  # not a frame of this backend
            return
        if text[:ORIGIN] == backend.worker_id:
            return  # published here: delivered here already
        try:
            backend.deliver(name[len(backend.prefix) + 1 :], text[ORIGIN:])
        except Exception:  # one frame failed, not the subscription
            logger.exception("ws.redis_deliver_failed", channel=name)

    async def ping(self) -> None:
        """The subscription answers (and so has answered every command
        before): a NAT may drop a quiet connection without a word."""
        self._pong.clear()
        await self._pubsub.ping()
        answered = asyncio.ensure_future(self._pong.wait())
        if not await finished(answered, COMMAND_TIMEOUT):
            raise TimeoutError("Redis did not answer a PING")

    # -- publishing --------------------------------------------------------

    @property
    def pending(self) -> int:
        """Frames published and not yet acknowledged by Redis."""
        return len(self._outbox) + self._in_flight

    def publish(self, channel: str, message: str) -> None:
        """Queue a frame for the publisher task; never waits."""
        backend = self.backend
        if self.pending >= backend.queue_limit:
            backend.drop("outbound")  # Redis is not keeping up
            return
        data = backend.worker_id + message
        self._outbox.append((backend.channel(channel), data))
        self._mail.set()

    async def _publish(self) -> None:
        """Write what is queued in one pipeline, read the replies, repeat."""
        outbox = self._outbox
        while True:
            while outbox:
                size = min(len(outbox), BATCH)
                batch = [outbox.popleft() for _ in range(size)]
                self._in_flight = len(batch)
                pipe = self.client.pipeline(transaction=False)
                for channel, data in batch:
                    pipe.publish(channel, data)
                await pipe.execute()
                self._in_flight = 0
            self._mail.clear()
            await self._mail.wait()

    # -- subscriptions and presence ----------------------------------------

    def changed(self, field: str | None = None, count: int = 0) -> None:
        """Something to bring to Redis: a presence ``field`` (or the
        subscriptions, without one). Never waits."""
        if field is not None:
            self._changes[field] = count
        self._idle.clear()
        self._wake.set()

    async def settle(self) -> None:
        """Wait (a little) until Redis has what was changed so far."""
        idle = asyncio.ensure_future(self._idle.wait())
        await finished(idle, SETTLE_TIMEOUT)

    async def _catch_up(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._subscribe()
            changes, self._changes = self._changes, {}
            if changes or self._beat:
                await self._write("patch", changes)
            if self._beat:
                self._beat = False
                await self.ping()
            if not self._wake.is_set():
                self._idle.set()

    async def _subscribe(self) -> None:
        """Subscribe to the channels the backend wants, until Redis has
        confirmed: frames published from then on reach this worker."""
        wanted, channel = set(self.backend.channels), self.backend.channel
        gone, new = self._subscribed - wanted, wanted - self._subscribed
        self._subscribed = wanted
        if gone:
            await self._pubsub.unsubscribe(*map(channel, gone))
        if new:
            await self._pubsub.subscribe(*map(channel, new))
            await self.ping()  # answered after the SUBSCRIBEs

    async def _write(self, mode: str, counts: dict[str, int]) -> None:
        backend = self.backend
        ttl = int(backend.presence_ttl * 1000)
        counted = json.dumps(counts, ensure_ascii=False)
        args = [backend.prefix, backend.worker_id, ttl, mode, counted]
        fresh, *moves = await self._script(args=args)
        # Local clients heard of local changes while Redis was away.
        self._announce(moves, local=mode != "replace")
        if fresh and mode == "patch":  # taken for dead: all of it again
            await self._write("replace", self._counts())

    def _announce(self, moves: list[Any], *, local: bool) -> None:
        """Users who joined or left a room: tell the other workers, and
        the local room unless it knows already (``local`` false)."""
        for index in range(0, len(moves) - 2, 3):
            kind, room_id, user_id = map(str, moves[index : index + 3])
            frame = self.backend.announce(kind, user_id, room_id, local)
            self.publish(f"room:{room_id}", frame)

    def _counts(self) -> dict[str, int]:
        """This worker's presence, as the script's fields."""
        return {
            field(room_id, user_id): count
            for (room_id, user_id), count in self.backend.snapshot().items()
            if count > 0
        }

    async def _keep(self) -> None:
        """The heartbeat: renew this worker, reap the dead ones, PING."""
        while True:
            await asyncio.sleep(self.backend.heartbeat)
            self._beat = True
            self.changed()
