"""A real uvicorn server on loopback running a generated endpoint: two
clients with JWTs chat in a room; a client without a token is refused.
The last test stops the server with a client still connected: uvicorn must
exit promptly, and its log must not hold any token a client sent."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as connect_sync

from tests.conftest import copy_example, free_port, run_wsgen

pytestmark = pytest.mark.live

SECRET = "live-test-secret-" + "x" * 40
# Seconds uvicorn may take to exit after SIGTERM.
EXIT_WITHIN = 5.0
# Every token a client sent: none may show up in the server's log.
SENT_TOKENS: list[str] = []


def token_for(user: str, *, minutes: int = 5) -> str:
    now = int(time.time())
    token = jwt.encode(
        {"sub": user, "iat": now, "exp": now + minutes * 60}, SECRET, algorithm="HS256"
    )
    SENT_TOKENS.append(token)
    return token


def with_token(url: str, token: str) -> str:
    SENT_TOKENS.append(token)
    return f"{url}?token={token}"


@dataclass
class LiveServer:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    project = copy_example("api_aggregator", tmp_path_factory.mktemp("live"))
    result = run_wsgen("chat", "--auth", "--rooms", "--broadcast", "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    port = free_port()
    env = {
        **os.environ,
        "SECRET_KEY": SECRET,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",  # the log file is read while it runs
    }
    log = (project / "server.log").open(
        "wb"
    )  # a file: an unread pipe would block the server
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=project,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(
                f"http://{base}/api/v1/openapi.json", timeout=1
            ).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out = (project / "server.log").read_text()
                pytest.fail(f"uvicorn did not start: {out[-2000:]}")
            time.sleep(0.1)
    try:
        yield LiveServer(f"ws://{base}/api/v1/ws/chat", proc, project / "server.log")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def server(live: LiveServer) -> str:
    if live.proc.poll() is not None:
        pytest.skip("the server was stopped by an earlier test")
    return live.url


async def receive_type(ws, wanted: str, timeout: float = 5.0) -> dict:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == wanted:
                return frame


def test_two_clients_chat_in_a_room(server: str) -> None:
    async def scenario() -> None:
        alice_token, bob_token = token_for("alice"), token_for("bob")
        async with (
            connect(server, subprotocols=["bearer", alice_token]) as alice,  # type: ignore[list-item]
            connect(with_token(server, bob_token)) as bob,
        ):
            assert alice.subprotocol == "bearer"
            assert (await receive_type(alice, "connected"))["user_id"] == "alice"
            assert (await receive_type(bob, "connected"))["user_id"] == "bob"
            await alice.send(json.dumps({"type": "join_room", "room_id": "lobby"}))
            joined = await receive_type(alice, "room_joined")
            assert joined["users"] == ["alice"]
            await bob.send(json.dumps({"type": "join_room", "room_id": "lobby"}))
            assert sorted((await receive_type(bob, "room_joined"))["users"]) == [
                "alice",
                "bob",
            ]
            assert (await receive_type(alice, "user_joined"))["user_id"] == "bob"
            await bob.send(
                json.dumps(
                    {"type": "message", "room_id": "lobby", "content": "hi alice"}
                )
            )
            got = await receive_type(alice, "message")
            assert (got["user_id"], got["content"], got["room_id"]) == (
                "bob",
                "hi alice",
                "lobby",
            )
            assert got["timestamp"].endswith(("+00:00", "Z"))
            echoed = await receive_type(bob, "message")
            assert echoed["id"] == got["id"]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("make_url", "reason"),
    [
        (lambda url: url, "missing token"),
        (lambda url: with_token(url, "not-a-jwt"), "invalid token"),
        (
            lambda url: with_token(
                url, jwt.encode({"sub": "eve", "exp": int(time.time()) + 60}, "w" * 40)
            ),
            "invalid token",
        ),
        (lambda url: with_token(url, token_for("late", minutes=-5)), "token expired"),
    ],
    ids=["no-token", "malformed", "bad-signature", "expired"],
)
def test_refused_with_a_readable_close_code(server: str, make_url, reason: str) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> tuple[int | None, str]:
        async with connect(make_url(server)) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(5):
                    while True:
                        await ws.recv()
            rcvd = closed.value.rcvd
            return (rcvd.code if rcvd else None, rcvd.reason if rcvd else "")

    code, got_reason = asyncio.run(scenario())
    assert code == (4009 if reason == "token expired" else 4001)
    assert got_reason == reason


def test_shutdown_with_a_client_connected_is_prompt(live: LiveServer) -> None:
    """Runs last: SIGTERM while a client sits in a room. uvicorn closes the
    socket with 1012 before the lifespan ends; the runtime must let every
    connection task end, so the process exits within seconds."""
    assert live.proc.poll() is None, live.log()[-2000:]
    token = token_for("carol")
    with connect_sync(with_token(live.url, token)) as carol:
        assert json.loads(carol.recv(timeout=5))["type"] == "connected"
        carol.send(json.dumps({"type": "join_room", "room_id": "lobby"}))
        assert json.loads(carol.recv(timeout=5))["type"] == "room_joined"
        live.proc.terminate()
        try:
            live.proc.wait(timeout=EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"uvicorn still running {EXIT_WITHIN} s after SIGTERM:\n"
                + live.log()[-2000:]
            )
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                carol.recv(timeout=5)
    rcvd = closed.value.rcvd
    assert rcvd is not None and rcvd.code == 1012
    # uvicorn re-raises the signal it handled once it has shut down.
    assert live.proc.returncode in (0, -signal.SIGTERM), live.log()[-2000:]
    assert "Finished server process" in live.log()


def test_server_log_holds_no_token(live: LiveServer) -> None:
    """uvicorn logs each handshake URL: ``?token=`` values must be hidden,
    and the runtime's own (structlog) lines never carry one."""
    log = live.log()
    assert "?token=[redacted]" in log  # the handshakes were logged
    assert len(SENT_TOKENS) >= 5
    leaked = [token for token in SENT_TOKENS if token in log]
    assert leaked == [], log[-2000:]
