"""The Redis backend's own hop, without servers or clients: publish -> deliver.

Two processes, each one ``RedisBackend`` (a worker without sockets): the
sender publishes a frame carrying ``time.monotonic_ns()`` (one clock for
every process of the machine) at a steady rate, the receiver notes when
its ``deliver`` is called. What it measures is what the backend adds to a
frame that crosses workers, apart from the fan-out itself; the end-to-end
benchmark (redis_bench.py) adds the servers and 200 WebSocket clients,
whose noise on a busy machine can be larger than the hop.

``--compare REV`` also runs the runtime of a git revision (its
``src/wsgen/runtime``), interleaved with the current one in every
repetition, so both see the same machine.

    python bench/redis_hop.py                      # the current runtime
    python bench/redis_hop.py --compare 684f925    # against an older one
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redis_bench import Redis  # noqa: E402  (bench/ is not a package)

REPO = Path(__file__).resolve().parent.parent


async def receive(url: str, count: int) -> None:
    from runtime.redis_backend import RedisBackend

    backend = RedisBackend(url, namespace="hop", required=True)
    spans: list[float] = []
    done = asyncio.Event()

    def deliver(channel: str, message: str) -> None:
        spans.append((time.monotonic_ns() - int(message)) / 1e6)
        if len(spans) >= count:
            done.set()

    backend.bind(deliver, lambda *args: "", dict)
    await backend.connect()
    await backend.subscribe("room:a")
    await asyncio.sleep(0.5)  # subscribed before the sender starts
    print("ready", flush=True)
    await asyncio.wait_for(done.wait(), count / 10 + 30)
    await backend.disconnect()
    print(json.dumps(spans), flush=True)


async def send(url: str, count: int, rate: float) -> None:
    from runtime.redis_backend import RedisBackend

    backend = RedisBackend(url, namespace="hop", required=True)
    backend.bind(lambda *args: None, lambda *args: "", dict)
    await backend.connect()
    start = time.monotonic()
    for index in range(count):
        await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
        await backend.publish("room:a", str(time.monotonic_ns()))
    await asyncio.sleep(0.2)
    await backend.disconnect()


def one_run(runtime_parent: Path, url: str, count: int, rate: float) -> dict[str, float]:
    env_path = str(runtime_parent)
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--role", "receive", "--url", url, "--count", str(count)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": env_path},
    )  # fmt: skip
    assert receiver.stdout is not None
    lines = iter(receiver.stdout.readline, "")  # the backend logs there too
    next(line for line in lines if line.strip() == "ready")
    subprocess.run(
        [sys.executable, __file__, "--role", "send", "--url", url, "--count", str(count),
         "--rate", str(rate)],
        check=True, env={**os.environ, "PYTHONPATH": env_path},
    )  # fmt: skip
    spans = sorted(json.loads(next(line for line in lines if line.startswith("["))))
    receiver.wait(30)

    def pct(p: float) -> float:
        return spans[min(len(spans) - 1, int(p * len(spans)))]

    return {"n": len(spans), "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99)}


def runtime_of(revision: str | None, folder: Path) -> Path:
    """A folder holding ``runtime/``: the current source, or a revision's."""
    parent = folder / (revision or "current")
    target = parent / "runtime"
    if revision is None:
        shutil.copytree(REPO / "src" / "wsgen" / "runtime", target)
        return parent
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "src/wsgen/runtime"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(parent)], input=archive, check=True)
    (parent / "src" / "wsgen" / "runtime").rename(target)
    return parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--role", choices=["receive", "send"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=2000, help="frames per run")
    parser.add_argument("--rate", type=float, default=100, help="frames per second")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--compare", metavar="REV", help="also this git revision's runtime")
    args = parser.parse_args()
    if args.role == "receive":
        asyncio.run(receive(args.url, args.count))
        return 0
    if args.role == "send":
        asyncio.run(send(args.url, args.count, args.rate))
        return 0
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="wsgen-redis-hop-") as tmp:
        folder = Path(tmp)
        variants = {"current": runtime_of(None, folder)}
        if args.compare:
            variants[args.compare] = runtime_of(args.compare, folder)
        redis = Redis(folder)
        redis.start()
        try:
            for rep in range(args.reps):
                for name, parent in variants.items():
                    result = one_run(parent, redis.url, args.count, args.rate)
                    print(rep, name, json.dumps(result), flush=True)
                    results.setdefault(name, []).append(result)
        finally:
            redis.stop()
    print(f"\n{args.count} frames at {args.rate:g}/s per run, {args.reps} repetitions, "
          "medians of each run's percentiles:")
    print("| runtime | p50 ms | p90 ms | p99 ms | p99 per repetition |")
    print("|---|---:|---:|---:|---|")
    for name, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in ("p50_ms", "p90_ms", "p99_ms")}
        each = ", ".join(f"{r['p99_ms']:.2f}" for r in runs)
        print(f"| {name} | {med['p50_ms']:.2f} | {med['p90_ms']:.2f} | {med['p99_ms']:.2f} "
              f"| {each} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
