"""Two uvicorn workers of one generated app (`--backend redis`) sharing a real
redis-server, all on loopback: clients on different workers see each
other's room messages, presence, user-targeted sends and broadcasts; a
crashed worker leaves presence; a Redis restart is survived; a refused
password is logged as such. The backend's own tests (TLS, Unix sockets, a
paused Redis) are in tests/runtime/test_redis_backend.py.

Needs Debian's `redis-server`: skipped without it, except under CI (the CI
environment variable set), where a missing server is a failure.
"""

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import copy_example, free_port, run_wsgen
from tests.redis_server import RedisServer, redis_server_binary

pytestmark = pytest.mark.live

HERE = Path(__file__).parent
SECRET = "redis-test-secret-" + "x" * 40
# Short presence timings, so that a crashed worker is noticed quickly.
HEARTBEAT, PRESENCE_TTL = 0.5, 2.0
# The bound: cross-worker delivery resumes within 5 s of Redis.
RECOVERY_BOUND = 5.0

# Server-side API routes added to the generated app for these tests.
PUSH_APP = """\
from app.api.routes.chat import manager
from app.main import app


@app.post("/push/user/{user_id}", tags=["push"])
async def push_user(user_id: str) -> dict[str, int]:
    return {"reached": await manager.send_to_user(user_id, {"type": "ding"})}


@app.post("/push/room/{room_id}", tags=["push"])
async def push_room(room_id: str) -> dict[str, int]:
    payload = {"type": "announcement", "room_id": room_id}
    return {"reached": await manager.send_to_room(room_id, payload)}


@app.post("/push/all", tags=["push"])
async def push_all() -> dict[str, int]:
    return {"reached": await manager.broadcast({"type": "maintenance"})}
"""


@dataclass
class Worker:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    opened: list[Any] = field(default_factory=list)

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws/chat"

    def post(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_worker(
    project: Path, name: str, env: dict[str, str], *, wait: bool = True
) -> Worker:
    port = free_port()
    log_path = project / f"{name}.log"
    with log_path.open("wb") as log:  # a file: an unread pipe would block it
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "push_app:app",
                "--host", "127.0.0.1", "--port", str(port),
                # As the README serves it: frames written once per fan-out.
                "--ws", "app.websocket.uvicorn_protocol:WebSocketProtocol",
            ],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    worker = Worker(name, port, proc, log_path)
    if not wait:
        return worker
    deadline = time.monotonic() + 30
    while True:
        try:
            url = f"http://127.0.0.1:{port}/api/v1/openapi.json"
            urllib.request.urlopen(url, timeout=1).close()
            return worker
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                worker.stop(signal.SIGKILL)
                pytest.fail(f"{name} did not start: {worker.log()[-3000:]}")
            time.sleep(0.1)


def worker_env(redis_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SECRET_KEY": SECRET,
        "WS_REDIS_URL": redis_url,
        "WS_REDIS_HEARTBEAT": str(HEARTBEAT),
        "WS_REDIS_PRESENCE_TTL": str(PRESENCE_TTL),
        "WS_RATE_MESSAGES_PER_SECOND": "1000",
        "WS_RATE_MESSAGES_BURST": "1000",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@dataclass
class Cluster:
    project: Path
    redis: RedisServer
    one: Worker
    two: Worker

    def env(self, **extra: str) -> dict[str, str]:
        return worker_env(self.redis.url, **extra)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    redis_server_binary()
    root = copy_example("api_aggregator", tmp_path_factory.mktemp("redis"))
    result = run_wsgen(
        "chat", "--auth", "--rooms", "--broadcast", "--backend", "redis",
        "--accelerator", "uvicorn", "--yes", cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (root / "push_app.py").write_text(PUSH_APP)
    return root


@pytest.fixture(scope="module")
def cluster(project: Path) -> Iterator[Cluster]:
    redis = RedisServer(redis_server_binary(), free_port(), project / "redis.log")
    redis.start()
    workers: list[Worker] = []
    try:
        env = worker_env(redis.url)
        workers.append(start_worker(project, "one", env))
        workers.append(start_worker(project, "two", env))
        yield Cluster(project, redis, *workers)
    finally:
        for worker in workers:
            worker.stop()
        redis.stop()


def token_for(user: str) -> str:
    now = int(time.time())
    claims = {"sub": user, "iat": now, "exp": now + 600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def open_as(worker: Worker, user: str) -> ClientConnection:
    ws = await connect(worker.ws, subprotocols=["bearer", token_for(user)])  # type: ignore[list-item]
    frame = json.loads(await ws.recv())
    assert frame["type"] == "connected"
    return ws


async def receive_type(
    ws: ClientConnection, wanted: str, timeout: float = 5.0, **match: Any
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == wanted and all(
                frame.get(k) == v for k, v in match.items()
            ):
                return frame


async def join(ws: ClientConnection, room_id: str) -> list[str]:
    await ws.send(json.dumps({"type": "join_room", "room_id": room_id}))
    frame = await receive_type(ws, "room_joined", room_id=room_id)
    users: list[str] = frame["users"]
    return users


async def say(ws: ClientConnection, room_id: str, content: str) -> None:
    frame = {"type": "message", "room_id": room_id, "content": content}
    await ws.send(json.dumps(frame))


async def nothing_more(ws: ClientConnection, kind: str, seconds: float = 0.3) -> None:
    """No frame of ``kind`` arrives within ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                frame = json.loads(await ws.recv())
                assert frame["type"] != kind, frame
    except TimeoutError:
        pass


def test_room_messages_and_presence_cross_workers(cluster: Cluster) -> None:
    async def scenario() -> None:
        alice = await open_as(cluster.one, "alice")
        bob = await open_as(cluster.two, "bob")
        async with alice, bob:
            assert await join(alice, "lobby") == ["alice"]
            # Members come from every worker.
            assert await join(bob, "lobby") == ["alice", "bob"]
            joined = await receive_type(alice, "user_joined")
            assert (joined["user_id"], joined["room_id"]) == ("bob", "lobby")
            await say(alice, "lobby", "hello from one")
            for ws in (alice, bob):
                frame = await receive_type(ws, "message")
                assert frame["content"] == "hello from one"
                assert frame["user_id"] == "alice"
            await say(bob, "lobby", "hello from two")
            for ws in (alice, bob):
                frame = await receive_type(ws, "message")
                assert frame["content"] == "hello from two"
            # Each worker delivered its own publication once, not twice.
            await nothing_more(alice, "message")
            await nothing_more(bob, "message")
            await bob.send(json.dumps({"type": "typing", "room_id": "lobby"}))
            typing = await receive_type(alice, "typing")
            assert typing["user_id"] == "bob"
        # Both gone: nobody is left in the room, on any worker.

    asyncio.run(scenario())


def test_presence_leaves_across_workers(cluster: Cluster) -> None:
    async def scenario() -> None:
        alice = await open_as(cluster.one, "alice")
        async with alice:
            await join(alice, "hall")
            # Two tabs of bob, one on each worker: one presence.
            bob_one = await open_as(cluster.one, "bob")
            bob_two = await open_as(cluster.two, "bob")
            await join(bob_two, "hall")
            await receive_type(alice, "user_joined", user_id="bob")
            assert await join(bob_one, "hall") == ["alice", "bob"]
            await nothing_more(alice, "user_joined")
            await bob_two.close()
            await nothing_more(alice, "user_left")  # still there on one
            await bob_one.close()
            left = await receive_type(alice, "user_left")
            assert (left["user_id"], left["room_id"]) == ("bob", "hall")

    asyncio.run(scenario())


def test_user_targeted_room_and_broadcast_sends(cluster: Cluster) -> None:
    async def scenario() -> None:
        alice = await open_as(cluster.one, "alice")
        bob = await open_as(cluster.two, "bob")
        async with alice, bob:
            await join(bob, "ops")
            # Sent through worker one, which has no connection of bob's.
            answer = await asyncio.to_thread(cluster.one.post, "/push/user/bob")
            assert answer == {"reached": 0}  # counts are per worker
            assert await receive_type(bob, "ding") == {"type": "ding"}
            await nothing_more(alice, "ding")
            await asyncio.to_thread(cluster.one.post, "/push/room/ops")
            await receive_type(bob, "announcement", room_id="ops")
            await nothing_more(alice, "announcement")
            answer = await asyncio.to_thread(cluster.two.post, "/push/all")
            assert answer == {"reached": 1}
            for ws in (alice, bob):
                assert await receive_type(ws, "maintenance")
            await nothing_more(bob, "maintenance")

    asyncio.run(scenario())


def test_a_crashed_worker_leaves_presence(cluster: Cluster) -> None:
    third = start_worker(cluster.project, "three", cluster.env())
    try:

        async def scenario() -> float:
            alice = await open_as(cluster.one, "alice")
            async with alice:
                await join(alice, "den")
                carol = await open_as(third, "carol")
                assert await join(carol, "den") == ["alice", "carol"]
                await receive_type(alice, "user_joined", user_id="carol")
                third.stop(signal.SIGKILL)  # no shutdown, no goodbye
                killed = time.monotonic()
                bound = PRESENCE_TTL + HEARTBEAT
                left = await receive_type(
                    alice, "user_left", timeout=bound + 3, user_id="carol"
                )
                assert left["room_id"] == "den"
                return time.monotonic() - killed

        took = asyncio.run(scenario())
        print(f"crashed worker left presence after {took:.2f} s")
        assert took <= PRESENCE_TTL + HEARTBEAT + 1
    finally:
        third.stop(signal.SIGKILL)


def test_the_generated_redis_test_passes(cluster: Cluster) -> None:
    """The project's own smoke test of the backend, on this Redis."""
    test = next(cluster.project.rglob("test_ws_redis.py"))
    env = cluster.env(WS_TEST_REDIS_URL=cluster.redis.url)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(test.relative_to(cluster.project))],
        cwd=cluster.project, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "1 passed" in result.stdout


def test_redis_unavailable_at_start(project: Path) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    # By default the app starts and says so.
    worker = start_worker(project, "no-redis", worker_env(nowhere))
    try:
        log = worker.log()
        assert "ws.redis_unavailable" in log
    finally:
        worker.stop()
    # With WS_REDIS_REQUIRED it refuses to start.
    env = worker_env(nowhere, WS_REDIS_REQUIRED="1")
    refused = start_worker(project, "required", env, wait=False)
    try:
        assert refused.proc.wait(30) != 0
        assert "WS_REDIS_REQUIRED" in refused.log()
    finally:
        refused.stop(signal.SIGKILL)


def test_a_refused_password_is_logged_with_the_fix(
    project: Path, tmp_path: Path
) -> None:
    redis = RedisServer(
        redis_server_binary(), free_port(), tmp_path / "redis.log",
        options=["--requirepass", "the-right-one-" + "p" * 20],
    )  # fmt: skip
    redis.start()
    wrong = f"redis://:not-the-right-one@127.0.0.1:{redis.port}/0"
    try:
        worker = start_worker(project, "wrong-password", worker_env(wrong))
        try:
            log = worker.log()
        finally:
            worker.stop()
        assert "ws.redis_auth_failed" in log, log[-3000:]
        assert "Redis refused the password: check WS_REDIS_URL" in log
        assert "ws.redis_unavailable" not in log
        env = worker_env(wrong, WS_REDIS_REQUIRED="1")
        refused = start_worker(project, "wrong-required", env, wait=False)
        try:
            assert refused.proc.wait(30) != 0
            log = refused.log()
        finally:
            refused.stop(signal.SIGKILL)
        assert "Redis refused the password: check WS_REDIS_URL" in log
        assert "unreachable" not in log
    finally:
        redis.stop()


def test_redis_restart_is_survived(cluster: Cluster) -> None:
    """Local delivery goes on without Redis; cross-worker delivery resumes
    within RECOVERY_BOUND seconds of Redis answering again."""

    async def scenario() -> float:
        alice = await open_as(cluster.one, "alice")
        carol = await open_as(cluster.one, "carol")
        bob = await open_as(cluster.two, "bob")
        async with alice, bob, carol:
            for ws in (alice, bob, carol):
                await join(ws, "ops")
            await say(alice, "ops", "before")
            await receive_type(bob, "message", content="before")
            cluster.redis.stop()
            await asyncio.sleep(0.5)
            # Redis is away: delivery inside worker one goes on.
            await say(alice, "ops", "during")
            await receive_type(carol, "message", content="during", timeout=2)
            up = await asyncio.to_thread(cluster.redis.start)
            # Probe: alice (worker one) speaks until bob (worker two) hears.
            probes = 0

            async def probe() -> None:
                nonlocal probes
                while True:
                    probes += 1
                    await say(alice, "ops", f"probe-{probes}")
                    await asyncio.sleep(0.02)

            prober = asyncio.create_task(probe())
            try:
                async with asyncio.timeout(RECOVERY_BOUND + 5):
                    while True:
                        frame = await receive_type(bob, "message")
                        if frame["content"].startswith("probe-"):
                            break
            finally:
                prober.cancel()
            recovered = time.monotonic() - up
            # And the other way round, from worker two to worker one.
            await say(bob, "ops", "after")
            await receive_type(carol, "message", content="after")
            return recovered

    recovered = asyncio.run(scenario())
    print(f"cross-worker delivery resumed {recovered:.2f} s after Redis")
    assert recovered <= RECOVERY_BOUND
    deadline = time.monotonic() + 5
    for worker in (cluster.one, cluster.two):
        while "ws.redis_restored" not in worker.log():
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.05)
        log = worker.log()
        # One line each way.
        assert log.count("ws.redis_lost") == 1, log[-3000:]
        assert log.count("ws.redis_restored") == 1, log[-3000:]
