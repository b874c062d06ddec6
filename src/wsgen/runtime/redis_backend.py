"""Redis backend: fan-out and presence shared by every worker.

Endpoints generated with ``--backend redis`` use it, so that
``send_to_user``, ``send_to_room``, ``broadcast``, room messages and
presence reach the clients of every process (``uvicorn --workers N``,
gunicorn, several machines behind a load balancer). It needs the
``redis`` package (5 or later); it is imported when a backend connects,
so this module costs nothing to endpoints on the memory backend.

Environment variables (defaults in brackets):

``WS_REDIS_URL`` [redis://localhost:6379/0]
    A standalone Redis (or one behind Sentinel); not Redis Cluster.
    ``rediss://`` for TLS, ``unix:///path`` for a Unix socket (read by
    redis-py, for every connection of the backend).
``WS_REDIS_REQUIRED`` [false]
    Redis unreachable at start: by default the app starts anyway, logs
    ``ws.redis_unavailable`` and delivers within its own process until
    Redis answers. With ``1``/``true`` the app refuses to start instead.
``WS_REDIS_PREFIX`` [ws]
    Prefix of every key and channel; one per application sharing a Redis.
``WS_REDIS_HEARTBEAT`` [5], ``WS_REDIS_PRESENCE_TTL`` [15]
    Every worker renews its registration every HEARTBEAT seconds; a worker
    silent for PRESENCE_TTL seconds is taken as dead, and the next
    heartbeat of any live worker removes its connections from presence
    (announcing ``user_left``). So a crashed worker's users leave presence
    within PRESENCE_TTL + HEARTBEAT seconds (20 by default).
``WS_REDIS_QUEUE`` [10000]
    Most frames published and not yet acknowledged by Redis; more are
    dropped (and counted in the logs). Also the most presence changes
    waiting to be written: beyond, the worker reconnects and writes its
    presence whole.

Delivery: one subscription connection per process, whatever the number
of clients, subscribed to ``<prefix>:<endpoint>:room:<id>``, ``...:user:<id>``
and ``...:all`` while this process has a client there, and one connection
that publishes (both in ``redis_wire.py``: a frame is written to Redis by
the sender's own step and fanned out from the read callback of the
receiving worker, no task in between). Each frame carries the id of the
worker that published it, so a worker never delivers its own frames twice
(it has already delivered them locally).

Redis pub/sub delivers at most once: a worker that is disconnected from
Redis misses what others publish meanwhile, and nothing it publishes
while Redis is away is kept for later. Meanwhile it goes on delivering to
its own clients, reconnects with a backoff capped at one second, logs
``ws.redis_lost`` and ``ws.redis_restored`` (once each way), and then
re-registers its presence.

Presence: ``<prefix>:<endpoint>:room:<id>`` (user -> connections) and
``...:users`` (user -> connections) hold the totals of every worker;
``...:w:<worker>`` what each worker contributes and ``...:workers`` when
each registration expires. Changes are Lua scripts, so a user joins or
leaves a room (``user_joined``/``user_left``) exactly once cluster-wide.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog

from .backend import BroadcastBackend
from .redis_wire import ReplyError, Value, Wire, open_wire

__all__ = ["RedisBackend", "RedisUnavailableError"]

logger = structlog.get_logger(__name__)

DEFAULT_URL = "redis://localhost:6379/0"
CONNECT_TIMEOUT = 2.0  # seconds to open a connection
COMMAND_TIMEOUT = 5.0  # seconds for a command to answer
SETTLE_TIMEOUT = 2.0  # most a member list waits for pending changes
RETRY_FIRST, RETRY_MAX = 0.1, 1.0  # reconnect backoff, in seconds
ORIGIN = 32  # length of a worker id, the prefix of every published frame

Op = Callable[[], Awaitable[None]]

# Lua shared by the scripts. Fields of a worker's hash are JSON arrays:
# ["r", room, user] (connections in a room) or ["u", user] (connections).
_LUA = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function put(prefix, wkey, field, new)
  local old = tonumber(redis.call('HGET', wkey, field) or '0')
  if old == new then return 0 end
  if new == 0 then
    redis.call('HDEL', wkey, field)
  else
    redis.call('HSET', wkey, field, new)
  end
  local f = cjson.decode(field)
  local key, member = prefix .. ':users', f[2]
  if f[1] == 'r' then key, member = prefix .. ':room:' .. f[2], f[3] end
  local total = redis.call('HINCRBY', key, member, new - old)
  if total <= 0 then redis.call('HDEL', key, member) end
  local before = total - (new - old)
  if before <= 0 and total > 0 then return 1 end
  if before > 0 and total <= 0 then return -1 end
  return 0
end
local function note(out, field, moved)
  if moved == 0 then return end
  local f = cjson.decode(field)
  if f[1] ~= 'r' then return end
  table.insert(out, moved > 0 and 'user_joined' or 'user_left')
  table.insert(out, f[2])
  table.insert(out, f[3])
end
local function reap(prefix, workers, dead, out)
  for _, w in ipairs(dead) do
    local wkey = prefix .. ':w:' .. w
    local have = redis.call('HGETALL', wkey)
    for i = 1, #have, 2 do
      note(out, have[i], put(prefix, wkey, have[i], 0))
    end
    redis.call('DEL', wkey)
    redis.call('ZREM', workers, w)
  end
end
local prefix, worker, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local workers, wkey = KEYS[1], KEYS[2]
local out = {}
"""

# One change of this worker: ARGV[4] field, ARGV[5] count. Returns
# {registered anew (1/0), kind, room, user, ...}.
_SET = """
local fresh = 0
if not redis.call('ZSCORE', workers, worker) then
  redis.call('ZADD', workers, now_ms() + ttl, worker)
  fresh = 1
end
note(out, ARGV[4], put(prefix, wkey, ARGV[4], tonumber(ARGV[5])))
table.insert(out, 1, fresh)
return out
"""

# Replace this worker's contribution by ARGV[4], {field: count}.
_RESYNC = """
local want = cjson.decode(ARGV[4])
local have = redis.call('HGETALL', wkey)
for i = 1, #have, 2 do
  if want[have[i]] == nil then
    note(out, have[i], put(prefix, wkey, have[i], 0))
  end
end
for field, count in pairs(want) do
  note(out, field, put(prefix, wkey, field, count))
end
redis.call('ZADD', workers, now_ms() + ttl, worker)
return out
"""

# Renew this worker, remove the expired ones. {registered anew, ...}.
_HEARTBEAT = """
local fresh = redis.call('ZADD', workers, now_ms() + ttl, worker)
reap(prefix, workers, redis.call('ZRANGEBYSCORE', workers, '-inf', now_ms()),
     out)
table.insert(out, 1, fresh)
return out
"""

# This worker stops: remove its contribution.
_LEAVE = """
reap(prefix, workers, {worker}, out)
return out
"""


class RedisUnavailableError(RuntimeError):
    """Redis is unreachable at start and ``WS_REDIS_REQUIRED`` is set."""


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    return raw in {"1", "true", "yes", "on"}


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def safe_url(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _field(room_id: str | None, user_id: str) -> str:
    parts = ["u", user_id] if room_id is None else ["r", room_id, user_id]
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))


class RedisBackend(BroadcastBackend):
    """Pub/sub and presence over ``redis.asyncio`` (see the module doc)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        namespace: str = "ws",
        required: bool = False,
        heartbeat: float = 5.0,
        presence_ttl: float = 15.0,
        queue_limit: int = 10_000,
    ) -> None:
        if presence_ttl <= heartbeat:
            raise ValueError("the presence TTL must exceed the heartbeat")
        self.url = url
        self.prefix = namespace
        self.required = required
        self.heartbeat = heartbeat
        self.presence_ttl = presence_ttl
        self.queue_limit = max(1, queue_limit)
        self.worker_id = uuid.uuid4().hex
        assert len(self.worker_id) == ORIGIN
        self._channels: set[str] = set()  # what the manager subscribed to
        self._supervisor: asyncio.Task[None] | None = None
        self._session: _Session | None = None  # while Redis answers
        self._lost_at: float | None = None
        self._dropped = 0  # frames not published or not delivered

    @classmethod
    def from_env(cls, namespace: str) -> RedisBackend:
        """The backend of one endpoint, configured by ``WS_REDIS_*``."""
        prefix = os.environ.get("WS_REDIS_PREFIX", "").strip() or "ws"
        return cls(
            os.environ.get("WS_REDIS_URL", "").strip() or DEFAULT_URL,
            namespace=f"{prefix}:{namespace}",
            required=_flag("WS_REDIS_REQUIRED"),
            heartbeat=_number("WS_REDIS_HEARTBEAT", 5.0),
            presence_ttl=_number("WS_REDIS_PRESENCE_TTL", 15.0),
            queue_limit=int(_number("WS_REDIS_QUEUE", 10_000)),
        )

    # -- lifecycle ---------------------------------------------------------

    async def connect(self) -> None:
        """Connect, or start without Redis and keep trying (see module)."""
        try:
            importlib.import_module("redis.asyncio")
        except ImportError as error:  # a deployment error, not an outage
            raise RuntimeError(
                "the Redis backend needs the redis package (redis>=5)",
            ) from error
        loop = asyncio.get_running_loop()
        first: asyncio.Future[bool] = loop.create_future()
        self._supervisor = loop.create_task(
            self._supervise(first),
            name="ws-redis",
        )
        started: set[asyncio.Future[Any]] = {first, self._supervisor}
        await asyncio.wait(started, return_when=asyncio.FIRST_COMPLETED)
        if first.done() and first.result():
            return
        if self.required:
            await self.disconnect()
            raise RedisUnavailableError(
                f"Redis is unreachable at {safe_url(self.url)} and "
                "WS_REDIS_REQUIRED is set",
            )
        logger.warning(
            "ws.redis_unavailable",
            url=safe_url(self.url),
            detail="delivering within this process only until Redis "
            "answers; retrying in the background",
        )

    async def disconnect(self) -> None:
        """Remove this worker's presence, publish what is queued, close."""
        session = self._session
        if session is not None:
            with contextlib.suppress(Exception):
                await session.finish()
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.wait({supervisor})
        self._session = None

    async def _supervise(self, first: asyncio.Future[bool]) -> None:
        delay = RETRY_FIRST
        while True:
            session = _Session(self)
            try:
                await session.open()
                self._connected(first)
                delay = RETRY_FIRST
                await session.run()
            except asyncio.CancelledError:
                await session.close()
                raise
            except Exception as error:  # noqa: BLE001 - ends this session
                self._session = None
                was_up = session.up
                await session.close()
                self._disconnected(first, error, was_up=was_up)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, RETRY_MAX)

    def _connected(self, first: asyncio.Future[bool]) -> None:
        if not first.done():
            first.set_result(True)
            logger.info(
                "ws.redis_connected",
                url=safe_url(self.url),
                worker=self.worker_id,
            )
        elif self._lost_at is not None:
            logger.warning(
                "ws.redis_restored",
                url=safe_url(self.url),
                down_seconds=round(time.monotonic() - self._lost_at, 3),
                dropped=self._dropped,
            )
        self._lost_at = None
        self._dropped = 0

    def _disconnected(
        self,
        first: asyncio.Future[bool],
        error: Exception,
        *,
        was_up: bool,
    ) -> None:
        if not first.done():
            first.set_result(False)
        if self._lost_at is None:
            self._lost_at = time.monotonic()
            if was_up:
                logger.error(
                    "ws.redis_lost",
                    url=safe_url(self.url),
                    error=repr(error),
                    detail="delivering locally only; reconnecting",
                )

    # -- the backend interface --------------------------------------------

    @property
    def tracking(self) -> bool:
        return self._session is not None

    @property
    def connected(self) -> bool:
        """True while Redis answers."""
        return self._session is not None

    def channel(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        if self._session is not None:
            self._session.control(lambda: self._session_subscribe(channel))

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._session is not None:
            self._session.control(lambda: self._session_unsubscribe(channel))

    async def _session_subscribe(self, channel: str) -> None:
        if channel in self._channels and self._session is not None:
            await self._session.subscribe([channel])

    async def _session_unsubscribe(self, channel: str) -> None:
        if channel not in self._channels and self._session is not None:
            await self._session.unsubscribe(channel)

    async def publish(self, channel: str, message: str) -> None:
        """Write a frame for the other workers; dropped without Redis."""
        if self._session is None:
            self._dropped += 1
            return
        self._session.publish(channel, message)

    def track(self, room_id: str | None, user_id: str, count: int) -> None:
        session = self._session
        if session is not None:
            field = _field(room_id, user_id)
            session.control(lambda: session.set_count(field, count))

    async def room_members(self, room_id: str) -> set[str] | None:
        session = self._session
        if session is None:
            return None
        try:
            await session.settle()
            key = f"{self.prefix}:room:{room_id}"
            members: list[str] = await session.client.hkeys(key)
        except Exception:  # noqa: BLE001 - Redis went away
            return None  # the caller uses local presence
        return set(members)

    async def user_connections(self, user_id: str) -> int | None:
        session = self._session
        if session is None:
            return None
        try:
            await session.settle()
            key = f"{self.prefix}:users"
            count = await session.client.hget(key, user_id)
        except Exception:  # noqa: BLE001 - Redis went away
            return None
        return int(count or 0)

    # -- used by the session ----------------------------------------------

    def receive(self, channel: str, data: str) -> None:
        """A frame from Redis: deliver it unless this worker published it."""
        if data[:ORIGIN] != self.worker_id:
            self.deliver(channel[len(self.prefix) + 1 :], data[ORIGIN:])

    def drop(self, direction: str) -> None:
        self._dropped += 1
        if self._dropped in {1, 100, 10_000} or self._dropped % 100_000 == 0:
            logger.warning(
                "ws.redis_dropped",
                direction=direction,
                dropped=self._dropped,
                limit=self.queue_limit,
            )

    def moved(self, moves: list[Any], *, local: bool = True) -> None:
        """Presence moves from a script: tell the other workers, and the
        local room unless it knows already (``local`` false)."""
        session = self._session
        for index in range(0, len(moves) - 2, 3):
            kind, room_id, user_id = moves[index : index + 3]
            frame = self.announce(
                str(kind),
                str(user_id),
                str(room_id),
                local,
            )
            if session is not None:
                session.publish(f"room:{room_id}", frame)

    def counts(self) -> dict[str, int]:
        return {
            _field(room_id, user_id): count
            for (room_id, user_id), count in self.snapshot().items()
            if count > 0
        }


def _is_pong(push: Value) -> bool:
    """The answer to PING: a push while subscribed, else a reply."""
    if isinstance(push, list):
        return bool(push[:1] == [b"pong"])
    return bool(push == b"PONG")


class _Session:
    """One connection to Redis: its clients, queues and tasks."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self.up = False
        self.client: Any = None  # commands (redis-py), with a timeout
        self._subscriber: Wire | None = None
        self._publisher: Wire | None = None
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
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_keepalive": True,
            "retry": retry.Retry(backoff.NoBackoff(), 0),
        }
        backend = self.backend
        self._broken = asyncio.get_running_loop().create_future()
        self.client = redis.Redis.from_url(
            backend.url,
            socket_timeout=COMMAND_TIMEOUT,
            **options,
        )
        await self.client.ping()
        prefix = f"{backend.prefix}:w:{backend.worker_id}"
        self._keys = (f"{backend.prefix}:workers", prefix)
        for name, body in {
            "set": _SET,
            "resync": _RESYNC,
            "heartbeat": _HEARTBEAT,
            "leave": _LEAVE,
        }.items():
            self._scripts[name] = self.client.register_script(_LUA + body)
        self._subscriber = await open_wire(
            backend.url,
            Wire(self._pushed, self.fail),
            CONNECT_TIMEOUT,
        )
        self._publisher = await open_wire(
            backend.url,
            Wire(on_lost=self.fail),
            CONNECT_TIMEOUT,
        )
        self.up = True
        # From here on changes queue up behind the snapshot taken next.
        backend._session = self
        await self.subscribe(sorted(backend._channels))
        await self.resync()
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
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._broken is not None and self._broken.done():
            self._broken.exception()  # retrieved: no "never retrieved" log
        for waiters in self._confirm.values():
            for waiter in waiters:
                waiter.cancel()
        for wire in (self._subscriber, self._publisher):
            if wire is not None:
                await wire.close()
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.aclose()

    async def finish(self) -> None:
        """Graceful stop: apply queued changes, leave presence, flush."""
        await self.settle()
        moves = await self._script("leave")
        self.backend.moved(moves)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while self._unacknowledged() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    def _unacknowledged(self) -> int:
        publisher = self._publisher
        return publisher.pending if publisher is not None else 0

    # -- subscriptions -----------------------------------------------------

    async def subscribe(self, channels: list[str]) -> None:
        """Subscribe and wait for Redis to confirm: frames published from
        then on reach this worker."""
        if not channels or self._subscriber is None:
            return
        loop = asyncio.get_running_loop()
        waiters = []
        names = [self.backend.channel(channel) for channel in channels]
        for name in names:
            waiter: asyncio.Future[None] = loop.create_future()
            self._confirm.setdefault(name, []).append(waiter)
            waiters.append(waiter)
        self._subscriber.send_push("SUBSCRIBE", *names)
        _, pending = await asyncio.wait(waiters, timeout=COMMAND_TIMEOUT)
        if pending:
            raise TimeoutError("Redis did not confirm a subscription")

    async def unsubscribe(self, channel: str) -> None:
        if self._subscriber is not None:
            name = self.backend.channel(channel)
            self._subscriber.send_push("UNSUBSCRIBE", name)

    def _pushed(self, push: Value) -> None:
        """What Redis sends the subscription connection, as it is read."""
        if isinstance(push, ReplyError):
            refused = f"Redis refused a subscription: {push}"
            self.fail(ConnectionError(refused))
            return
        if _is_pong(push):
            if self._pong is not None and not self._pong.done():
                self._pong.set_result(None)
            return
        if not isinstance(push, list) or len(push) != 3:
            return
        kind, channel, data = push
        if kind == b"subscribe" and isinstance(channel, bytes):
            self._confirmed(channel.decode(errors="replace"))
        if kind != b"message":
            return
        try:
            name, text = channel.decode(), data.decode()
        except (AttributeError, UnicodeDecodeError):
            self.backend.drop("inbound")  # not a frame of this backend
            return
        try:
            self.backend.receive(name, text)
        except Exception:  # one frame failed, not the connection
            logger.exception("ws.redis_deliver_failed", channel=name)

    def _confirmed(self, channel: str) -> None:
        waiters = self._confirm.get(channel)
        if waiters:
            waiters.pop(0).set_result(None)
        if not waiters:
            self._confirm.pop(channel, None)

    # -- publishing --------------------------------------------------------

    def publish(self, channel: str, message: str) -> None:
        """Write the PUBLISH now; Redis acknowledges it later."""
        backend, publisher = self.backend, self._publisher
        if publisher is None or not publisher.open:
            backend.drop("outbound")
        elif publisher.pending >= backend.queue_limit:
            backend.drop("outbound")  # Redis is not keeping up
        else:
            name = backend.channel(channel)
            publisher.send("PUBLISH", name, backend.worker_id + message)

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
            keys=list(self._keys),
            args=[*self._args, *args],
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
            await self._ping()

    async def _ping(self) -> None:
        """Both pub/sub connections answer: Redis closes idle connections
        (its ``timeout``), a NAT may drop them without a word, and a
        publisher whose PUBLISHes go unanswered only fills up."""
        publisher, subscriber = self._publisher, self._subscriber
        assert publisher is not None and subscriber is not None
        pong = self._pong = asyncio.get_running_loop().create_future()
        subscriber.send_push("PING")
        try:
            await asyncio.wait_for(
                asyncio.gather(publisher.call("PING"), pong),
                COMMAND_TIMEOUT,
            )
        except TimeoutError:
            raise TimeoutError("Redis did not answer a PING") from None
