"""The manager with and without a backend: what backend.py's glue does for
it (channels followed, frames relayed, presence announced) on an in-process
stand-in for Redis, two managers standing for two workers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from wsgen.runtime.backend import BroadcastBackend
from wsgen.runtime.connection import Identity
from wsgen.runtime.manager import ConnectionManager
from wsgen.runtime.rooms import RoomManager
from wsgen.runtime.settings import WebSocketSettings


class Bus(BroadcastBackend):
    """What one peer publishes, the other peers subscribed to it get."""

    def __init__(self, peers: list[Bus]) -> None:
        self.peers = peers
        self.channels: set[str] = set()

    async def connect(self) -> None:
        self.peers.append(self)

    async def disconnect(self) -> None:
        self.peers.remove(self)

    async def subscribe(self, channel: str) -> None:
        self.channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)

    async def publish(self, channel: str, message: str) -> None:
        for peer in self.peers:
            if peer is not self and channel in peer.channels:
                peer.deliver(channel, message)


class Recorder:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: tuple[int, str | None] | None = None

    async def send_text(self, data: str) -> None:
        self.frames.append(json.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)

    def kinds(self) -> list[str]:
        return [f"{f['type']}:{f.get('user_id', '')}" for f in self.frames]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_backend_carries_frames_and_follows_the_channels_in_use() -> None:
    async def scenario() -> None:
        peers: list[Bus] = []
        one_bus, two_bus = Bus(peers), Bus(peers)
        one = RoomManager(WebSocketSettings(), one_bus)
        two = RoomManager(WebSocketSettings(), two_bus)
        alice_socket, bob_socket = Recorder(), Recorder()
        alice = one.connect(alice_socket, Identity(user_id="alice"))
        assert alice is not None  # before start: followed once it starts
        async with one.running(), two.running():
            assert one_bus.channels == {"all", "user:alice"}
            bob = two.connect(bob_socket, Identity(user_id="bob"))
            assert bob is not None
            one.join(alice, "lobby")
            two.join(bob, "lobby")
            await settle()
            assert two_bus.channels == {"all", "user:bob", "room:lobby"}
            assert alice_socket.kinds() == ["user_joined:bob"]
            assert await one.send_to_user("bob", {"type": "ding"}) == 0  # not here
            assert await one.post(alice, "lobby", "hi") == 1
            assert await two.typing(bob, "lobby") == 0
            assert await two.broadcast({"type": "news"}) == 1
            await settle()
            assert bob_socket.kinds() == ["ding:", "message:alice", "news:"]
            assert alice_socket.kinds()[1:] == ["message:alice", "typing:bob", "news:"]
            bob.abandon()
            await settle()
            assert alice_socket.kinds()[-1] == "user_left:bob"
            assert two_bus.channels == {"all"}
        assert peers == [], "both backends disconnected"
        assert alice_socket.closed == (1012, "server shutting down")

    asyncio.run(scenario())


def test_without_a_backend_the_process_is_the_whole_audience() -> None:
    async def scenario() -> None:
        manager = ConnectionManager(WebSocketSettings())
        assert manager.backend is None
        sockets = [Recorder(), Recorder()]
        async with manager.running():
            for number, socket in enumerate(sockets):
                manager.connect(socket, Identity(user_id=f"user-{number}"))
            assert await manager.broadcast({"type": "news"}) == 2
            assert await manager.send_to_user("user-1", {"type": "ding"}) == 1
            assert await manager.user_connections("user-1") == 1
            await settle()
        assert [s.kinds() for s in sockets] == [["news:"], ["news:", "ding:"]]
        assert [s.closed for s in sockets] == [(1012, "server shutting down")] * 2
        assert (manager.connection_count, manager.user_ids()) == (0, [])

    asyncio.run(scenario())
