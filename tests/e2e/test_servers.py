"""The generated endpoint under every ASGI server a FastAPI user runs.

One generated project (`chat --auth --rooms --broadcast` in the aggregator
example) is served by each server with its default settings, so clients
negotiate permessage-deflate wherever the server offers it, as browsers do.
Against each: two JWT clients chat in a room; a client without a token is
refused with a readable close code; a client that stops reading its socket
is dropped while another keeps receiving a paced stream of 16 KiB
messages; SIGTERM closes connected clients with the documented code.
uvicorn runs twice: the installed release and the oldest supported one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import copy_example, free_port, run_wsgen

pytestmark = pytest.mark.live

SECRET = "server-matrix-secret-" + "x" * 40
PATH = "/api/v1/ws/chat"
# The close code a client receives when the server shuts down (README).
SHUTDOWN_CODE = 1012
# The stalled reader's queue overflows quickly at this size.
ENV = {
    "SECRET_KEY": SECRET,
    "WS_SEND_QUEUE_BYTES": "262144",
    "WS_RATE_MESSAGES_PER_SECOND": "1000",
    "WS_RATE_MESSAGES_BURST": "1000",
}


SERVERS: dict[str, Callable[[int], list[str]]] = {
    "fastapi-run": lambda port: [
        sys.executable, "-m", "fastapi", "run", "app/main.py",
        "--host", "127.0.0.1", "--port", str(port),
    ],
    "uvicorn": lambda port: [
        sys.executable, "-m", "uvicorn", "app.main:app",
        "--host", "127.0.0.1", "--port", str(port),
    ],
    # The oldest supported uvicorn (README), installed for this test only.
    "uvicorn-oldest": lambda port: [
        sys.executable, "-m", "uvicorn", "app.main:app",
        "--host", "127.0.0.1", "--port", str(port),
    ],
    "uvicorn-wsproto": lambda port: [
        sys.executable, "-m", "uvicorn", "app.main:app", "--ws", "wsproto",
        "--host", "127.0.0.1", "--port", str(port),
    ],
    "gunicorn": lambda port: [
        sys.executable, "-m", "gunicorn", "app.main:app",
        "-k", "uvicorn.workers.UvicornWorker", "-w", "1",
        "-b", f"127.0.0.1:{port}",
    ],
    "hypercorn": lambda port: [
        sys.executable, "-m", "hypercorn", "app.main:app",
        "-b", f"127.0.0.1:{port}",
    ],
    "granian": lambda port: [
        sys.executable, "-m", "granian", "--interface", "asgi",
        "--host", "127.0.0.1", "--port", str(port), "app.main:app",
    ],
}  # fmt: skip


OLDEST_UVICORN = "0.30.0"


@dataclass
class Served:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{PATH}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_example("api_aggregator", tmp_path_factory.mktemp("servers"))
    result = run_wsgen(
        "chat", "--auth", "--rooms", "--broadcast", "--yes", "--no-verify", cwd=root
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return root


@pytest.fixture(scope="module")
def oldest_uvicorn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding only uvicorn at its oldest supported release:
    first on PYTHONPATH, it shadows the installed one (and nothing else)."""
    target = tmp_path_factory.mktemp("uvicorn-oldest")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--target", str(target), f"uvicorn=={OLDEST_UVICORN}"],
        check=False,
        capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    return target


def start(project: Path, name: str, path: Path | None = None) -> Served:
    port = free_port()
    env = {**os.environ, **ENV, "PYTHONUNBUFFERED": "1"}
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    log_path = project / f"{name}-{port}.log"
    with log_path.open("wb") as log:  # a file: an unread pipe blocks a server
        proc = subprocess.Popen(
            SERVERS[name](port), cwd=project, env=env, stdout=log, stderr=log
        )
    served = Served(name, port, proc, log_path)
    deadline = time.monotonic() + 30
    while True:
        try:
            url = f"http://127.0.0.1:{port}/api/v1/openapi.json"
            urllib.request.urlopen(url, timeout=1).close()
            return served
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(served)
                pytest.fail(f"{name} did not start: {served.log()[-2000:]}")
            time.sleep(0.1)


def stop(served: Served) -> None:
    if served.proc.poll() is None:
        served.proc.kill()
        served.proc.wait()


@pytest.fixture(scope="module", params=sorted(SERVERS))
def served(request: pytest.FixtureRequest, project: Path) -> Iterator[Served]:
    path = None
    if request.param == "uvicorn-oldest":
        path = request.getfixturevalue("oldest_uvicorn")
    server = start(project, request.param, path)
    if path is not None:  # the old release is the one serving
        version = subprocess.run(
            [sys.executable, "-c", "import uvicorn; print(uvicorn.__version__)"],
            env={**os.environ, "PYTHONPATH": str(path)}, capture_output=True,
            check=True,
            text=True,
        ).stdout.strip()  # fmt: skip
        assert version == OLDEST_UVICORN, version
    try:
        yield server
    finally:
        stop(server)


def token_for(user: str) -> str:
    now = int(time.time())
    claims = {"sub": user, "iat": now, "exp": now + 300}
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def joined(url: str, user: str, room: str = "r") -> ClientConnection:
    """A client (deflate offered, as browsers do) that has joined ``room``."""
    ws = await connect(f"{url}?token={token_for(user)}", max_size=None)
    await ws.send(json.dumps({"type": "join_room", "room_id": room}))
    await next_of(ws, "room_joined")
    return ws


async def next_of(ws: ClientConnection, kind: str, within: float = 10) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), within))
        if frame["type"] == kind:
            return frame


def test_two_clients_chat_in_a_room(served: Served) -> None:
    async def scenario() -> None:
        alice = await joined(served.url, "alice")
        bob = await joined(served.url, "bob")
        try:
            await alice.send(
                json.dumps({"type": "message", "room_id": "r", "content": "hi"})
            )
            frame = await next_of(bob, "message")
            assert (frame["user_id"], frame["content"]) == ("alice", "hi")
            # Deflate is negotiated where the server offers it: the run is
            # the one browsers get, not a faster uncompressed one.
            if served.name != "granian":  # granian offers no extensions
                assert bob.protocol.extensions, "permessage-deflate not negotiated"
        finally:
            await alice.close()
            await bob.close()

    asyncio.run(scenario())


def test_client_without_token_is_refused_with_a_code(served: Served) -> None:
    async def scenario() -> int | None:
        try:
            async with connect(served.url) as ws:
                await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        return None

    assert asyncio.run(scenario()) == 4001


def _masked_text(payload: dict) -> bytes:
    data = json.dumps(payload).encode()
    assert len(data) < 126
    mask = os.urandom(4)
    return (
        bytes([0x81, 0x80 | len(data)])
        + mask
        + bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
    )


def stalled_reader(port: int, user: str) -> socket.socket:
    """Joins room ``r`` over a raw socket, then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {PATH}?token={token_for(user)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert b" 101 " in sock.recv(4096).split(b"\r\n", 1)[0]
    sock.sendall(_masked_text({"type": "join_room", "room_id": "r"}))
    return sock


def test_stalled_reader_is_dropped_while_the_room_keeps_receiving(
    served: Served,
) -> None:
    count, content = 300, "x" * 16_384

    async def drain(ws: ClientConnection) -> None:
        async for _ in ws:  # the sender reads its own echoes too
            pass

    async def scenario() -> tuple[list[float], float | None]:
        receiver = await joined(served.url, "receiver")
        sender = await joined(served.url, "sender")
        echoes = asyncio.create_task(drain(sender))
        sock = stalled_reader(served.port, "stalled")
        await next_of(receiver, "user_joined")
        sent: dict[int, float] = {}
        delays: list[float] = []
        dropped_after: float | None = None
        started = time.monotonic()

        async def receive() -> None:
            nonlocal dropped_after
            while len(delays) < count:
                frame = json.loads(await asyncio.wait_for(receiver.recv(), 15))
                if frame["type"] == "message" and frame["user_id"] == "sender":
                    index = int(frame["content"][:5])
                    assert index == len(delays), "out of order"
                    delays.append(time.monotonic() - sent[index])
                elif frame["type"] == "user_left" and frame["user_id"] == "stalled":
                    dropped_after = time.monotonic() - started

        receiving = asyncio.create_task(receive())
        try:
            for index in range(count):
                sent[index] = time.monotonic()
                body = f"{index:05d}{content}"
                await sender.send(
                    json.dumps({"type": "message", "room_id": "r", "content": body})
                )
                await asyncio.sleep(0.01)  # paced: about 100 messages/s
            await receiving
        finally:
            sock.close()
            echoes.cancel()
            await receiver.close()
            await sender.close()
        return delays, dropped_after

    delays, dropped_after = asyncio.run(scenario())
    assert len(delays) == count
    assert dropped_after is not None, "the stalled reader was never dropped"
    # The stalled peer never held its room back: no delivery waited on it.
    assert max(delays) < 2.0, max(delays)
    assert "limit=send_queue" in served.log()  # closed 1013 for its queue


# What a connected client receives when the server gets SIGTERM. uvicorn
# closes WebSocket clients itself with 1012 before the app's shutdown runs;
# the runtime closes with the same code where the server leaves it to the app
# (hypercorn cancels the handler once its 3 s graceful timeout is over).
# granian closes the TCP connections itself, before the app's shutdown and
# without a close frame (the client sees 1006): nothing the app could send.
SHUTDOWN_CODES = {name: SHUTDOWN_CODE for name in SERVERS} | {"granian": None}


def test_sigterm_closes_clients_with_the_documented_code(served: Served) -> None:
    async def scenario() -> tuple[int | None, float]:
        ws = await joined(served.url, "leaving")
        started = time.monotonic()
        served.proc.send_signal(signal.SIGTERM)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            return code, time.monotonic() - started

    code, after = asyncio.run(scenario())
    served.proc.wait(timeout=15)
    assert code == SHUTDOWN_CODES[served.name], (code, served.log()[-1500:])
    assert after < 5, after
