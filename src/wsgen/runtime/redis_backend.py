"""Redis backend: fan-out and presence shared by every worker.

With ``--backend redis``, ``send_to_user``, ``send_to_room``,
``broadcast``, room messages and presence reach the clients of every
process (``uvicorn --workers N``, several machines). It needs the
``redis`` package (5 or later), imported when the backend connects.

Environment variables (defaults in brackets):

``WS_REDIS_URL`` [redis://localhost:6379/0]
    A standalone Redis (or one behind Sentinel), not Redis Cluster:
    ``rediss://`` for TLS, ``unix:///path`` for a Unix socket,
    ``redis://:password@host`` with a password.
``WS_REDIS_REQUIRED`` [off]
    Redis unreachable at start: the app starts anyway, logs
    ``ws.redis_unavailable`` and delivers within its own process until
    Redis answers; with ``on`` it refuses to start instead.
``WS_REDIS_PREFIX`` [ws]
    Prefix of every key and channel; one per application sharing a Redis.
``WS_REDIS_HEARTBEAT`` [5], ``WS_REDIS_PRESENCE_TTL`` [15]
    A worker silent for PRESENCE_TTL seconds is taken as dead: its users
    leave presence at the next heartbeat of a live worker.
``WS_REDIS_QUEUE`` [10000]
    Most frames published and not yet acknowledged by Redis; more are
    dropped, counted and logged (``ws.redis_dropped``).

Every worker holds one subscription to ``<prefix>:<endpoint>:room:<id>``,
``...:user:<id>`` and ``...:all`` while it has a client there. A frame
carries the id of the worker that published it, which has delivered it
locally already. A publish only queues the frame: it never waits.

Redis pub/sub delivers at most once: what is published while a worker is
away from Redis does not reach it later. Meanwhile the worker delivers
to its own clients, reconnects within half a second of Redis answering,
logs ``ws.redis_lost`` and ``ws.redis_restored`` (once each way), and
registers its presence again. A refused password is logged as
``ws.redis_auth_failed`` (with the fix), not as an outage. Presence is
in Redis (``redis_presence.py``); limits (``settings.py``) count per
worker.
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
from .settings import _number, _read

__all__ = ["RedisAuthenticationError", "RedisBackend", "RedisUnavailableError"]

logger = structlog.get_logger(__name__)

DEFAULT_URL = "redis://localhost:6379/0"
# Reconnect backoff, in seconds: capped so that delivery across workers
# resumes within a second of Redis answering again.
RETRY_FIRST, RETRY_MAX = 0.1, 0.5
REFUSED_PASSWORD = "Redis refused the password: check WS_REDIS_URL"


class RedisUnavailableError(RuntimeError):
    """Redis is unreachable at start and ``WS_REDIS_REQUIRED`` is set."""


class RedisAuthenticationError(RedisUnavailableError):
    """Redis refuses the credentials at start (``WS_REDIS_REQUIRED`` set)."""


def _refused_password(error: BaseException) -> bool:
    """Redis answered, and refused the credentials (or wants some)."""
    exceptions = importlib.import_module("redis.exceptions")
    return isinstance(error, exceptions.AuthenticationError)


def safe_url(url: str) -> str:
    """The URL without its credentials, for logs."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc))


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
        self.worker_id = uuid.uuid4().hex  # prefixes what it publishes
        self.channels: set[str] = set()  # what the manager subscribed to
        self._supervisor: asyncio.Task[None] | None = None
        self._session: Session | None = None  # while Redis answers
        self._lost_at: float | None = None  # when this outage began
        self._told_refused = False  # a refused password logged, this outage
        self._dropped = 0  # frames not published or not delivered

    @classmethod
    def from_env(cls, namespace: str) -> RedisBackend:
        """The backend of one endpoint, configured by ``WS_REDIS_*``."""
        prefix = os.environ.get("WS_REDIS_PREFIX", "").strip() or "ws"
        return cls(
            os.environ.get("WS_REDIS_URL", "").strip() or DEFAULT_URL,
            namespace=f"{prefix}:{namespace}",
            required=_read("WS_REDIS_REQUIRED", False),
            heartbeat=_number("WS_REDIS_HEARTBEAT", 5.0, positive=True),
            presence_ttl=_number("WS_REDIS_PRESENCE_TTL", 15, positive=True),
            queue_limit=int(_number("WS_REDIS_QUEUE", 10000, positive=True)),
        )

    # -- lifecycle ---------------------------------------------------------

    async def connect(self) -> None:
        """Connect, or start without Redis and keep trying (see module)."""
        try:
            importlib.import_module("redis.asyncio")
        except ImportError as missing:  # a deployment error, not an outage
            need = "the Redis backend needs the redis package (redis>=5)"
            raise RuntimeError(need) from missing
        session: Session | None = None
        url = safe_url(self.url)
        try:
            session = await self._open()
        except Exception as error:
            if self.required and _refused_password(error):
                why = f"{REFUSED_PASSWORD} ({url})"
                raise RedisAuthenticationError(why) from error
            if self.required:
                why = f"Redis is unreachable at {url} ({error})"
                required = f"{why} and WS_REDIS_REQUIRED is set"
                raise RedisUnavailableError(required) from error
            self._failed(error, was_up=False)
        else:
            logger.info("ws.redis_connected", url=url, worker=self.worker_id)
        supervise = self._supervise(session)
        self._supervisor = asyncio.create_task(supervise, name="ws-redis")

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

    async def _supervise(self, session: Session | None) -> None:
        """Run a session until Redis fails, then open a new one."""
        delay = RETRY_FIRST
        while True:
            if session is not None:
                delay = RETRY_FIRST
                try:
                    await session.run()
                except Exception as error:  # noqa: BLE001 - ends it
                    self._failed(error, was_up=True)
                finally:
                    await session.close()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, RETRY_MAX)
            try:
                session = await self._open()
            except Exception as error:  # noqa: BLE001 - retried
                session = None
                self._failed(error, was_up=False)

    async def _open(self) -> Session:
        session = Session(self)
        try:
            await session.open()
        except BaseException:
            await session.close()
            raise
        if self._lost_at is not None:
            logger.warning(
                "ws.redis_restored",
                url=safe_url(self.url),
                down_seconds=round(time.monotonic() - self._lost_at, 3),
                dropped=self._dropped,
            )
        self._lost_at, self._dropped, self._told_refused = None, 0, False
        return session

    def _failed(self, error: Exception, *, was_up: bool) -> None:
        """Log an outage once: lost, unreachable at start, or refused."""
        url = safe_url(self.url)
        if was_up:
            logger.error(
                "ws.redis_lost",
                url=url,
                error=repr(error),
                detail="delivering locally only; reconnecting",
            )
        elif _refused_password(error):
            if not self._told_refused:
                detail = REFUSED_PASSWORD
                logger.error("ws.redis_auth_failed", url=url, detail=detail)
            self._told_refused = True
        elif self._lost_at is None:
            logger.warning(
                "ws.redis_unavailable",
                url=url,
                error=str(error),
                detail="delivering within this process only; retrying",
            )
        if self._lost_at is None:
            self._lost_at = time.monotonic()

    # -- the backend interface --------------------------------------------

    @property
    def tracking(self) -> bool:
        """True while Redis answers."""
        return self._session is not None

    def channel(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    async def subscribe(self, channel: str) -> None:
        self.channels.add(channel)
        if self._session is not None:
            self._session.changed()

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        if self._session is not None:
            self._session.changed()

    async def publish(self, channel: str, message: str) -> None:
        """Write a frame for the other workers; dropped without Redis."""
        if self._session is None:
            self._dropped += 1
            return
        self._session.publish(channel, message)

    def track(self, room_id: str | None, user_id: str, count: int) -> None:
        if self._session is not None:
            self._session.changed(field(room_id, user_id), count)

    async def room_members(self, room_id: str) -> set[str] | None:
        members = await self._ask("hkeys", f"room:{room_id}")
        return None if members is None else set(members)

    async def user_connections(self, user_id: str) -> int | None:
        count = await self._ask("hmget", "users", user_id)
        return None if count is None else int(count[0] or 0)

    async def _ask(self, command: str, key: str, *args: str) -> Any:
        """Read presence once Redis has this worker's changes; None while
        Redis is away (the manager counts this worker's own then)."""
        session = self._session
        if session is None:
            return None
        try:
            await session.settle()
            ask = getattr(session.client, command)
            return await ask(f"{self.prefix}:{key}", *args)
        except Exception:  # noqa: BLE001 - Redis went away
            return None

    # -- used by the session ----------------------------------------------

    def drop(self, direction: str) -> None:
        """Count a frame lost (logged at 1, 100, 10 000, every 100 000)."""
        self._dropped += 1
        dropped = self._dropped
        if dropped in {1, 100, 10_000} or dropped % 100_000 == 0:
            logger.warning(
                "ws.redis_dropped",
                direction=direction,
                dropped=self._dropped,
                limit=self.queue_limit,
            )
