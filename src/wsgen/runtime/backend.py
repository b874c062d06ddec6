"""Pub/sub backends that carry frames between server processes.

Endpoints generated with ``--backend redis`` have one (``redis_backend.py``);
the others have none: their manager fans out within its own process.

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
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["Announce", "BroadcastBackend", "Deliver", "Snapshot"]

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

    # -- how the manager drives a backend (not for a backend to change) -----
    # Here, not in the manager: endpoints without a backend carry none of it.

    _work: set[asyncio.Task[None]] | None = None  # None unless attached
    _followed: set[str]  # channels subscribed to for the manager

    async def attach(self, manager: Any) -> None:
        """Connect on the running loop; what other processes publish goes
        to the manager's local recipients."""

        def deliver(channel: str, message: str) -> None:
            manager._fan_out(manager._targets(channel), message)

        # Only a manager with rooms (rooms.py) has room presence to announce.
        announce: Any = getattr(manager, "_announce", None)
        self.bind(deliver, announce, lambda: _here(manager))
        await self.connect()
        self._work, self._followed = set(), {"all"}
        for room, user in _here(manager):
            self._followed.add(f"room:{room}" if room else f"user:{user}")
        for channel in sorted(self._followed):
            await self.subscribe(channel)

    async def detach(self) -> None:
        """Finish what the manager started, then disconnect."""
        work = self._work
        if work is not None:
            if work:
                await asyncio.wait(set(work))
            self._work = None
            await self.disconnect()

    def here(self, room_id: str | None, user_id: str, count: int) -> bool:
        """``user_id`` has ``count`` connections in ``room_id`` (None: at
        all) in this process: their channel is followed while they have
        one. False unless this backend keeps presence, and announces it."""
        if room_id is None:
            self.follow(f"user:{user_id}", count > 0)
        if self._work is None or not self.tracking:
            return False
        self.track(room_id, user_id, count)
        return True

    def follow(self, channel: str, on: bool) -> None:
        """Subscribe to ``channel`` (``on``) or leave it, from sync code."""
        if self._work is None or on == (channel in self._followed):
            return
        if on:
            self._followed.add(channel)
            self._later(self.subscribe(channel))
        else:
            self._followed.discard(channel)
            self._later(self.unsubscribe(channel))

    async def relay(self, channel: str, text: str) -> None:
        """A frame the manager fans out locally, for the other processes."""
        if self._work is not None:
            await self.publish(channel, text)

    def relay_soon(self, channel: str, text: str) -> None:
        self._later(self.relay(channel, text))

    async def shared(self, kind: str, key: str) -> Any:
        """Every process's users in room ``key`` (``kind`` "room") or
        connections of user ``key``; None when not known."""
        if self._work is None or not self.tracking:
            return None
        if kind == "room":
            return await self.room_members(key)
        return await self.user_connections(key)

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        if self._work is None:
            work.close()  # not attached: nothing to do
            return
        task = asyncio.get_running_loop().create_task(work)
        self._work.add(task)
        task.add_done_callback(self._work.discard)


def _here(manager: Any) -> dict[tuple[str | None, str], int]:
    """The manager's presence: {(room_id or None, user_id): connections}."""
    counts: dict[tuple[str | None, str], int] = {}
    for user_id, conns in manager._users.items():
        for conn in conns:
            for key in [(None, user_id), *((r, user_id) for r in conn.rooms)]:
                counts[key] = counts.get(key, 0) + 1
    return counts
