"""The Redis backend (redis_backend.py, through redis-py) against a real
redis-server on loopback that wants a password and also listens on a Unix
socket and over TLS; each backend stands for one worker."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import redis.asyncio as redis
from structlog.testing import capture_logs

from tests.conftest import free_port
from tests.redis_server import RedisServer, redis_server_binary, self_signed_certificate
from wsgen.runtime import settings as settings_module
from wsgen.runtime.connection import Identity
from wsgen.runtime.manager import ConnectionManager
from wsgen.runtime.redis_backend import (
    REFUSED_PASSWORD,
    RedisAuthenticationError,
    RedisBackend,
    RedisUnavailableError,
)
from wsgen.runtime.rooms import RoomManager
from wsgen.runtime.settings import WebSocketSettings

PASSWORD = "backend-" + "p" * 20


@dataclass
class Server:
    redis: RedisServer
    unix: Path
    tls_port: int
    ca: Path

    @property
    def url(self) -> str:
        return f"redis://:{PASSWORD}@127.0.0.1:{self.redis.port}/0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("redis")
    unix = folder / "redis.sock"
    cert, key = self_signed_certificate(folder)
    tls_port = free_port()
    instance = RedisServer(
        redis_server_binary(), free_port(), folder / "redis.log",
        options=[
            "--requirepass", PASSWORD, "--unixsocket", str(unix),
            "--tls-port", str(tls_port), "--tls-cert-file", str(cert),
            "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
            "--tls-auth-clients", "no",
        ],
    )  # fmt: skip
    instance.start()
    try:
        yield Server(instance, unix, tls_port, cert)
    finally:
        instance.stop()


def worker(
    url: str,
    delivered: list[tuple[str, str]] | None = None,
    namespace: str = "",
    **options: Any,
) -> RedisBackend:
    """One worker's backend; what other workers publish lands in ``delivered``."""
    backend = RedisBackend(url, namespace=namespace or f"t-{uuid4().hex}", **options)
    received = delivered if delivered is not None else []

    def deliver(channel: str, message: str) -> None:
        if message == "boom":
            raise RuntimeError("a fan-out failed")
        received.append((channel, message))

    backend.bind(deliver, lambda *args: "", dict)
    return backend


async def eventually(check: Callable[[], bool], seconds: float = 3.0) -> None:
    """Wait until ``check()`` holds or ``seconds`` pass; the caller asserts."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


async def closed(client: redis.Redis) -> None:
    """Close a redis-py client (``aclose`` since redis 5.0.1)."""
    await getattr(client, "aclose", client.close)()


async def subscribed(backend: RedisBackend, channel: str) -> None:
    await backend.subscribe(channel)
    session = backend._session
    assert session is not None
    await session.settle()  # confirmed by Redis


@pytest.mark.parametrize(
    "kind", ["password", "user-and-password", "unix-socket", "tls"]
)
def test_frames_cross_workers(server: Server, kind: str) -> None:
    url = {
        "password": server.url,
        "user-and-password": f"redis://default:{PASSWORD}@127.0.0.1:{server.redis.port}",
        "unix-socket": f"unix://:{PASSWORD}@{server.unix}",
        "tls": f"rediss://:{PASSWORD}@127.0.0.1:{server.tls_port}/0"
        f"?ssl_ca_certs={server.ca}",
    }[kind]
    big = "é" + "x" * 70_000  # more than one read of the socket

    async def scenario() -> None:
        namespace = f"t-{uuid4().hex}"
        got_one: list[tuple[str, str]] = []
        got_two: list[tuple[str, str]] = []
        one = worker(url, got_one, namespace, required=True)
        two = worker(url, got_two, namespace, required=True)
        await one.connect()
        await two.connect()
        try:
            await subscribed(one, "room:a")
            await subscribed(two, "room:a")
            for text in ("one", big, "three"):
                await one.publish("room:a", text)
            await eventually(lambda: len(got_two) == 3)
            assert got_two == [("room:a", "one"), ("room:a", big), ("room:a", "three")]
            await asyncio.sleep(0.05)
            assert got_one == []  # its own frames, delivered locally already
        finally:
            await one.disconnect()
            await two.disconnect()

    asyncio.run(scenario())


def test_tls_verifies_the_server_certificate(server: Server) -> None:
    # The test server's certificate is self-signed: not trusted by default.
    url = f"rediss://:{PASSWORD}@127.0.0.1:{server.tls_port}/0"

    async def scenario() -> None:
        with pytest.raises(RedisUnavailableError) as refused:
            await worker(url, required=True).connect()
        causes = []
        error: BaseException | None = refused.value
        while error is not None:
            causes.append(error)
            error = error.__cause__ or error.__context__
        assert any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes)

    asyncio.run(scenario())


@pytest.mark.parametrize("credentials", ["wrong", "missing"])
def test_a_refused_password_is_logged_as_such(server: Server, credentials: str) -> None:
    secret = ":not-the-password@" if credentials == "wrong" else ""
    url = f"redis://{secret}127.0.0.1:{server.redis.port}/0"

    async def scenario() -> None:
        with pytest.raises(RedisAuthenticationError) as refused:
            await worker(url, required=True).connect()
        assert str(refused.value).startswith(REFUSED_PASSWORD)
        backend = worker(url)  # not required: starts, says why, retries
        with capture_logs() as logs:
            await backend.connect()
            await asyncio.sleep(0.4)  # a few more attempts
        await backend.disconnect()
        told = [entry for entry in logs if entry["log_level"] != "debug"]
        assert [entry["event"] for entry in told] == ["ws.redis_auth_failed"]
        assert told[0]["detail"] == "Redis refused the password: check WS_REDIS_URL"
        assert "unavailable" not in str(told) and "unreachable" not in str(told)

    asyncio.run(scenario())


def test_an_unreachable_redis_is_logged_as_unavailable() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"

    async def scenario() -> None:
        backend = worker(url)
        with capture_logs() as logs:
            await backend.connect()
        await backend.disconnect()
        assert [entry["event"] for entry in logs] == ["ws.redis_unavailable"]
        with pytest.raises(RedisUnavailableError, match="unreachable") as caught:
            await worker(url, required=True).connect()
        assert not isinstance(caught.value, RedisAuthenticationError)

    asyncio.run(scenario())


def test_a_failing_fan_out_or_a_foreign_frame_keeps_the_subscription(
    server: Server,
) -> None:
    async def scenario() -> None:
        delivered: list[tuple[str, str]] = []
        backend = worker(server.url, delivered, required=True)
        await backend.connect()
        outsider = redis.Redis.from_url(server.url)
        channel = backend.channel("room:a")
        origin = "o" * 32  # another worker's id
        try:
            await subscribed(backend, "room:a")
            with capture_logs() as logs:
                await outsider.publish(channel, origin + "boom")
                await outsider.publish(channel, b"\xff\xfe not UTF-8")
                await outsider.publish(channel, origin + "after")
                await eventually(lambda: bool(delivered))
            assert delivered == [("room:a", "after")]
            assert backend.tracking
            assert backend._dropped == 1  # the frame that is not UTF-8
            events = [entry["event"] for entry in logs]
            assert "ws.redis_deliver_failed" in events
        finally:
            await closed(outsider)
            await backend.disconnect()

    asyncio.run(scenario())


def test_a_publish_never_waits_for_a_paused_redis(server: Server) -> None:
    async def scenario() -> None:
        namespace = f"t-{uuid4().hex}"
        received: list[tuple[str, str]] = []
        sender = worker(server.url, [], namespace, required=True, queue_limit=5)
        receiver = worker(server.url, received, namespace, required=True)
        await sender.connect()
        await receiver.connect()
        admin = redis.Redis.from_url(server.url)
        try:
            await subscribed(receiver, "room:a")
            await admin.execute_command("CLIENT", "PAUSE", "600", "ALL")
            with capture_logs() as logs:
                started = time.monotonic()
                for index in range(20):
                    await sender.publish("room:a", f"frame {index}")
                    await asyncio.sleep(0.005)  # the publisher task runs
                took = time.monotonic() - started
            assert took < 0.4  # never held up by Redis (paused for 0.6 s)
            session = sender._session
            assert session is not None and session.pending == 5
            assert sender._dropped == 15  # the rest: dropped, not queued
            dropped = [e for e in logs if e["event"] == "ws.redis_dropped"]
            assert dropped and dropped[0]["limit"] == 5
            await eventually(lambda: len(received) == 5)
            assert received == [("room:a", f"frame {index}") for index in range(5)]
            assert session.pending == 0 and sender.tracking
        finally:
            await closed(admin)
            await sender.disconnect()
            await receiver.disconnect()

    asyncio.run(scenario())


def test_pings_keep_the_connections_past_the_redis_idle_timeout(
    server: Server,
) -> None:
    """Redis closes connections idle for ``timeout`` seconds (subscribers
    excepted): the heartbeat's PINGs keep the publisher open, and both
    forms of PING's answer (subscribed or not) are understood."""

    async def scenario() -> None:
        admin = redis.Redis.from_url(server.url)
        await admin.config_set("timeout", 1)
        backend = worker(server.url, required=True, heartbeat=0.3, presence_ttl=1)
        await backend.connect()
        try:
            session = backend._session
            assert session is not None
            await subscribed(backend, "room:a")
            await asyncio.sleep(2.5)  # the publisher sent nothing but PINGs
            assert backend._session is session  # never lost, never reopened
            await session.ping()  # subscribed: the answer is a push
            await backend.unsubscribe("room:a")
            await session.settle()
            await session.ping()  # subscribed to nothing: a plain reply
        finally:
            await admin.config_set("timeout", 0)
            await closed(admin)
            await backend.disconnect()

    asyncio.run(scenario())


def test_delivery_resumes_within_a_second_of_a_redis_restart(tmp_path: Path) -> None:
    instance = RedisServer(redis_server_binary(), free_port(), tmp_path / "redis.log")
    instance.start()

    async def scenario() -> float:
        namespace = f"t-{uuid4().hex}"
        received: list[tuple[str, str]] = []
        one = worker(instance.url, [], namespace, required=True)
        two = worker(instance.url, received, namespace, required=True)
        await one.connect()
        await two.connect()
        try:
            await subscribed(two, "room:a")
            await asyncio.to_thread(instance.stop)
            await asyncio.sleep(0.5)
            up = await asyncio.to_thread(instance.start)
            while not received and time.monotonic() - up < 5:
                await one.publish("room:a", "probe")
                await asyncio.sleep(0.01)
            return time.monotonic() - up
        finally:
            await one.disconnect()
            await two.disconnect()

    try:
        with capture_logs() as logs:
            recovered = asyncio.run(scenario())
    finally:
        instance.stop()
    assert recovered <= 1.0
    events = [entry["event"] for entry in logs]
    # One line each way, per worker.
    assert events.count("ws.redis_lost") == 2, events
    assert events.count("ws.redis_restored") == 2, events


def test_a_worker_taken_for_dead_registers_again(server: Server) -> None:
    """Reaped while alive (paused past the TTL): its next change puts all
    of its presence back, not only the change."""

    async def scenario() -> None:
        namespace = f"t-{uuid4().hex}"
        here: dict[tuple[str | None, str], int] = {}
        paused = worker(server.url, None, namespace, required=True)
        paused.bind(lambda *args: None, lambda *args: "frame", lambda: here)
        other = worker(server.url, None, namespace, required=True)
        admin = redis.Redis.from_url(server.url)
        await paused.connect()
        try:
            here["lobby", "ann"] = 1
            paused.track("lobby", "ann", 1)
            assert await paused.room_members("lobby") == {"ann"}
            workers = f"{namespace}:workers"
            await admin.zadd(workers, {paused.worker_id: 0})  # expired
            await other.connect()  # reaps it
            assert await other.room_members("lobby") == set()
            here[None, "bob"] = 1
            paused.track(None, "bob", 1)
            assert await paused.user_connections("bob") == 1
            assert await other.room_members("lobby") == {"ann"}
        finally:
            await closed(admin)
            await other.disconnect()
            await paused.disconnect()

    asyncio.run(scenario())


class FakeSocket:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send_text(self, data: str) -> None:
        self.frames.append(json.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        pass

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["type"] == kind]


def test_presence_is_shared_by_the_workers(server: Server) -> None:
    async def scenario() -> None:
        namespace = f"t-{uuid4().hex}"
        one = RoomManager(WebSocketSettings(), worker(server.url, None, namespace))
        two = RoomManager(WebSocketSettings(), worker(server.url, None, namespace))
        async with one.running(), two.running():
            alice = FakeSocket()
            on_one = one.connect(alice, Identity(user_id="alice"))
            assert on_one is not None
            one.join(on_one, "lobby")
            assert await one.room_members("lobby") == ["alice"]  # subscribed
            # Two tabs of bob, one on each worker: one presence.
            bob_two = two.connect(FakeSocket(), Identity(user_id="bob"))
            bob_one = one.connect(FakeSocket(), Identity(user_id="bob"))
            assert bob_two is not None and bob_one is not None
            two.join(bob_two, "lobby")
            assert await two.room_members("lobby") == ["alice", "bob"]
            one.join(bob_one, "lobby")
            assert await one.room_members("lobby") == ["alice", "bob"]
            await eventually(lambda: bool(alice.of_type("user_joined")))
            await asyncio.sleep(0.1)
            assert [f["user_id"] for f in alice.of_type("user_joined")] == ["bob"]
            bob_two.close(1000, "bye")
            await bob_two.wait_closed()
            await asyncio.sleep(0.2)
            assert alice.of_type("user_left") == []  # still there on one
            bob_one.close(1000, "bye")
            await bob_one.wait_closed()
            await eventually(lambda: bool(alice.of_type("user_left")))
            assert [f["user_id"] for f in alice.of_type("user_left")] == ["bob"]
            assert await two.room_members("lobby") == ["alice"]

    asyncio.run(scenario())


def test_the_connection_limit_counts_per_worker(server: Server) -> None:
    """Decided and documented: WS_MAX_CONNECTIONS_PER_USER holds per worker,
    on the Redis backend too (checking Redis would delay every connect)."""
    assert "per worker" in " ".join((settings_module.__doc__ or "").split())
    limits = replace(WebSocketSettings(), max_connections_per_user=2)

    async def scenario() -> None:
        namespace = f"t-{uuid4().hex}"
        one = ConnectionManager(limits, worker(server.url, None, namespace))
        two = ConnectionManager(limits, worker(server.url, None, namespace))
        async with one.running(), two.running():
            me = Identity(user_id="carol")
            assert one.connect(FakeSocket(), me) is not None
            assert one.connect(FakeSocket(), me) is not None
            assert one.connect(FakeSocket(), me) is None  # this worker's limit
            assert two.connect(FakeSocket(), me) is not None
            assert two.connect(FakeSocket(), me) is not None
            # Four connections cluster-wide, as Redis counts them.
            await asyncio.sleep(0.05)
            assert await two.user_connections("carol") == 4

    asyncio.run(scenario())
