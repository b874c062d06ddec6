"""Pub/sub backends that carry frames between server processes.

Shaped like encode/broadcaster: a backend only moves already-encoded text
between processes. Delivery to local sockets, and counting it, stays in
the manager, so a Redis backend plugs in here without touching it.

Contract: ``publish`` reaches the *other* processes subscribed to the
channel; what they publish, a backend hands to the ``deliver`` function
given to ``bind``, on the loop it was connected on (no queue and no task
in between: a frame read from the network is fanned out at once).
Channels are ``room:<id>``, ``user:<id>`` and ``all``.

Presence is local unless a backend keeps it for every process (Redis, in
``redis_backend.py``, with ``--backend redis``): then the manager reports
each change of its own connections with ``track`` while ``tracking`` is
true, and the backend decides when a user joins or leaves a room
cluster-wide, calling the ``announce`` function given to ``bind``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable

__all__ = [
    "Announce",
    "BroadcastBackend",
    "Deliver",
    "MemoryBackend",
    "Snapshot",
]

# deliver(channel, message): what another process published, to the local
# clients of ``channel``. Synchronous, never blocks.
Deliver = Callable[[str, str], None]

# announce(kind, user_id, room_id, local): the ``user_joined``/``user_left``
# frame for the other processes, also delivered to the local room if asked.
Announce = Callable[[str, str, str, bool], str]
# The local presence: {(room_id or None, user_id): connections}.
Snapshot = Callable[[], dict[tuple[str | None, str], int]]


class BroadcastBackend(ABC):
    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def disconnect(self) -> None: ...

    @abstractmethod
    async def subscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def publish(self, channel: str, message: str) -> None: ...

    def bind(
        self,
        deliver: Deliver,
        announce: Announce,
        snapshot: Snapshot,
    ) -> None:
        """Called by the manager before ``connect``: where frames from
        other processes go and, for a backend that keeps presence, how it
        announces changes and reads the local presence."""
        self.deliver = deliver
        self.announce = announce
        self.snapshot = snapshot

    # -- presence kept across processes (optional) --------------------------

    @property
    def tracking(self) -> bool:
        """True while presence changes go to ``track``, not announced
        locally by the manager."""
        return False

    # Called only while ``tracking``:

    def track(self, room_id: str | None, user_id: str, count: int) -> None:
        """This process now has ``count`` connections of ``user_id`` in
        ``room_id`` (or in all, for None). Synchronous, never blocks."""
        raise NotImplementedError

    async def room_members(self, room_id: str) -> set[str] | None:
        """Users in ``room_id`` in every process; None: not known now."""
        raise NotImplementedError

    async def user_connections(self, user_id: str) -> int | None:
        """Connections of ``user_id`` in every process; None: not known."""
        raise NotImplementedError


class MemoryBackend(BroadcastBackend):
    """In-process backend: a lone process has no peers, so nothing moves.

    Give several instances the same ``peers`` list to simulate several
    workers in a test.
    """

    def __init__(self, peers: list[MemoryBackend] | None = None) -> None:
        self._peers = peers if peers is not None else []
        self._channels: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self not in self._peers:
            self._peers.append(self)

    async def disconnect(self) -> None:
        if self in self._peers:
            self._peers.remove(self)
        self._loop = None

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, message: str) -> None:
        for peer in self._peers:
            loop = peer._loop
            if peer is self or loop is None or channel not in peer._channels:
                continue
            try:
                # Later, as from a network, not inside the sender's step.
                loop.call_soon_threadsafe(peer._receive, channel, message)
            except RuntimeError:  # its loop closed without disconnect()
                peer._loop = None

    def _receive(self, channel: str, message: str) -> None:
        if self._loop is not None and channel in self._channels:
            self.deliver(channel, message)
