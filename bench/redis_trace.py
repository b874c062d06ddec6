"""Timing probes for ``bench/redis_bench.py --trace``: where a frame's time goes.

The benchmark's end-to-end numbers say how much later a frame arrives when
it crosses Redis; the probes say in which stage. ``instrument`` edits a
generated project (a temporary copy, never a template) so that its workers
note, per paced message, ``time.monotonic_ns()`` (one clock for every
process of the machine) at:

* ``pub``: worker 1 hands the frame to the Redis backend;
* ``write``: its publisher task writes the PUBLISH to its Redis connection;
* ``deliver``: worker 2's subscription connection has read it from Redis;
* ``fan`` / ``fanned``: worker 2 starts / ends the room fan-out;
* ``lfan`` / ``lfanned``: a worker's own fan-out of a frame it received
  from a client (the whole fan-out in the memory setup).

Messages are told apart by the index the load client writes into the
content (``<timestamp>|<index>|``). Each worker dumps its notes into
``$WS_BENCH_TRACE_DIR`` when it exits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROBE = '''"""Benchmark probes (bench/redis_trace.py); not part of the runtime."""

import atexit
import json
import os
import re
import time

_NOTES: list[tuple[str, int, int]] = []
_INDEX = re.compile(r"\\|(\\d+)\\|")


def note(tag: str, text: str) -> None:
    found = _INDEX.search(text)
    if found:
        _NOTES.append((tag, int(found.group(1)), time.monotonic_ns()))


@atexit.register
def _dump() -> None:
    folder = os.environ.get("WS_BENCH_TRACE_DIR")
    if folder:
        with open(os.path.join(folder, f"trace-{os.getpid()}.json"), "w") as out:
            json.dump(_NOTES, out)
'''

# (file in the runtime package, text found there, text it becomes)
EDITS = [
    ("redis_backend.py",
     '        """Write a frame for the other workers; dropped without Redis."""\n',
     ('        """Write a frame for the other workers; dropped without Redis."""\n'
      '        from ._bench_probe import note\n\n        note("pub", message)\n')),
    ("redis_session.py",
     "                await pipe.execute()\n",
     ("                from ._bench_probe import note\n\n"
      "                for _, data in batch:\n"
      '                    note("write", data)\n'
      "                await pipe.execute()\n")),
    ("redis_session.py",
     "        if text[:ORIGIN] == backend.worker_id:\n",
     ("        from ._bench_probe import note\n\n"
      '        note("deliver", text)\n'
      "        if text[:ORIGIN] == backend.worker_id:\n")),
    ("manager.py",
     "        self._fan_out(self._targets(channel), message)\n",
     ("        from ._bench_probe import note\n\n"
      '        note("fan", message)\n'
      "        self._fan_out(self._targets(channel), message)\n"
      '        note("fanned", message)\n')),
    ("manager.py",
     "        return self._fan_out(targets, text)\n",
     ("        from ._bench_probe import note\n\n"
      '        note("lfan", text)\n'
      "        reached = self._fan_out(targets, text)\n"
      '        note("lfanned", text)\n'
      "        return reached\n")),
]

# Reported stages: name, (role, tag) where it starts, (role, tag) where it ends.
STAGES = [
    ("worker 1: handed to the backend -> PUBLISH written", ("w1", "pub"), ("w1", "write")),
    ("Redis hop: PUBLISH written -> read by worker 2", ("w1", "write"), ("w2", "deliver")),
    ("worker 2: read -> fan-out starts", ("w2", "deliver"), ("w2", "fan")),
    ("worker 2: fan-out to the room", ("w2", "fan"), ("w2", "fanned")),
    ("worker 1: handed to Redis -> worker 2 done", ("w1", "pub"), ("w2", "fanned")),
    ("memory worker: fan-out to the room", ("mem", "lfan"), ("mem", "lfanned")),
]


def instrument(project: Path) -> None:
    """Add the probes to a generated project's runtime (app/websocket)."""
    runtime = project / "app" / "websocket"
    (runtime / "_bench_probe.py").write_text(PROBE)
    for name, old, new in EDITS:
        path = runtime / name
        if not path.exists():  # the memory project has no Redis modules
            continue
        text = path.read_text()
        if old not in text:
            raise RuntimeError(f"probe point not found in {name}: {old.strip()!r}")
        path.write_text(text.replace(old, new, 1))


def _role(tags: set[str]) -> str:
    if "pub" in tags:
        return "w1"
    if "fan" in tags:
        return "w2"
    return "mem"


def stages(folder: Path) -> dict[str, dict[str, float]]:
    """Per stage, percentiles in ms over the messages seen at both ends."""
    marks: dict[int, dict[tuple[str, str], int]] = {}
    for dump in folder.glob("trace-*.json"):
        notes: list[list[Any]] = json.loads(dump.read_text())
        role = _role({tag for tag, _, _ in notes})
        for tag, index, ns in notes:
            marks.setdefault(index, {}).setdefault((role, tag), ns)
    out: dict[str, dict[str, float]] = {}
    for name, start, end in STAGES:
        spans = sorted(
            (m[end] - m[start]) / 1e6 for m in marks.values() if start in m and end in m
        )
        if spans:
            def pct(p: float, spans: list[float] = spans) -> float:
                return spans[min(len(spans) - 1, int(p * len(spans)))]
            out[name] = {"n": len(spans), "p50_ms": pct(0.5), "p90_ms": pct(0.9),
                         "p99_ms": pct(0.99), "max_ms": spans[-1]}
    return out
