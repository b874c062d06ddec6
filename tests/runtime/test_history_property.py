"""Recoverable rooms (``--recover``), property-based: random interleavings
of publishes, disconnects and reconnects, on the memory history and on
Redis with two workers. Every client ends with the room's messages in
``seq`` order, with no gap and no duplicate, within retention.

Clients follow the rule of the generated JavaScript client: a message of
the same epoch at or below the last ``seq`` seen is a duplicate, dropped;
``room_joined`` sets the last one seen unless it recovered a rejoin; a
rejoin sends that as ``since``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import free_port
from tests.redis_server import RedisServer, redis_server_binary
from tests.runtime.test_redis_backend import FakeSocket, eventually
from wsgen.runtime.connection import Connection, Identity
from wsgen.runtime.history import History, Since
from wsgen.runtime.redis_backend import RedisBackend
from wsgen.runtime.redis_history import RedisHistory
from wsgen.runtime.rooms import RoomManager
from wsgen.runtime.settings import WebSocketSettings

ROOM = "lobby"
USERS = ("ann", "bob", "cid")
# Large enough that nothing leaves the history during one example.
KEPT = replace(WebSocketSettings(), history_size=1000, history_seconds=600.0)


@dataclass
class Client:
    """One user's successive connections, as the generated client sees them."""

    user: str
    conn: Connection | None = None
    manager: RoomManager | None = None  # the worker it is connected to
    last: tuple[int, str] | None = None  # (seq, epoch) last seen
    base: int | None = None  # the room's seq at the first join
    accepted: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    # Per connection: the since sent, and the socket.
    joins: list[tuple[Since | None, ClientSocket]] = field(default_factory=list)
    joined: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None  # its operations, in order

    def receive(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "room_joined":
            self.joined.append(frame)
            if self.base is None:
                self.base = frame["seq"]
            if not (frame.get("recovered") is True and self.last):
                self.last = frame["seq"], frame["epoch"]
        elif frame["type"] == "message":
            seq, epoch = frame["seq"], frame["epoch"]
            if self.last and self.last[1] == epoch and seq <= self.last[0]:
                self.dropped.append(frame)
                return
            self.accepted.append(frame)
            self.last = seq, epoch

    def since(self) -> Since | None:
        if self.last is None:
            return None
        return Since(seq=self.last[0], epoch=self.last[1])


class ClientSocket(FakeSocket):
    """Records frames and hands each to its client as it arrives."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client

    async def send_text(self, data: str) -> None:
        await super().send_text(data)
        self.client.receive(self.frames[-1])


# One operation: ("flip", user, worker, how) disconnects a connected user
# (abandoned, or closed by the server) and reconnects one that is not,
# ("post", user), ("send", worker) or ("tick",); with ``wait`` false the
# next operations start before it ends (a client's own stay in order).
user = st.integers(0, len(USERS) - 1)
side = st.integers(0, 1)
how = st.sampled_from(["abandon", "close"])
operation = st.one_of(
    st.tuples(st.just("flip"), user, side, how),
    st.tuples(st.just("post"), user),
    st.tuples(st.just("send"), side),
    st.tuples(st.just("tick")),
)
operations = st.lists(st.tuples(operation, st.booleans()), max_size=30)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Run:
    """Clients and publishers on the workers (one for memory)."""

    def __init__(self, workers: list[RoomManager]) -> None:
        self.workers = workers
        self.clients = [Client(name) for name in USERS]
        self.published = 0
        self.counter = itertools.count(1)
        self.sends: list[asyncio.Task[None]] = []

    def worker(self, index: int) -> RoomManager:
        return self.workers[index % len(self.workers)]

    async def connect(self, client: Client, index: int) -> None:
        if client.conn is not None:
            return
        manager = self.worker(index)
        socket = ClientSocket(client)
        conn = manager.connect(socket, Identity(user_id=client.user))
        assert conn is not None
        client.conn, client.manager = conn, manager
        since = client.since()
        client.joins.append((since, socket))
        await manager.history.join(conn, ROOM, since)
        assert ROOM in conn.rooms

    async def drop(self, client: Client, how: str) -> None:
        conn, client.conn = client.conn, None
        if conn is None:
            return
        if how == "abandon":  # the peer is gone: queued frames are lost
            conn.abandon()
        else:  # closed by the server: queued frames are written first
            conn.close(1000, "bye")
            await conn.wait_closed()

    async def flip(self, client: Client, index: int, how: str) -> None:
        if client.conn is None:
            await self.connect(client, index)
        else:
            await self.drop(client, how)

    async def post(self, client: Client) -> None:
        conn = client.conn
        if conn is None or ROOM not in conn.rooms:
            return
        self.published += 1
        content = f"{client.user}-{next(self.counter)}"
        assert client.manager is not None
        sent = await client.manager.post(conn, ROOM, content)
        assert isinstance(sent, int), sent

    async def send(self, index: int) -> None:
        self.published += 1
        payload = {
            "type": "message",
            "room_id": ROOM,
            "user_id": "server",
            "content": f"server-{next(self.counter)}",
        }
        await self.worker(index).send_to_room(ROOM, payload)

    def on_client(
        self, client: Client, work: Callable[[], Awaitable[None]]
    ) -> asyncio.Task[None]:
        """``work`` after the client's previous operations."""

        async def chained(previous: asyncio.Task[None] | None) -> None:
            if previous is not None:
                await previous
            await work()

        task = asyncio.create_task(chained(client.task))
        client.task = task
        return task

    async def play(self, steps: list[tuple[tuple[Any, ...], bool]]) -> None:
        for (kind, *args), wait in steps:
            task: asyncio.Task[None] | None = None
            if kind == "tick":
                await settle()
                continue
            if kind == "send":
                task = asyncio.create_task(self.send(args[0]))
                self.sends.append(task)
            else:
                client = self.clients[args[0]]
                method = getattr(self, kind)
                task = self.on_client(
                    client, lambda c=client, m=method, a=args[1:]: m(c, *a)
                )
            if wait:
                await task
        await self.finish()

    async def finish(self) -> None:
        """Everything done, every client connected and caught up."""
        for index, client in enumerate(self.clients):
            self.on_client(client, lambda c=client, i=index: self.connect(c, i))
        await asyncio.gather(*self.sends, *(c.task for c in self.clients))
        await settle()
        done = self.published

        def caught_up() -> bool:
            return all(c.last and c.last[0] == done for c in self.clients)

        # Redis: frames come through each worker's subscription.
        await eventually(caught_up, 2.0 if len(self.workers) > 1 else 0.2)

    async def check(self) -> None:
        total = self.published
        seqs, epochs = set(), set()
        for manager in self.workers:
            seq, epoch, _ = await manager.history.read(ROOM)
            seqs.add(seq)
            epochs.add(epoch)
        assert seqs == {total}
        assert len(epochs) == 1
        (epoch,) = epochs
        contents: dict[int, str] = {}
        for client in self.clients:
            assert client.base is not None
            got = [frame["seq"] for frame in client.accepted]
            assert got == list(range(client.base + 1, total + 1)), client.user
            for since, socket in client.joins:
                # Frames queued when a connection was abandoned are lost.
                for frame in socket.of_type("room_joined"):
                    assert frame["epoch"] == epoch
                    if since is not None:
                        assert frame["recovered"] is True, (since, frame)
            for frame in client.accepted + client.dropped:
                assert frame["epoch"] == epoch
                # Every worker numbered the same message the same.
                seen = contents.setdefault(frame["seq"], frame["content"])
                assert seen == frame["content"], frame
        assert len(set(contents.values())) == len(contents)


def examples(count: int) -> Any:
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


@examples(100)
@given(steps=operations)
def test_memory_history_replays_every_missed_message(
    steps: list[tuple[tuple[Any, ...], bool]],
) -> None:
    async def scenario() -> None:
        manager = RoomManager(KEPT, history=History())
        async with manager.running():
            run = Run([manager])
            await run.play(steps)
            await run.check()

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("redis-history")
    instance = RedisServer(redis_server_binary(), free_port(), folder / "log")
    instance.start()
    try:
        yield instance.url
    finally:
        instance.stop()


def redis_workers(url: str, limits: WebSocketSettings) -> list[RoomManager]:
    namespace = f"t-{uuid4().hex}"
    return [
        RoomManager(
            limits,
            RedisBackend(url, namespace=namespace, required=True),
            history=RedisHistory(),
        )
        for _ in range(2)
    ]


@examples(50)
@given(steps=operations)
def test_redis_history_replays_every_missed_message_on_both_workers(
    redis_url: str, steps: list[tuple[tuple[Any, ...], bool]]
) -> None:
    async def scenario() -> None:
        one, two = redis_workers(redis_url, KEPT)
        async with one.running(), two.running():
            run = Run([one, two])
            await run.play(steps)
            await run.check()

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_gap_beyond_retention_is_not_recovered(
    backend: str, request: pytest.FixtureRequest
) -> None:
    small = replace(KEPT, history_size=3)

    async def scenario() -> None:
        if backend == "memory":
            workers = [RoomManager(small, history=History())]
        else:
            workers = redis_workers(request.getfixturevalue("redis_url"), small)
        async with AsyncExitStack() as stack:
            for manager in workers:
                await stack.enter_async_context(manager.running())
            run = Run(workers)
            ann, bob = run.clients[:2]
            await run.connect(ann, 0)
            await run.connect(bob, 1)
            await run.post(bob)
            await eventually(lambda: ann.last is not None and ann.last[0] == 1)
            await run.drop(ann, "abandon")
            for _ in range(5):  # 2..6: 4..6 kept, 2 and 3 lost
                await run.send(1)
            await run.connect(ann, 0)
            await eventually(lambda: len(ann.joined) == 2)
            assert ann.joins[-1][0] == Since(seq=1, epoch=ann.joined[0]["epoch"])
            assert ann.joined[-1]["recovered"] is False
            assert ann.joined[-1]["seq"] == 6  # where to start after a reload
            await eventually(lambda: len(ann.dropped) == 3)
            assert [f["seq"] for f in ann.accepted] == [1]

    asyncio.run(scenario())


def test_a_worker_delivers_both_workers_messages_in_seq_order(
    redis_url: str,
) -> None:
    async def scenario() -> None:
        one, two = redis_workers(redis_url, KEPT)
        async with one.running(), two.running():
            run = Run([one, two])
            ann, bob = run.clients[:2]
            await run.connect(ann, 0)
            await run.connect(bob, 1)
            for _ in range(20):  # numbered on one, heard from the other
                await asyncio.gather(run.send(0), run.send(1))
            await run.finish()
            for client in (ann, bob):
                sockets = [socket for _, socket in client.joins]
                got = [f["seq"] for f in sockets[0].of_type("message")]
                assert got == list(range(1, 41)), client.user
            await run.check()

    asyncio.run(scenario())


def test_a_rejoin_hears_the_room_while_its_worker_empties_it(
    redis_url: str,
) -> None:
    async def scenario() -> None:
        one, two = redis_workers(redis_url, KEPT)
        async with one.running(), two.running():
            run = Run([one, two])
            ann, bob = run.clients[:2]
            await run.connect(ann, 1)
            await run.connect(bob, 1)
            await run.send(0)
            await eventually(lambda: ann.last == (1, ann.joined[0]["epoch"]))
            await run.drop(ann, "abandon")
            history: Any = two.history
            read, sends = history._eval, []  # sends: tasks

            def reading(room_id: str, kind: str, *args: Any) -> Any:
                if kind == "read" and not sends:
                    # Bob leaves: nobody is in the room on this worker.
                    assert bob.conn is not None
                    bob.conn.abandon()
                    bob.conn = None
                    for _ in range(3):  # while the read is under way
                        sends.append(asyncio.ensure_future(run.send(0)))
                return read(room_id, kind, *args)

            history._eval = reading
            await run.connect(ann, 1)
            await asyncio.gather(*sends)
            await run.finish()
            assert ann.joined[-1]["recovered"] is True
            assert [f["seq"] for f in ann.accepted] == [1, 2, 3, 4]
            await run.check()

    asyncio.run(scenario())


def test_a_refused_rejoin_in_an_emptied_room_leaves_it_joinable(
    redis_url: str,
) -> None:
    """A join refused after its history read, in a room its worker emptied
    meanwhile, unsubscribes the way a leave does: a later join there
    subscribes again and hears the other worker's messages."""
    one_room = replace(KEPT, max_rooms_per_connection=1)

    async def scenario() -> None:
        one, two = redis_workers(redis_url, one_room)
        history: Any = two.history
        async with one.running(), two.running():
            ann, bob, cid, sender = (FakeSocket() for _ in range(4))
            on_two = [two.connect(s, Identity(user_id=u)) for s, u in
                      ((ann, "ann"), (bob, "bob"), (cid, "cid"))]  # fmt: skip
            ann_conn, bob_conn, cid_conn = on_two
            assert ann_conn and bob_conn and cid_conn
            two.join(ann_conn, "lobby")  # ann's one room: "other" is refused
            await history.join(bob_conn, "other", None)
            read = history._eval

            def reading(room_id: str, kind: str, *args: Any) -> Any:
                if kind == "read" and bob_conn.rooms:
                    bob_conn.abandon()  # the room empties on this worker
                return read(room_id, kind, *args)

            history._eval = reading
            await history.join(ann_conn, "other", None)
            await eventually(lambda: bool(ann.of_type("error")))
            assert ann.of_type("error")[-1]["code"] == "too_many_rooms"
            assert not bob_conn.rooms
            history._eval = read
            await history.join(cid_conn, "other", None)
            await eventually(lambda: bool(cid.of_type("room_joined")))
            assert cid.of_type("room_joined")
            posting = one.connect(sender, Identity(user_id="dan"))
            assert posting is not None
            await one.history.join(posting, "other", None)
            await one.post(posting, "other", "after the refusal")
            await eventually(lambda: bool(cid.of_type("message")))
            assert [f["content"] for f in cid.of_type("message")] == [
                "after the refusal"
            ]

    asyncio.run(scenario())
