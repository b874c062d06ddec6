"""Per-delivery cost of the runtime's outbound queue and writer, against
the ceiling's ``asyncio.Queue`` and writer task, in one process.

The socket's ``send_text`` does nothing, so what is measured is only what
each design adds around the server's own send: the fan-out's enqueue, the
writer's wake-up and its loop. Two shapes: a burst (every message queued
before the writers run) and paced (the writers run after each message, as
at 100 messages/s). Also: the cost of the WebSocket framing uvicorn does
per receiver, for the ceiling's and the generated endpoint's room frame.

    python bench/writer_cost.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import timeit
import uuid
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from wsgen.runtime.connection import Connection, Identity  # noqa: E402
from wsgen.runtime.manager import ConnectionManager  # noqa: E402
from wsgen.runtime.protocol import encode, message_frame  # noqa: E402
from wsgen.runtime.settings import WebSocketSettings  # noqa: E402

RECEIVERS, MESSAGES = 200, 800  # below the runtime's 1,024-frame queue limit


class NullSocket:
    sent = 0

    async def send_text(self, data: str) -> None:
        NullSocket.sent += 1

    async def close(self, code: int, reason: str) -> None:
        pass


async def _drained() -> None:
    while NullSocket.sent < RECEIVERS * MESSAGES:
        await asyncio.sleep(0)


async def runtime(paced: bool) -> float:
    settings = WebSocketSettings()
    conns = [Connection(NullSocket(), Identity(f"u{i}"), settings, lambda c: None)
             for i in range(RECEIVERS)]
    text = "x" * 200
    started = time.process_time()
    for _ in range(MESSAGES):
        ConnectionManager._fan_out(conns, text)
        if paced:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
    await _drained()
    return (time.process_time() - started) / (RECEIVERS * MESSAGES) * 1e6


async def ceiling(paced: bool) -> float:
    socket = NullSocket()
    queues: list[asyncio.Queue[str]] = [asyncio.Queue() for _ in range(RECEIVERS)]

    async def writer(queue: asyncio.Queue[str]) -> None:
        while True:
            await socket.send_text(await queue.get())

    tasks = [asyncio.create_task(writer(q)) for q in queues]
    await asyncio.sleep(0)
    text = "x" * 200
    started = time.process_time()
    for _ in range(MESSAGES):
        for queue in queues:
            queue.put_nowait(text)
        if paced:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
    await _drained()
    elapsed = time.process_time() - started
    for task in tasks:
        task.cancel()
    return elapsed / (RECEIVERS * MESSAGES) * 1e6


def framing_us(text: str) -> float:
    """uvicorn's websockets-sansio send of one text frame, without the write."""
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    protocol = ServerProtocol()
    protocol.state = State.OPEN
    data = text.encode()

    def frame() -> None:
        protocol.send_text(data)
        b"".join(protocol.data_to_send())

    return min(timeit.repeat(frame, number=100_000, repeat=5)) / 100_000 * 1e6


def main() -> None:
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # the servers use uvloop; asyncio's loop is slower
        run = asyncio.run
    for paced in (False, True):
        shape = "paced" if paced else "burst"
        figures: dict[str, list[float]] = {"runtime": [], "ceiling": []}
        for _ in range(5):
            for name, measure in (("runtime", runtime), ("ceiling", ceiling)):
                NullSocket.sent = 0
                figures[name].append(run(measure(paced)))
        rt, cl = (statistics.median(figures[n]) for n in ("runtime", "ceiling"))
        print(f"{shape}: queue and writer, µs per delivery (median of 5): "
              f"runtime {rt:.2f}, ceiling {cl:.2f}, ratio {rt / cl:.2f}")
    content = ("m123|" + "x" * 64)[:64]
    user = uuid.uuid4().hex
    ceiling_frame = json.dumps({"type": "message", "room_id": "bench", "user_id": user,
                                "content": content,
                                "timestamp": datetime.now(timezone.utc).isoformat()})
    generated_frame = encode(message_frame("bench", 12345, user, content))
    for name, text in (("ceiling", ceiling_frame), ("generated", generated_frame)):
        print(f"framing the {name} room frame ({len(text)} B): {framing_us(text):.2f} µs")


if __name__ == "__main__":
    main()
