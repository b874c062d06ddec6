"""One session with Redis, through redis-py: from connecting to failing.

Three connections, all opened by ``redis.asyncio`` from the same URL (so
TLS, Unix sockets and credentials work alike for each; hiredis parses
replies when it is installed):

* the subscription (redis-py's ``PubSub``): one task reads it and fans
  each frame out as it arrives, at most ``FRAMES_PER_STEP`` before letting
  the event loop run something else;
* the publisher: frames wait in a bounded outbox that one task writes,
  everything queued at once in one pipelined write; a publish never waits
  for Redis, and what does not fit in the outbox is dropped and counted;
* commands (a redis-py client): presence scripts and reads, applied in
  order by one task.

Any failure ends the session; the backend opens a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog

from . import redis_presence

if TYPE_CHECKING:
    from .redis_backend import RedisBackend

__all__ = ["Session"]

logger = structlog.get_logger(__name__)

CONNECT_TIMEOUT = 2.0  # seconds to open a connection
COMMAND_TIMEOUT = 5.0  # seconds for a command to answer
SETTLE_TIMEOUT = 2.0  # most a member list waits for pending changes
FRAMES_PER_STEP = 64  # frames from Redis fanned out per step of the loop
BATCH = 1000  # most frames in one write to Redis

Op = Callable[[], Awaitable[None]]


class Session:
    """One connection to Redis: its clients, queues and tasks."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self.up = False
        self.client: Any = None  # commands (redis-py), with a timeout
        self._listener: Any = None  # the client the subscription belongs to
        self._pubsub: Any = None
        self._publisher: Any = None  # one redis-py connection, for PUBLISH
        self._outbox: deque[tuple[str, str] | asyncio.Future[None]] = deque()
        self._in_flight = 0  # frames written, not yet acknowledged
        self._wake = asyncio.Event()
        self._scripts: dict[str, Any] = {}
        self._ops: asyncio.Queue[Op] = asyncio.Queue(backend.queue_limit)
        self._broken: asyncio.Future[None] | None = None
        self._confirm: dict[str, list[asyncio.Future[None]]] = {}
        self._pong: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._keys = (f"{backend.prefix}:workers", "")
        self._args = (
            backend.prefix,
            backend.worker_id,
            int(backend.presence_ttl * 1000),
        )

    async def open(self) -> None:
        redis = importlib.import_module("redis.asyncio")
        retry = importlib.import_module("redis.asyncio.retry")
        backoff = importlib.import_module("redis.backoff")
        backend = self.backend
        # No retries inside redis-py: a failure ends the session instead.
        options: dict[str, Any] = {
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "retry": retry.Retry(backoff.NoBackoff(), 0),
        }
        if not backend.url.startswith("unix:"):  # TCP: notice a dead peer
            options["socket_keepalive"] = True
        self._broken = asyncio.get_running_loop().create_future()
        self.client = redis.Redis.from_url(
            backend.url,
            decode_responses=True,
            socket_timeout=COMMAND_TIMEOUT,
            **options,
        )
        await self.client.ping()
        self._keys = (
            f"{backend.prefix}:workers",
            f"{backend.prefix}:w:{backend.worker_id}",
        )
        self._scripts = redis_presence.register(self.client)
        # Bytes, and no read timeout: a quiet subscription is no failure
        # (heartbeat PINGs watch it), a frame that is not UTF-8 is dropped.
        self._listener = redis.Redis.from_url(backend.url, **options)
        self._pubsub = self._listener.pubsub()
        await self._pubsub.connect()
        pool = redis.ConnectionPool.from_url(
            backend.url, socket_timeout=COMMAND_TIMEOUT, **options
        )
        self._publisher = pool.make_connection()
        await self._publisher.connect()
        self.up = True
        self._spawn(self._read())
        # From here on changes queue up behind the snapshot taken next.
        backend._session = self
        await self.subscribe(sorted(backend._channels))
        await self.resync()
        self._spawn(self._publish())
        self._spawn(self._control())
        self._spawn(self._keep())

    async def run(self) -> None:
        """Until Redis fails: raises what broke the session."""
        assert self._broken is not None
        await self._broken

    def _spawn(self, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - handed to the session
                self.fail(error)

        self._tasks.append(asyncio.get_running_loop().create_task(guarded()))

    def fail(self, error: BaseException) -> None:
        if self._broken is not None and not self._broken.done():
            self._broken.set_exception(error)

    async def close(self) -> None:
        self.up = False
        self.backend._dropped += self.pending  # never acknowledged: lost
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._broken is not None and self._broken.done():
            self._broken.exception()  # retrieved: no "never retrieved" log
        for waiters in self._confirm.values():
            for waiter in waiters:
                waiter.cancel()
        for item in self._outbox:
            if isinstance(item, asyncio.Future):
                item.cancel()
        for closing in (self._pubsub, self._listener, self.client):
            if closing is not None:
                with contextlib.suppress(Exception):
                    # aclose() since redis 5.0.1, close() before.
                    await getattr(closing, "aclose", closing.close)()
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                await self._publisher.disconnect()

    async def finish(self) -> None:
        """Graceful stop: apply queued changes, leave presence, flush."""
        await self.settle()
        moves = await self._script("leave")
        self.backend.moved(moves)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    # -- subscriptions -----------------------------------------------------

    async def subscribe(self, channels: list[str]) -> None:
        """Subscribe and wait for Redis to confirm: frames published from
        then on reach this worker."""
        if not channels:
            return
        loop = asyncio.get_running_loop()
        waiters = []
        names = [self.backend.channel(channel) for channel in channels]
        for name in names:
            waiter: asyncio.Future[None] = loop.create_future()
            self._confirm.setdefault(name, []).append(waiter)
            waiters.append(waiter)
        await self._pubsub.subscribe(*names)
        _, pending = await asyncio.wait(waiters, timeout=COMMAND_TIMEOUT)
        if pending:
            raise TimeoutError("Redis did not confirm a subscription")

    async def unsubscribe(self, channel: str) -> None:
        await self._pubsub.unsubscribe(self.backend.channel(channel))

    async def _read(self) -> None:
        """The subscription: each frame is fanned out as it is read."""
        pubsub, handled = self._pubsub, 0
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            kind, channel = message["type"], message["channel"]
            if kind == "message":
                self._received(channel, message["data"])
            elif kind == "subscribe":
                self._confirmed(channel.decode(errors="replace"))
            elif kind == "pong" and self._pong and not self._pong.done():
                self._pong.set_result(None)
            handled += 1
            if handled % FRAMES_PER_STEP == 0:
                await asyncio.sleep(0)  # a backlog does not hold the loop

    def _received(self, channel: bytes, data: bytes) -> None:
        try:
            name, text = channel.decode(), data.decode()
        except (AttributeError, UnicodeDecodeError):
            self.backend.drop("inbound")  # not a frame of this backend
            return
        try:
            self.backend.receive(name, text)
        except Exception:  # one frame failed, not the subscription
            logger.exception("ws.redis_deliver_failed", channel=name)

    def _confirmed(self, channel: str) -> None:
        waiters = self._confirm.get(channel)
        if waiters:
            waiters.pop(0).set_result(None)
        if not waiters:
            self._confirm.pop(channel, None)

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
        self._wake.set()

    async def _publish(self) -> None:
        """Write what is queued in one go, read the replies, repeat."""
        connection, outbox = self._publisher, self._outbox
        while True:
            await self._wake.wait()
            self._wake.clear()
            while outbox:
                batch = [outbox.popleft() for _ in range(min(len(outbox), BATCH))]
                commands = [
                    ("PING",)
                    if isinstance(item, asyncio.Future)
                    else ("PUBLISH", *item)
                    for item in batch
                ]
                self._in_flight = sum(isinstance(item, tuple) for item in batch)
                await connection.send_packed_command(
                    connection.pack_commands(commands), check_health=False
                )
                for item in batch:
                    await connection.read_response()
                    if isinstance(item, asyncio.Future):
                        if not item.done():
                            item.set_result(None)
                    else:
                        self._in_flight -= 1
                self._in_flight = 0

    # -- presence ----------------------------------------------------------

    def control(self, op: Op) -> None:
        """Queue a change, applied in order; a full queue resyncs."""
        try:
            self._ops.put_nowait(op)
        except asyncio.QueueFull:
            self.fail(RuntimeError("too many pending changes"))

    async def _control(self) -> None:
        while True:
            op = await self._ops.get()
            await op()

    async def settle(self) -> None:
        """Wait (a little) until the changes queued so far are applied."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        async def mark() -> None:
            if not done.done():
                done.set_result(None)

        self.control(mark)
        await asyncio.wait({done}, timeout=SETTLE_TIMEOUT)

    async def _script(self, name: str, *args: str | int) -> list[Any]:
        result: list[Any] = await self._scripts[name](
            keys=list(self._keys), args=[*self._args, *args]
        )
        return result

    async def set_count(self, field: str, count: int) -> None:
        fresh, *moves = await self._script("set", field, count)
        self.backend.moved(moves)
        if fresh:  # this worker had been taken for dead: all of it again
            await self.resync()

    async def resync(self) -> None:
        # Local clients heard of local changes while Redis was away.
        snapshot = json.dumps(self.backend.counts(), ensure_ascii=False)
        moves = await self._script("resync", snapshot)
        self.backend.moved(moves, local=False)

    async def _keep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.backend.heartbeat)
            done: asyncio.Future[None] = loop.create_future()

            async def beat(done: asyncio.Future[None] = done) -> None:
                fresh, *moves = await self._script("heartbeat")
                self.backend.moved(moves)
                if fresh:
                    await self.resync()
                done.set_result(None)

            self.control(beat)
            _, pending = await asyncio.wait({done}, timeout=COMMAND_TIMEOUT)
            if pending:
                raise TimeoutError("Redis did not answer the heartbeat")
            await self.ping()

    async def ping(self) -> None:
        """Both pub/sub connections answer: Redis closes idle connections
        (its ``timeout``), a NAT may drop them without a word, and a
        publisher whose PUBLISHes go unanswered only fills up."""
        loop = asyncio.get_running_loop()
        pong = self._pong = loop.create_future()
        published: asyncio.Future[None] = loop.create_future()
        self._outbox.append(published)
        self._wake.set()
        await self._pubsub.ping()
        try:
            await asyncio.wait_for(asyncio.gather(published, pong), COMMAND_TIMEOUT)
        except asyncio.TimeoutError:  # not the builtin one before 3.11
            raise TimeoutError("Redis did not answer a PING") from None
