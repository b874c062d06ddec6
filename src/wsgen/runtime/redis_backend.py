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

Delivery: every worker holds one subscription, whatever the number of
its clients, to ``<prefix>:<endpoint>:room:<id>``, ``...:user:<id>`` and
``...:all`` while it has a client there, and one publishing connection
(both in ``redis_session.py``, through redis-py). Each frame carries the
id of the worker that published it, so a worker never delivers its own
frames twice (it has already delivered them locally). A publish only
queues the frame: it never waits for Redis, and beyond ``WS_REDIS_QUEUE``
unacknowledged frames it is dropped, counted and logged
(``ws.redis_dropped``).

Redis pub/sub delivers at most once: a worker that is disconnected from
Redis misses what others publish meanwhile, and nothing it publishes
while Redis is away is kept for later. Meanwhile it goes on delivering to
its own clients, reconnects with a backoff capped at half a second, logs
``ws.redis_lost`` and ``ws.redis_restored`` (once each way), and then
re-registers its presence. A password Redis refuses is logged as
``ws.redis_auth_failed`` ("Redis refused the password: check
WS_REDIS_URL"), not as an outage.

Presence lives in Redis (``redis_presence.py``), so a user joins or
leaves a room exactly once cluster-wide. Limits (``settings.py``) count
per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import random
import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog

from .backend import BroadcastBackend
from .redis_presence import field
from .redis_session import Session
from .settings import _number

__all__ = ["RedisAuthenticationError", "RedisBackend", "RedisUnavailableError"]

logger = structlog.get_logger(__name__)

DEFAULT_URL = "redis://localhost:6379/0"
# Reconnect backoff, in seconds: capped so that delivery across workers
# resumes within a second of Redis answering again.
RETRY_FIRST, RETRY_MAX = 0.1, 0.5
ORIGIN = 32  # length of a worker id, the prefix of every published frame
REFUSED_PASSWORD = "Redis refused the password: check WS_REDIS_URL"


class RedisUnavailableError(RuntimeError):
    """Redis is unreachable at start and ``WS_REDIS_REQUIRED`` is set."""


class RedisAuthenticationError(RedisUnavailableError):
    """Redis refuses the credentials at start and ``WS_REDIS_REQUIRED`` is set."""


def _refused_password(error: BaseException) -> bool:
    """Redis answered, and refused the credentials (or wants some)."""
    exceptions = importlib.import_module("redis.exceptions")
    return isinstance(error, exceptions.AuthenticationError)


def _flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    return raw in {"1", "true", "yes", "on"}


def safe_url(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


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
        self._session: Session | None = None  # while Redis answers
        self._lost_at: float | None = None
        self._error: BaseException | None = None  # why the last try failed
        self._told_refused = False  # a refused password logged, this outage
        self._dropped = 0  # frames not published or not delivered

    @classmethod
    def from_env(cls, namespace: str) -> RedisBackend:
        """The backend of one endpoint, configured by ``WS_REDIS_*``."""
        prefix = os.environ.get("WS_REDIS_PREFIX", "").strip() or "ws"
        return cls(
            os.environ.get("WS_REDIS_URL", "").strip() or DEFAULT_URL,
            namespace=f"{prefix}:{namespace}",
            required=_flag("WS_REDIS_REQUIRED"),
            heartbeat=_number("WS_REDIS_HEARTBEAT", 5.0, positive=True),
            presence_ttl=_number("WS_REDIS_PRESENCE_TTL", 15.0, positive=True),
            queue_limit=int(_number("WS_REDIS_QUEUE", 10_000, positive=True)),
        )

    # -- lifecycle ---------------------------------------------------------

    async def connect(self) -> None:
        """Connect, or start without Redis and keep trying (see module)."""
        try:
            importlib.import_module("redis.asyncio")
        except ImportError as missing:  # a deployment error, not an outage
            raise RuntimeError(
                "the Redis backend needs the redis package (redis>=5)"
            ) from missing
        loop = asyncio.get_running_loop()
        first: asyncio.Future[bool] = loop.create_future()
        self._supervisor = loop.create_task(self._supervise(first), name="ws-redis")
        started: set[asyncio.Future[Any]] = {first, self._supervisor}
        await asyncio.wait(started, return_when=asyncio.FIRST_COMPLETED)
        if first.done() and first.result():
            return
        reason, url = self._error, safe_url(self.url)
        refused = reason is not None and _refused_password(reason)
        if self.required:
            await self.disconnect()
            if refused:
                raise RedisAuthenticationError(f"{REFUSED_PASSWORD} ({url})")
            raise RedisUnavailableError(
                f"Redis is unreachable at {url} ({reason}) and WS_REDIS_REQUIRED is set"
            ) from reason
        only_here = "delivering within this process only; retrying"
        if refused:
            self._told_refused = True
            logger.error("ws.redis_auth_failed", url=url, detail=REFUSED_PASSWORD)
        else:
            logger.warning(
                "ws.redis_unavailable", url=url, error=str(reason), detail=only_here
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
            session = Session(self)
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
                "ws.redis_connected", url=safe_url(self.url), worker=self.worker_id
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
        self._told_refused = False

    def _disconnected(
        self, first: asyncio.Future[bool], error: Exception, *, was_up: bool
    ) -> None:
        self._error = error
        if not first.done():
            first.set_result(False)  # connect() says why
        elif _refused_password(error) and not self._told_refused:
            self._told_refused = True
            logger.error(
                "ws.redis_auth_failed", url=safe_url(self.url), detail=REFUSED_PASSWORD
            )
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
            name = field(room_id, user_id)
            session.control(lambda: session.set_count(name, count))

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
            frame = self.announce(str(kind), str(user_id), str(room_id), local)
            if session is not None:
                session.publish(f"room:{room_id}", frame)

    def counts(self) -> dict[str, int]:
        return {
            field(room_id, user_id): count
            for (room_id, user_id), count in self.snapshot().items()
            if count > 0
        }
