"""Unit tests of the runtime's writer and settings, on its source here."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from wsgen.runtime.connection import Connection, Identity
from wsgen.runtime.settings import WebSocketSettings


class FakeSocket:
    """Records frames; ``gate`` (when set) holds every send until opened."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str | None] | None = None
        self.gate: asyncio.Event | None = None
        self.yield_every = 0

    async def send_text(self, data: str) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.sent.append(data)
        if self.yield_every and len(self.sent) % self.yield_every == 0:
            await asyncio.sleep(0)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


def queued(conn: Connection) -> tuple[int, int]:
    """Frames and bytes waiting to be written."""
    return len(conn._queue) + len(conn._run), conn._queued_bytes


def _connection(socket: FakeSocket, **limits: int) -> Connection:
    settings = replace(WebSocketSettings(), **limits)
    return Connection(socket, Identity(user_id="u"), settings, lambda conn: None)


def test_a_drained_writer_parks_and_wakes_for_the_next_frame() -> None:
    async def scenario() -> None:
        socket = FakeSocket()
        conn = _connection(socket)
        conn.send("one")
        await asyncio.sleep(0.01)
        writer = conn._writer
        assert writer is not None and not writer.done()  # parked, not ended
        conn.send("two")
        await asyncio.sleep(0.01)
        assert conn._writer is writer  # the same task, woken
        assert socket.sent == ["one", "two"]
        assert queued(conn) == (0, 0)
        conn.close(1000, "bye")
        await conn.wait_closed()
        assert writer.done() and not writer.cancelled()
        assert socket.closed == (1000, "bye")

    asyncio.run(scenario())


def test_frames_keep_their_order_across_runs() -> None:
    """A writer that never quite catches up takes what waits, one run at a
    time: order and the byte count survive, and the list that waits never
    grows with everything ever sent."""

    async def scenario() -> None:
        socket = FakeSocket()
        # The socket takes a loop turn every 5 frames and the producer adds
        # 5 per turn: the queue never empties.
        socket.yield_every = 5
        conn = _connection(socket, send_queue_messages=100_000)
        expected = [f"frame-{i}" for i in range(5000)]
        longest = 0
        for start in range(0, len(expected), 5):
            for text in expected[start : start + 5]:
                assert conn.send(text)
            longest = max(longest, len(conn._queue))
            await asyncio.sleep(0)
        while queued(conn)[0]:
            await asyncio.sleep(0)
        assert socket.sent == expected
        assert queued(conn) == (0, 0)
        # A queue never taken whole would hold all 5000 frames.
        assert longest < 600, longest
        conn.close(1000, "done")
        await conn.wait_closed()

    asyncio.run(scenario())


def test_close_without_drain_drops_the_rest_of_a_run() -> None:
    async def scenario() -> None:
        socket = FakeSocket()
        socket.gate = asyncio.Event()
        conn = _connection(socket)
        for i in range(10):
            conn.send(f"f{i}")
        await asyncio.sleep(0.01)  # the writer is stuck on the first frame
        conn.close(1013, "send queue full", drain=False)
        assert queued(conn) == (0, 0)
        await conn.wait_closed()
        # The writer stuck on the socket is given up on, not waited for.
        assert socket.sent == []
        assert conn._writer is not None and conn._writer.cancelled()
        assert socket.closed == (1013, "send queue full")

    asyncio.run(scenario())


def test_a_full_queue_closes_only_that_connection() -> None:
    async def scenario() -> None:
        socket = FakeSocket()
        socket.gate = asyncio.Event()
        conn = _connection(socket, send_queue_messages=5)
        results = [conn.send(f"f{i}") for i in range(7)]
        # The first is taken by the writer only once it runs: 5 fit.
        assert results == [True] * 5 + [False, False]
        assert conn.close_code == 1013
        socket.gate.set()
        await conn.wait_closed()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", False),
        ("1", True),
        ("on", True),
        ("0", False),
        ("off", False),
        ("No", False),
    ],
)
def test_gc_freeze_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("WS_GC_FREEZE", value)
    assert WebSocketSettings.from_env().gc_freeze is expected


def test_gc_freeze_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WS_GC_FREEZE", raising=False)
    assert WebSocketSettings().gc_freeze is False
    assert WebSocketSettings.from_env().gc_freeze is False


def test_gc_freeze_setting_refuses_other_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WS_GC_FREEZE", "maybe")
    with pytest.raises(ValueError, match="WS_GC_FREEZE"):
        WebSocketSettings.from_env()


@pytest.mark.parametrize(("value", "frozen"), [("on", True), ("off", False)])
def test_start_freezes_startup_objects_once(value: str, frozen: bool) -> None:
    # A process of its own: freezing is process-wide.
    code = (
        "import asyncio, gc\n"
        "from wsgen.runtime.manager import ConnectionManager\n"
        "from wsgen.runtime.settings import WebSocketSettings\n"
        "async def main():\n"
        "    manager = ConnectionManager(WebSocketSettings.from_env())\n"
        "    await manager.start()\n"
        "    first = gc.get_freeze_count()\n"
        "    await manager.stop()\n"
        "    later = [[i] for i in range(20_000)]  # tracked objects\n"
        "    await manager.start()\n"
        "    await manager.stop()\n"
        "    print(first, gc.get_freeze_count())\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WS_GC_FREEZE": value},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = map(int, proc.stdout.split())
    if frozen:
        assert first > 1000  # the app's modules and objects
        assert second < first + 20_000  # once per process
    else:
        assert first == second == 0


@pytest.mark.parametrize(("value", "seconds"), [("", 10.0), ("2.5", 2.5), ("0", 0.0)])
def test_tcp_user_timeout_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, seconds: float
) -> None:
    from wsgen.runtime.uvicorn_protocol import tcp_user_timeout

    monkeypatch.setenv("WS_TCP_USER_TIMEOUT", value)
    assert tcp_user_timeout() == seconds


@pytest.mark.parametrize("value", ["soon", "-1"])
def test_tcp_user_timeout_refuses_bad_values(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from wsgen.runtime.uvicorn_protocol import tcp_user_timeout

    monkeypatch.setenv("WS_TCP_USER_TIMEOUT", value)
    with pytest.raises(ValueError, match="WS_TCP_USER_TIMEOUT"):
        tcp_user_timeout()


def test_protocol_sets_the_option_on_accepted_sockets() -> None:
    import socket

    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

    from wsgen.runtime import uvicorn_protocol

    assert issubclass(uvicorn_protocol.WebSocketProtocol, AutoWebSocketsProtocol)

    class Transport:
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock

        def get_extra_info(self, name: str) -> object:
            return self.sock if name == "socket" else None

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                uvicorn_protocol._bound_unacknowledged(Transport(accepted), 1.5)
                value = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
                assert value == 1500
                assert (
                    client.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 0
                )


# -- frames written straight to the transport (uvicorn_protocol.py) --------


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65_535, 65_536, 70_000])
def test_text_frame_matches_websockets_framing(length: int) -> None:
    from websockets.frames import Frame, Opcode

    from wsgen.runtime.connection import text_frame

    data = ("é" * length).encode()[:length]
    expected = Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])
    assert text_frame(data) == expected


class DirectSocket(FakeSocket):
    """A socket served by the runtime's protocol: ``write_frame`` in the
    scope; ``accepting`` false stands for a paused or closing transport."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.accepting = True
        self.scope = {"extensions": {"wsgen.frames": self.write_frame}}

    def write_frame(self, frame: bytes) -> bool:
        if self.accepting:
            self.written.append(frame)
        return self.accepting


def _texts(frames: list[bytes]) -> list[str]:
    from websockets.frames import Frame
    from websockets.streams import StreamReader

    reader = StreamReader()
    for frame in frames:
        reader.feed_data(frame)
    texts = []
    for _ in frames:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            texts.append(done.value.data.decode())
    return texts


def test_an_idle_connection_writes_the_frame_without_queueing() -> None:
    async def scenario() -> None:
        socket = DirectSocket()
        conn = _connection(socket)
        assert conn.send("héllo")
        assert _texts(socket.written) == ["héllo"]
        assert socket.sent == [] and queued(conn) == (0, 0)
        assert conn._writer is None  # no task for a frame written at once

    asyncio.run(scenario())


def test_a_refused_frame_queues_and_the_next_ones_wait_behind_it() -> None:
    """Order across both paths: once a frame is queued (the transport was
    paused), later frames queue behind it even if the transport would
    take them; the writer sends a refused frame through ASGI and writes
    the rest of the queue directly as soon as the transport takes them."""

    async def scenario() -> None:
        socket = DirectSocket()
        socket.gate = asyncio.Event()
        conn = _connection(socket)
        conn.send("one")
        socket.accepting = False
        conn.send("two")
        socket.accepting = True
        conn.send("three")  # the transport would take it: still queued
        assert _texts(socket.written) == ["one"]
        assert queued(conn)[0] == 2
        socket.accepting = False
        await asyncio.sleep(0.01)
        conn.send("four")  # the writer is stuck on "two": queue it
        # The run being written ("two", "three") counts until it is done.
        assert queued(conn)[0] == 3 and socket.sent == []
        socket.accepting = True
        socket.gate.set()
        await asyncio.sleep(0.01)
        assert socket.sent == ["two"]  # the one the transport refused
        assert _texts(socket.written) == ["one", "three", "four"]
        assert queued(conn) == (0, 0)
        conn.send("five")  # drained and parked: straight to the transport
        assert _texts(socket.written)[-1] == "five"

    asyncio.run(scenario())


def test_a_frame_over_the_byte_limit_is_never_written_directly() -> None:
    async def scenario() -> None:
        socket = DirectSocket()
        conn = _connection(socket, send_queue_bytes=64)
        assert not conn.send("x" * 65)
        assert socket.written == []
        assert conn.close_code == 1013

    asyncio.run(scenario())


def test_write_frame_declines_on_a_protocol_it_does_not_know() -> None:
    """A uvicorn whose protocol lacks an attribute the check reads: the
    frame goes through ASGI instead of an AttributeError in a fan-out."""
    from wsgen.runtime.uvicorn_protocol import WebSocketProtocol

    write_frame = WebSocketProtocol.write_frame  # type: ignore[attr-defined]

    class Bare:
        close_sent = False
        handshake_complete = True

    assert write_frame(Bare(), b"\x81\x00") is False


# -- frames of any shape -------------------------------------------------------

_NEST = 20_000  # about 40 KB of brackets: under the 64 KiB frame limit
HOSTILE_FRAMES = {
    "deep-array-in-auth": '{"type":"auth","token":"t","x":'
    + "[" * _NEST
    + "]" * _NEST
    + "}",
    "deep-object-in-auth": '{"type":"auth","x":' + '{"a":' * 8_000 + "1" + "}" * 8_001,
    "deep-token": '{"type":"auth","token":' + "[" * _NEST + "]" * _NEST + "}",
    "deep-message": '{"type":"message","room_id":"r","content":"x","d":'
    + "[" * _NEST
    + "]" * _NEST
    + "}",
    "huge-number": '{"type":"auth","token":' + "9" * 30_000 + "}",
    "lone-surrogate": '{"type":"auth","token":"\\ud800"}',
    "not-json": '"auth" ' + "{" * _NEST,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FRAMES))
def test_no_frame_raises_out_of_frame_handling(name: str) -> None:
    """Hostile frames (an ``auth`` frame nested 20,000 deep raised
    RecursionError: 1011 and a traceback) get an ``error`` frame, quickly,
    and the connection stays open."""
    import json
    import time
    from typing import Annotated, Any

    from pydantic import Field, TypeAdapter

    from wsgen.runtime import session
    from wsgen.runtime.auth import auth_token
    from wsgen.runtime.protocol import ChatMessage, Ping, ProtocolError

    frames: TypeAdapter[Any] = TypeAdapter(
        Annotated[ChatMessage | Ping, Field(discriminator="type")]
    )
    settings = WebSocketSettings()

    async def refresh(text: str) -> Identity | ProtocolError | None:
        # As auth.py's: only an auth frame's token is checked.
        if auth_token(text) is None:
            return None
        return ProtocolError("invalid_token", "invalid token")

    async def handle(conn: Connection, frame: Any) -> None:
        raise AssertionError(f"a hostile frame was handled: {frame!r}")

    class OneFrame(FakeSocket):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.messages = [
                {"type": "websocket.receive", "text": text},
                {"type": "websocket.disconnect", "code": 1000},
            ]

        async def receive(self) -> dict[str, Any]:
            return self.messages.pop(0)

    async def scenario() -> None:
        text = HOSTILE_FRAMES[name]
        socket = OneFrame(text)
        identity = Identity(user_id="u", authenticated=True, refresh=refresh)
        conn = Connection(socket, identity, settings, lambda conn: None)
        reader = session._Reader(conn, settings)
        assert len(text.encode()) < settings.max_frame_bytes
        started = time.perf_counter()
        assert await reader.read(socket, frames, handle) == 1000  # type: ignore[arg-type]
        took = time.perf_counter() - started
        reader.timer.cancel()
        await asyncio.sleep(0.01)
        assert conn.close_code is None
        reply = json.loads(socket.sent[-1])
        assert reply["type"] == "error", reply
        assert took < 0.05, took  # never a loop-blocking traceback

    asyncio.run(scenario())


# -- the uvicorn accelerator ---------------------------------------------------


def test_accelerator_is_gated_to_the_releases_it_knows() -> None:
    from uvicorn.protocols.websockets.websockets_sansio_impl import (
        WebSocketsSansIOProtocol,
    )
    from uvicorn.protocols.websockets.wsproto_impl import WSProtocol

    from wsgen.runtime.uvicorn_protocol import direct_frames_refusal

    sansio = WebSocketsSansIOProtocol
    assert direct_frames_refusal("0.52.1", sansio) is None
    assert direct_frames_refusal("0.55.0", sansio) is None
    # No write flow control before 0.52.1: a stalled reader's frames
    # would pile up in the transport, past the queue limit.
    assert "older than 0.52.1" in str(direct_frames_refusal("0.52.0", sansio))
    assert "older than 0.52.1" in str(direct_frames_refusal("0.30.0", sansio))
    assert "WSProtocol" in str(direct_frames_refusal("0.55.0", WSProtocol))


class _Transport:
    def __init__(self, buffered: int = 0) -> None:
        self.buffered = buffered
        self.written: list[bytes] = []

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        self.written.append(data)


def _open_protocol(transport: _Transport, extensions: list[object]) -> object:
    from websockets.protocol import State

    class Conn:
        state = State.OPEN

    conn = Conn()
    conn.extensions = extensions  # type: ignore[attr-defined]

    class Open:
        close_sent = False
        handshake_complete = True

    protocol = Open()
    protocol.conn = conn  # type: ignore[attr-defined]
    protocol.transport = transport  # type: ignore[attr-defined]
    return protocol


def test_accelerator_checks_the_transport_buffer_itself() -> None:
    """``writable`` is uvicorn's to keep (and was never cleared on some
    releases): the transport's own buffer decides."""
    from wsgen.runtime.connection import text_frame
    from wsgen.runtime.uvicorn_protocol import WebSocketProtocol

    write_frame = WebSocketProtocol.write_frame  # type: ignore[attr-defined]
    frame = text_frame(b'{"type":"pong"}')
    roomy = _Transport(buffered=1000)
    assert write_frame(_open_protocol(roomy, []), frame) is True
    assert roomy.written == [frame]
    full = _Transport(buffered=64 * 1024 + 1)
    assert write_frame(_open_protocol(full, []), frame) is False
    assert full.written == []


def test_accelerator_leaves_small_frames_uncompressed_under_deflate() -> None:
    from websockets.extensions.permessage_deflate import PerMessageDeflate

    from wsgen.runtime.connection import text_frame
    from wsgen.runtime.uvicorn_protocol import WebSocketProtocol

    write_frame = WebSocketProtocol.write_frame  # type: ignore[attr-defined]
    deflate = [PerMessageDeflate(False, False, 12, 12)]
    small, big = text_frame(b"x" * 900), text_frame(b"x" * 2000)
    transport = _Transport()
    assert write_frame(_open_protocol(transport, deflate), small) is True
    assert transport.written == [small]
    assert small[0] & 0x40 == 0  # RSV1 unset: an uncompressed message
    # Bigger ones are worth compressing: the ASGI send does it.
    assert write_frame(_open_protocol(transport, deflate), big) is False
    # An extension it does not know: never written around it.
    assert write_frame(_open_protocol(transport, [object()]), small) is False
    assert transport.written == [small]


def test_accelerator_logs_one_line_at_start_up() -> None:
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "import wsgen.runtime.uvicorn_protocol\n"
        "import wsgen.runtime.uvicorn_protocol\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line for line in out.splitlines() if "wsgen accelerator" in line]
    assert len(lines) == 1, out
    assert "active (uvicorn " in lines[0], lines[0]


def test_a_handler_cancelled_by_the_server_closes_with_1012() -> None:
    """hypercorn cancels handlers once its graceful timeout is over (and
    then sends 1011 itself): the runtime sends 1012 first, the code every
    other server's shutdown sends, so clients come back at once."""
    from typing import Any, ClassVar

    from pydantic import TypeAdapter

    from wsgen.runtime.manager import ConnectionManager
    from wsgen.runtime.protocol import Ping
    from wsgen.runtime.session import serve

    class ServerSocket(FakeSocket):
        scope: ClassVar[dict[str, Any]] = {}

        async def receive(self) -> dict[str, Any]:
            await asyncio.get_running_loop().create_future()  # never
            raise AssertionError("unreachable")

    async def handle(conn: Connection, frame: Any) -> None:
        pass

    async def scenario() -> None:
        manager = ConnectionManager(WebSocketSettings())
        socket = ServerSocket()
        handler = asyncio.create_task(
            serve(socket, manager, Identity(user_id="u"), TypeAdapter(Ping), handle)  # type: ignore[arg-type]
        )
        await asyncio.sleep(0.01)
        assert manager.connection_count == 1
        handler.cancel()
        with pytest.raises(asyncio.CancelledError):
            await handler
        assert socket.closed == (1012, "server shutting down")
        assert manager.connection_count == 0

    asyncio.run(scenario())


# -- the read loop (session.py) ------------------------------------------------


class ScriptedSocket(FakeSocket):
    """A socket whose client sends what the test puts in ``inbox``."""

    def __init__(self) -> None:
        super().__init__()
        self.inbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    def client_sends(self, frame: dict[str, object]) -> None:
        import json

        self.inbox.put_nowait({"type": "websocket.receive", "text": json.dumps(frame)})

    async def receive(self) -> dict[str, object]:
        return await self.inbox.get()

    def replies(self) -> list[dict[str, object]]:
        import json

        return [json.loads(text) for text in self.sent]


def _served(
    socket: ScriptedSocket,
    identity: Identity,
    handled: list[object],
    **limits: float,
) -> asyncio.Task[None]:
    """Serve ``socket`` on a manager of its own; ``handled`` gets the frames
    the endpoint's handler sees."""
    from typing import Annotated, Any

    from pydantic import Field, TypeAdapter

    from wsgen.runtime.manager import ConnectionManager
    from wsgen.runtime.protocol import ChatMessage, Ping, Typing
    from wsgen.runtime.session import serve

    manager = ConnectionManager(replace(WebSocketSettings(), **limits))
    frames: TypeAdapter[Any] = TypeAdapter(
        Annotated[ChatMessage | Ping | Typing, Field(discriminator="type")]
    )

    async def handle(conn: Connection, frame: Any) -> None:
        handled.append(frame)

    serving = serve(socket, manager, identity, frames, handle)  # type: ignore[arg-type]
    return asyncio.create_task(serving)


def test_rate_limits_answer_errors_then_close_after_the_strikes() -> None:
    async def scenario() -> None:
        socket, handled = ScriptedSocket(), list[object]()
        task = _served(
            socket,
            Identity(user_id="u"),
            handled,
            messages_burst=2,
            messages_per_second=0,
            rate_strikes=3,
            typing_burst=1,
            typing_per_second=0,
        )
        for frame in [{"type": "typing", "room_id": "r"}] * 2 + [{"type": "ping"}] * 3:
            socket.client_sends(frame)
        await asyncio.wait_for(task, 1)
        # One typing frame handled, the second dropped quietly (its own
        # bucket); then every frame is over the message rate: two errors,
        # and the third strike closes.
        assert [type(frame).__name__ for frame in handled] == ["Typing"]
        codes = [reply.get("code") for reply in socket.replies()[1:]]
        assert codes == ["rate_limited", "rate_limited"]
        assert socket.closed == (1008, "rate limit exceeded")

    asyncio.run(scenario())


def test_frames_keep_an_idle_connection_open_until_it_goes_quiet() -> None:
    async def scenario() -> None:
        socket = ScriptedSocket()
        task = _served(socket, Identity(user_id="u"), [], idle_timeout=0.2)
        started = asyncio.get_running_loop().time()
        for _ in range(4):
            await asyncio.sleep(0.1)
            socket.client_sends({"type": "ping"})
        await asyncio.wait_for(task, 1)
        took = asyncio.get_running_loop().time() - started
        assert socket.closed == (1001, "idle timeout")
        assert 0.55 < took < 0.9, took  # the last frame at 0.4, then 0.2 quiet
        assert [reply["type"] for reply in socket.replies()[1:]] == ["pong"] * 4

    asyncio.run(scenario())


def test_a_refreshed_token_moves_the_expiry() -> None:
    import json
    import time

    from wsgen.runtime.protocol import ProtocolError

    async def refresh(text: str) -> Identity | ProtocolError | None:
        if json.loads(text)["token"] != "fresh":
            return ProtocolError("invalid_token", "invalid token")
        later = time.time() + 0.4
        return Identity(
            user_id="u", authenticated=True, expires_at=later, refresh=refresh
        )

    async def scenario() -> None:
        socket = ScriptedSocket()
        identity = Identity(
            user_id="u",
            authenticated=True,
            expires_at=time.time() + 0.2,
            refresh=refresh,
        )
        task = _served(socket, identity, [])
        socket.client_sends({"type": "auth", "token": "stale"})
        socket.client_sends({"type": "auth", "token": "fresh"})
        await asyncio.sleep(0.3)  # past the first expiry
        assert socket.closed is None
        await asyncio.wait_for(task, 1)
        assert socket.closed == (4009, "token expired")
        replies = socket.replies()[1:]
        assert [reply.get("code") for reply in replies] == ["invalid_token", None]
        assert replies[1]["type"] == "auth_ok"

    asyncio.run(scenario())
