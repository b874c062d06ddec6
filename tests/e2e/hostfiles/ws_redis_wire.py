"""Tests of the Redis backend's own connections (redis_wire.py), copied into
a generated ``--backend redis`` project. The outer test starts a real
redis-server on loopback that wants a password and also listens on a Unix
socket and over TLS, and names it in WS_WIRE_REDIS_PORT,
WS_WIRE_REDIS_PASSWORD, WS_WIRE_REDIS_SOCKET, WS_WIRE_REDIS_TLS_PORT and
WS_WIRE_REDIS_CA (its self-signed certificate)."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from app.websocket.redis_backend import RedisBackend
from app.websocket.redis_wire import ReplyError, Wire, encode, open_wire, parse

PORT = os.environ.get("WS_WIRE_REDIS_PORT", "")
PASSWORD = os.environ.get("WS_WIRE_REDIS_PASSWORD", "")
SOCKET = os.environ.get("WS_WIRE_REDIS_SOCKET", "")
TLS_PORT = os.environ.get("WS_WIRE_REDIS_TLS_PORT", "")
CA = os.environ.get("WS_WIRE_REDIS_CA", "")
URL = f"redis://:{PASSWORD}@127.0.0.1:{PORT}/0"
TLS_URL = f"rediss://:{PASSWORD}@127.0.0.1:{TLS_PORT}/0"
needs_redis = pytest.mark.skipif(not PORT, reason="no redis-server named")


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True


async def eventually(check: Callable[[], bool], seconds: float = 3.0) -> None:
    """Wait until ``check()`` holds or ``seconds`` pass; the caller asserts."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not check() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)


def wire_on_fake(pushes: list[Any], lost: list[Exception]) -> Wire:
    wire = Wire(pushes.append, lost.append)
    wire.connection_made(FakeTransport())  # type: ignore[arg-type]
    return wire


def push(kind: bytes, channel: bytes, data: bytes) -> bytes:
    return encode(kind, channel, data)


def test_commands_and_replies_round_trip() -> None:
    command = encode("PUBLISH", "ws:room:é", "x\r\ny")
    assert command == (
        b"*3\r\n$7\r\nPUBLISH\r\n$10\r\nws:room:\xc3\xa9\r\n$4\r\nx\r\ny\r\n"
    )
    assert parse(command, 0) == (
        [b"PUBLISH", "ws:room:é".encode(), b"x\r\ny"],
        len(command),
    )
    replies = b"*4\r\n:-7\r\n$-1\r\n+OK\r\n*1\r\n$0\r\n\r\nrest"
    value, end = parse(replies, 0)
    assert value == [-7, None, b"OK", [b""]]
    assert replies[end:] == b"rest"
    error, _ = parse(b"-WRONGTYPE no\r\n", 0)
    assert isinstance(error, ReplyError) and str(error) == "WRONGTYPE no"


def test_replies_split_anywhere_are_read_whole() -> None:
    frames = [
        push(b"subscribe", b"ws:all", b"1"),
        push(b"message", b"ws:room:a", b"first\r\nline"),
        push(b"message", b"ws:room:b", "dernière".encode() * 50),
    ]
    stream = b"".join(frames)
    expected = [parse(frame, 0)[0] for frame in frames]

    async def scenario() -> None:
        for cut in range(len(stream) + 1):
            pushes: list[Any] = []
            lost: list[Exception] = []
            wire = wire_on_fake(pushes, lost)
            wire.data_received(stream[:cut])
            wire.data_received(stream[cut:])
            assert pushes == expected, cut
            assert lost == []

    asyncio.run(scenario())


def test_a_backlog_is_handled_a_slice_per_loop_step() -> None:
    # 150 messages read at once: 64 per step of the event loop, reading
    # paused until the backlog is handled, nothing lost or reordered.
    messages = [push(b"message", b"c", b"%d" % n) for n in range(151)]
    stream = b"".join(messages)
    tail = len(messages[-1]) // 2  # the last one arrives in two reads

    async def scenario() -> None:
        pushes: list[Any] = []
        wire = wire_on_fake(pushes, [])
        transport = wire.transport
        assert isinstance(transport, FakeTransport)
        wire.data_received(stream[:-tail])
        assert len(pushes) == 64 and not transport.reading
        await asyncio.sleep(0)
        assert len(pushes) == 128 and not transport.reading
        await asyncio.sleep(0)
        assert len(pushes) == 150 and transport.reading
        wire.data_received(stream[-tail:])
        assert [int(item[2]) for item in pushes] == list(range(151))

    asyncio.run(scenario())


def test_bytes_that_are_not_redis_replies_end_the_connection() -> None:
    async def scenario() -> None:
        pushes: list[Any] = []
        lost: list[Exception] = []
        wire = wire_on_fake(pushes, lost)
        wire.data_received(b"HTTP/1.1 400 Bad Request\r\n")
        assert pushes == []
        assert len(lost) == 1 and "bad reply from Redis" in str(lost[0])
        assert wire.transport is not None and wire.transport.is_closing()

    asyncio.run(scenario())


def test_an_error_reply_to_a_publish_ends_the_connection() -> None:
    async def scenario() -> None:
        pushes: list[Any] = []
        lost: list[Exception] = []
        wire = wire_on_fake(pushes, lost)
        wire.send("PUBLISH", "c", "x")
        assert wire.pending == 1
        wire.data_received(b"-NOAUTH Authentication required.\r\n")
        assert wire.pending == 0
        assert len(lost) == 1
        assert "Redis refused a command: NOAUTH" in str(lost[0])
        assert pushes == []

    asyncio.run(scenario())


def test_commands_of_one_loop_step_are_written_together() -> None:
    async def scenario() -> None:
        wire = wire_on_fake([], [])
        transport = wire.transport
        assert isinstance(transport, FakeTransport)
        wire.send("PUBLISH", "c", "1")
        assert transport.written == [encode("PUBLISH", "c", "1")]  # at once
        wire.send("PUBLISH", "c", "2")
        wire.send("PUBLISH", "c", "3")
        assert len(transport.written) == 1  # the rest wait for the step's end
        await asyncio.sleep(0)
        rest = encode("PUBLISH", "c", "2") + encode("PUBLISH", "c", "3")
        assert transport.written[1:] == [rest]
        await asyncio.sleep(0)
        wire.send("PUBLISH", "c", "4")  # a new step: at once again
        assert transport.written[2:] == [encode("PUBLISH", "c", "4")]
        assert wire.pending == 4

    asyncio.run(scenario())


async def subscribed(url: str, channel: str) -> tuple[Wire, asyncio.Queue[Any]]:
    pushes: asyncio.Queue[Any] = asyncio.Queue()
    wire = await open_wire(url, Wire(pushes.put_nowait), 2.0)
    wire.send_push("SUBSCRIBE", channel)
    assert await asyncio.wait_for(pushes.get(), 2) == [
        b"subscribe",
        channel.encode(),
        1,
    ]
    return wire, pushes


@needs_redis
@pytest.mark.parametrize(
    "url",
    [
        URL,
        f"redis://default:{PASSWORD}@127.0.0.1:{PORT}",
        f"unix://:{PASSWORD}@{SOCKET}",
        f"{TLS_URL}?ssl_ca_certs={CA}",
    ],
    ids=["password", "user-and-password", "unix-socket", "tls"],
)
def test_a_publish_reaches_a_subscriber(url: str) -> None:
    big = "é" + "x" * 70_000  # more than one read of the socket

    async def scenario() -> None:
        channel = f"wire-{uuid4().hex}"
        subscriber, pushes = await subscribed(url, channel)
        publisher = await open_wire(url, Wire(), 2.0)
        try:
            for text in ("one", big, "three"):
                publisher.send("PUBLISH", channel, text)
            for text in ("one", big, "three"):
                got = await asyncio.wait_for(pushes.get(), 2)
                assert got == [b"message", channel.encode(), text.encode()]
            await eventually(lambda: publisher.pending == 0)
            assert publisher.pending == 0  # every PUBLISH acknowledged
        finally:
            await publisher.close()
            await subscriber.close()

    asyncio.run(scenario())


@needs_redis
def test_a_wrong_password_is_refused() -> None:
    async def scenario() -> None:
        wrong = f"redis://:not-{PASSWORD}@127.0.0.1:{PORT}/0"
        with pytest.raises(ReplyError, match="WRONGPASS|invalid"):
            await open_wire(wrong, Wire(), 2.0)

    asyncio.run(scenario())


@needs_redis
def test_tls_verifies_the_server_certificate() -> None:
    # The test server's certificate is self-signed: not trusted by default.
    async def scenario() -> None:
        with pytest.raises(ssl.SSLCertVerificationError):
            await open_wire(TLS_URL, Wire(), 2.0)

    asyncio.run(scenario())


def test_an_unknown_scheme_is_refused() -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="Redis URL must specify"):
            await open_wire("http://127.0.0.1:6379", Wire(), 2.0)

    asyncio.run(scenario())


async def started_backend(
    delivered: list[tuple[str, str]],
    queue_limit: int = 10_000,
    heartbeat: float = 5.0,
) -> RedisBackend:
    backend = RedisBackend(
        URL,
        namespace=f"wire-{uuid4().hex}",
        required=True,
        queue_limit=queue_limit,
        heartbeat=heartbeat,
        presence_ttl=heartbeat * 3,
    )

    def deliver(channel: str, message: str) -> None:
        if message == "boom":
            raise RuntimeError("a fan-out failed")
        delivered.append((channel, message))

    backend.bind(deliver, lambda *args: "", dict)
    await backend.connect()
    await backend.subscribe("room:a")
    session = backend._session
    assert session is not None
    await session.settle()
    return backend


@needs_redis
def test_a_failing_fan_out_or_a_foreign_frame_keeps_the_subscription(
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def scenario() -> None:
        delivered: list[tuple[str, str]] = []
        backend = await started_backend(delivered)
        outsider = await open_wire(URL, Wire(), 2.0)
        channel = backend.channel("room:a")
        origin = "o" * 32  # another worker's id
        try:
            outsider.send("PUBLISH", channel, origin + "boom")
            outsider.send("PUBLISH", channel, b"\xff\xfe not UTF-8")
            outsider.send("PUBLISH", channel, origin + "after")
            await eventually(lambda: bool(delivered))
            assert delivered == [("room:a", "after")]
            assert backend.connected
            assert backend._dropped == 1  # the frame that is not UTF-8
        finally:
            await outsider.close()
            await backend.disconnect()

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    logged = caplog.text + capsys.readouterr().out
    assert "ws.redis_deliver_failed" in logged


@needs_redis
def test_publishing_is_bounded_while_redis_does_not_answer() -> None:
    async def scenario() -> None:
        backend = await started_backend([], queue_limit=5)
        session = backend._session
        assert session is not None
        publisher = session._publisher
        assert publisher is not None
        admin = await open_wire(URL, Wire(), 2.0)
        try:
            assert await admin.call("CLIENT", "PAUSE", "500", "ALL") == b"OK"
            for index in range(20):
                await backend.publish("room:a", f"frame {index}")
            assert publisher.pending == 5  # written, waiting for Redis
            assert backend._dropped == 15  # the rest: dropped, not queued
            await eventually(lambda: publisher.pending == 0)
            assert publisher.pending == 0  # acknowledged after the pause
            assert backend.connected
        finally:
            await admin.close()
            await backend.disconnect()

    asyncio.run(scenario())


@needs_redis
def test_pings_keep_the_connections_past_the_redis_idle_timeout() -> None:
    """Redis closes connections idle for ``timeout`` seconds (subscribers
    excepted): the heartbeat's PINGs keep the publisher open, and both
    forms of PING's answer (subscribed or not) are understood."""

    async def set_idle_timeout(seconds: int) -> None:
        admin = await open_wire(URL, Wire(), 2.0)
        try:
            await admin.call("CONFIG", "SET", "timeout", str(seconds))
        finally:
            await admin.close()

    async def scenario() -> None:
        await set_idle_timeout(1)
        backend = await started_backend([], heartbeat=0.3)
        try:
            session = backend._session
            assert session is not None
            await asyncio.sleep(2.5)  # the publisher sent nothing but PINGs
            assert backend._session is session  # never lost, never reopened
            assert session._publisher is not None
            assert session._publisher.open
            await session._ping()  # subscribed: the answer is a push
            await backend.unsubscribe("room:a")
            await session.settle()
            await session._ping()  # subscribed to nothing: a plain reply
        finally:
            await set_idle_timeout(0)
            await backend.disconnect()

    asyncio.run(scenario())
