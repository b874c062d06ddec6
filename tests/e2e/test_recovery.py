"""Recoverable rooms (`--recover`) on real uvicorn servers, all on loopback:
a client whose TCP connection dies rejoins with `since` and gets exactly
the messages it missed, in order, with `recovered: true`; across two
workers on a real redis-server every message has the same `seq`; a
restarted server, a restarted Redis and a gap beyond the retention answer
`recovered: false` (and a new epoch where the history was lost).

Needs Debian's `redis-server` for the Redis half: skipped without it,
except under CI, where a missing server is a failure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tests.conftest import copy_example, free_port, run_wsgen
from tests.e2e.test_redis import (
    PUSH_APP,
    Worker,
    open_as,
    start_worker,
    worker_env,
)
from tests.redis_server import RedisServer, redis_server_binary

pytestmark = pytest.mark.live

ROOM = "lobby"
MISSED = 20


def generate(root: Path, *backend: str) -> Path:
    result = run_wsgen(
        "chat", "--auth", "--rooms", "--recover", *backend,
        "--accelerator", "uvicorn", "--yes", cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (root / "push_app.py").write_text(PUSH_APP)
    return root


@pytest.fixture(scope="module")
def memory_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(copy_example("api_aggregator", tmp_path_factory.mktemp("m")))


@pytest.fixture(scope="module")
def redis_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    redis_server_binary()
    root = copy_example("api_aggregator", tmp_path_factory.mktemp("r"))
    return generate(root, "--backend", "redis")


@pytest.fixture
def redis(redis_project: Path) -> Iterator[RedisServer]:
    server = RedisServer(
        redis_server_binary(), free_port(), redis_project / "redis.log"
    )
    server.start()
    yield server
    server.stop()


async def next_frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of ``kind``, skipping presence and the like."""
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] == "error":
            raise AssertionError(frame)
        if frame["type"] == kind:
            return frame


async def join(
    ws: ClientConnection, since: dict[str, Any] | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "join_room", "room_id": ROOM}
    if since is not None:
        frame["since"] = since
    await ws.send(json.dumps(frame))
    return await next_frame(ws, "room_joined")


async def say(ws: ClientConnection, contents: list[str]) -> list[dict[str, Any]]:
    """Send each message and read the sender's own copies back."""
    for content in contents:
        await ws.send(
            json.dumps({"type": "message", "room_id": ROOM, "content": content})
        )
    return [await next_frame(ws, "message") for _ in contents]


async def away_and_back(
    a_worker: Worker, b_worker: Worker, missed: int
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """B sees one message, loses its TCP connection, A sends ``missed``, B
    rejoins with ``since``: (room_joined, what B got, what A sent)."""
    a = await open_as(a_worker, "alice")
    b = await open_as(b_worker, "bob")
    await join(a)
    await join(b)
    await say(a, ["before"])
    seen = await next_frame(b, "message")
    assert seen["content"] == "before"
    b.transport.abort()  # no close frame: the connection just dies
    sent = await say(a, [f"m{i}" for i in range(missed)])
    b = await open_as(b_worker, "bob")
    joined = await join(b, {"seq": seen["seq"], "epoch": seen["epoch"]})
    # Live ones follow the replay, each once.
    [after] = await say(a, ["after"])
    got = []
    while (frame := await next_frame(b, "message"))["content"] != "after":
        got.append(frame)
    assert frame["seq"] == after["seq"]
    await a.close()
    await b.close()
    return joined, got, sent


def test_one_worker_replays_exactly_what_was_missed(
    memory_project: Path, workers: list[Worker]
) -> None:
    env = worker_env("redis://127.0.0.1:1/0")
    workers.append(start_worker(memory_project, "solo", env))
    joined, got, sent = asyncio.run(away_and_back(workers[0], workers[0], MISSED))
    assert joined["recovered"] is True
    assert [f["content"] for f in got] == [f"m{i}" for i in range(MISSED)]
    assert [f["seq"] for f in got] == [f["seq"] for f in sent]
    assert [f["seq"] for f in got] == list(range(2, 2 + MISSED))
    assert joined["seq"] == sent[-1]["seq"]


def test_a_restarted_server_has_a_new_epoch(
    memory_project: Path, workers: list[Worker]
) -> None:
    env = worker_env("redis://127.0.0.1:1/0")

    async def first() -> dict[str, Any]:
        a = await open_as(workers[0], "alice")
        await join(a)
        [seen] = await say(a, ["before the restart"])
        await a.close()
        return seen

    async def again(seen: dict[str, Any]) -> dict[str, Any]:
        b = await open_as(workers[1], "bob")
        joined = await join(b, {"seq": seen["seq"], "epoch": seen["epoch"]})
        await b.close()
        return joined

    workers.append(start_worker(memory_project, "before", env))
    seen = asyncio.run(first())
    workers[0].stop()
    workers.append(start_worker(memory_project, "after", env))
    joined = asyncio.run(again(seen))
    assert joined["recovered"] is False
    assert joined["epoch"] != seen["epoch"]
    assert joined["seq"] == 0


def test_a_gap_beyond_the_retention_is_not_recovered(
    memory_project: Path, workers: list[Worker]
) -> None:
    env = worker_env("redis://127.0.0.1:1/0", WS_HISTORY_SIZE="5")
    workers.append(start_worker(memory_project, "small", env))
    joined, got, sent = asyncio.run(away_and_back(workers[0], workers[0], 8))
    assert joined["recovered"] is False
    assert joined["epoch"] == sent[0]["epoch"]  # same history, too short
    # What is kept is still replayed, in order: the last five.
    assert [f["seq"] for f in got] == [f["seq"] for f in sent[-5:]]


def test_two_workers_on_redis_number_alike_and_replay(
    redis_project: Path, redis: RedisServer, workers: list[Worker]
) -> None:
    env = worker_env(redis.url)
    workers.append(start_worker(redis_project, "one", env))
    workers.append(start_worker(redis_project, "two", env))
    joined, got, sent = asyncio.run(away_and_back(workers[0], workers[1], MISSED))
    assert joined["recovered"] is True
    assert [f["content"] for f in got] == [f"m{i}" for i in range(MISSED)]
    # The same message, the same seq, epoch and id on both workers.
    mine = [(f["id"], f["seq"], f["epoch"]) for f in sent]
    assert [(f["id"], f["seq"], f["epoch"]) for f in got] == mine
    assert [f["seq"] for f in got] == list(range(2, 2 + MISSED))


def test_redis_restarted_without_persistence_has_a_new_epoch(
    redis_project: Path, redis: RedisServer, workers: list[Worker]
) -> None:
    env = worker_env(redis.url)
    workers.append(start_worker(redis_project, "one", env))
    workers.append(start_worker(redis_project, "two", env))

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        a = await open_as(workers[0], "alice")
        await join(a)
        [seen] = await say(a, ["before the restart"])
        redis.stop()
        redis.start()
        await asyncio.sleep(1.5)  # the workers reconnect
        b = await open_as(workers[1], "bob")
        joined = await join(b, {"seq": seen["seq"], "epoch": seen["epoch"]})
        await b.close()
        return seen, joined

    seen, joined = asyncio.run(scenario())
    assert joined["recovered"] is False
    assert joined["epoch"] not in ("", seen["epoch"])
