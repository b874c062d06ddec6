"""The generated uvicorn protocol against a real uvicorn.

A client that stops reading its socket: the runtime drops it at once, but
only the generated protocol (``--ws <runtime>.uvicorn_protocol:
WebSocketProtocol``) gets its TCP connection closed: with uvicorn's own
protocol the server keeps the socket for as long as the client's kernel
answers zero-window probes.

Frames the runtime writes itself (framed once per fan-out): whatever their
size, strict clients read exactly what was sent, with and without
compression (which turns the direct path off).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.sync.client import connect as sync_connect

from tests.conftest import copy_example, free_port, run_wsgen

pytestmark = pytest.mark.live

PROTOCOL = "app.websocket.uvicorn_protocol:WebSocketProtocol"
USER_TIMEOUT = 2  # seconds, WS_TCP_USER_TIMEOUT
CLOSED_WITHIN = 12.0  # seconds from the first message of the flood


def established(server_port: int, client_port: int) -> bool:
    """The server's side of the connection, as the kernel lists it."""
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if (
                int(local.split(":")[1], 16) == server_port
                and int(remote.split(":")[1], 16) == client_port
            ):
                return state == "01"
    return False


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_example("single_file", tmp_path_factory.mktemp("stalled"))
    result = run_wsgen(
        "chat", "--rooms", "--accelerator", "uvicorn", "--yes", "--no-verify", cwd=root
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return root


@contextmanager
def uvicorn(project: Path, ws: str, *, deflate: bool = False) -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "WS_TCP_USER_TIMEOUT": str(USER_TIMEOUT),
        "WS_RATE_MESSAGES_PER_SECOND": "100000",
        "WS_RATE_MESSAGES_BURST": "100000",
        "WS_MAX_FRAME_BYTES": str(1 << 20),  # room for the 64-bit length case
    }
    cmd = [
        sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1",
        "--port", str(port), "--ws", ws,
        "--ws-per-message-deflate", "true" if deflate else "false",
        "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(proc.stderr.read().decode()[-2000:]) from None
                time.sleep(0.1)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=10)


def masked_text_frame(payload: dict[str, str]) -> bytes:
    data = json.dumps(payload).encode()
    assert len(data) < 126
    mask = os.urandom(4)
    body = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
    return bytes([0x81, 0x80 | len(data)]) + mask + body


def stalled_client(port: int) -> socket.socket:
    """Joins room ``r``, then never reads again (a tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert b" 101 " in sock.recv(4096).split(b"\r\n", 1)[0]
    sock.sendall(masked_text_frame({"type": "join_room", "room_id": "r"}))
    return sock


async def flood_and_watch(port: int, client_port: int) -> float | None:
    """Send 16 KiB messages to the room; seconds until the server's side of
    the stalled connection is gone (None: still there after the bound)."""
    payload = base64.b64encode(os.urandom(12_000)).decode()
    async with connect(f"ws://127.0.0.1:{port}/ws/chat", max_size=None) as ws:
        await ws.send(json.dumps({"type": "join_room", "room_id": "r"}))

        async def keep_reading() -> None:
            async for _ in ws:
                pass

        reader = asyncio.create_task(keep_reading())
        started = time.monotonic()
        for _ in range(200):
            await ws.send(
                json.dumps({"type": "message", "room_id": "r", "content": payload})
            )
            await asyncio.sleep(0.002)
        try:
            while time.monotonic() - started < CLOSED_WITHIN:
                if not established(port, client_port):
                    return time.monotonic() - started
                await asyncio.sleep(0.1)
            return None
        finally:
            reader.cancel()


@pytest.mark.parametrize(("ws", "closes"), [(PROTOCOL, True), ("auto", False)])
def test_stalled_peer_tcp_connection(project: Path, ws: str, closes: bool) -> None:
    with uvicorn(project, ws) as port:
        sock = stalled_client(port)
        try:
            client_port = sock.getsockname()[1]
            assert established(port, client_port)
            closed_after = asyncio.run(flood_and_watch(port, client_port))
        finally:
            sock.close()
    if closes:
        assert closed_after is not None, "the stalled peer's socket stayed open"
    else:
        # uvicorn's own protocol: the reason the generated one exists.
        assert closed_after is None, closed_after


async def room_round_trip(port: int, contents: list[str], compress: bool) -> None:
    """A sender and two receivers in one room: every receiver reads every
    content, intact and in order (the client fails on a malformed frame)."""
    url = f"ws://127.0.0.1:{port}/ws/chat"
    compression = "deflate" if compress else None
    clients = [
        await connect(url, max_size=None, compression=compression) for _ in range(3)
    ]
    try:
        for ws in clients:
            await ws.send(json.dumps({"type": "join_room", "room_id": "big"}))
            while json.loads(await ws.recv())["type"] != "room_joined":
                pass
        sender, *receivers = clients
        for content in contents:
            frame = {"type": "message", "room_id": "big", "content": content}
            await sender.send(json.dumps(frame))
        for ws in receivers:
            got: list[str] = []
            while len(got) < len(contents):
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame["type"] == "message":
                    got.append(frame["content"])
            assert got == contents
            assert ws.protocol.extensions if compress else not ws.protocol.extensions
    finally:
        for ws in clients:
            await ws.close()


@pytest.mark.parametrize("deflate", [False, True])
def test_frames_of_every_length_arrive_intact(project: Path, deflate: bool) -> None:
    # Lengths around the 7-bit, 16-bit and 64-bit length encodings, once the
    # JSON envelope is added; non-ASCII so bytes and characters differ.
    contents = ["é", "x" * 60, "ü" * 70, "y" * 65_500, "z" * 70_000, "ok"]
    with uvicorn(project, PROTOCOL, deflate=deflate) as port:
        asyncio.run(room_round_trip(port, contents, compress=deflate))


def read_frame(sock: socket.socket) -> tuple[bool, bytes]:
    """One unmasked server frame: (RSV1 set, payload)."""

    def exactly(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            assert chunk, "connection closed"
            data += chunk
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(exactly(2), "big")
    elif length == 127:
        length = int.from_bytes(exactly(8), "big")
    return bool(first & 0x40), exactly(length)


def test_small_frames_are_written_uncompressed_under_deflate(project: Path) -> None:
    """Deflate negotiated (as every browser does): a small room message is
    written as built once, uncompressed (RSV1 unset, RFC 7692 allows it), a
    big one compressed; the receiver's compression context stays valid."""
    with uvicorn(project, PROTOCOL, deflate=True) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(1)
        assert b" 101 " in response and b"permessage-deflate" in response.lower()
        sock.sendall(masked_text_frame({"type": "join_room", "room_id": "z"}))
        inflate = zlib.decompressobj(wbits=-15)
        small, big = "hi", "compressible " * 300
        received: dict[str, bool] = {}
        with sync_connect(f"ws://127.0.0.1:{port}/ws/chat") as sender:
            sender.send(json.dumps({"type": "join_room", "room_id": "z"}))
            # One at a time: a frame sent while another still waits in the
            # queue goes through the queue, behind it, to keep the order.
            for content in (small, big, small + "!", big + "?"):
                frame = {"type": "message", "room_id": "z", "content": content}
                sender.send(json.dumps(frame))
                while content not in received:
                    compressed, payload = read_frame(sock)
                    if compressed:
                        payload = inflate.decompress(payload + b"\x00\x00\xff\xff")
                    message = json.loads(payload)
                    if message["type"] == "message":
                        received[message["content"]] = compressed
        sock.close()
    assert received == {small: False, big: True, small + "!": False, big + "?": True}
