"""Two workers with the Redis backend against one worker in memory.

Generates the benchmark endpoint (``wsgen chat --rooms --broadcast``, as
bench/run.py does) twice into copies of examples/app_package: once on the
memory backend, once with ``--backend redis``; starts a redis-server of its
own on a free loopback port, and uvicorn servers through bench/run.py's
``Server``, served with the generated uvicorn protocol as the README says
(``--ws auto`` for every frame through ASGI). Load client:
bench/client/cross.js, load.js's latency and fanout scenarios with the
sender and the receivers on different servers.

Setups, interleaved inside every repetition:

* ``memory``: one worker, memory backend, sender and receivers on it;
* ``redis-local``: two workers on Redis, sender and receivers on worker 1;
* ``redis-cross``: two workers on Redis, sender on worker 1, every
  receiver on worker 2: each frame crosses Redis.
* ``redis-split`` (only with ``--setups``): sender on worker 1, receivers
  alternating between the workers: half the room local, half across.
* ``history-cross`` (only with ``--setups``): as ``redis-cross``, the
  endpoint generated with ``--recover``: each message numbered and kept in
  a Redis Stream by one script before it is published.

Scenarios: ``latency`` (200 receivers, 100 messages/s, p50/p99), ``fanout``
(200 receivers, 300 messages as fast as possible: % delivered), and
``recovery``: redis-server is restarted while worker 1 sends a probe every
10 ms into a room that a client of worker 2 is in; the time from Redis
answering again to the first probe arriving on worker 2.

    python bench/redis_bench.py              # 3 repetitions
    python bench/redis_bench.py --reps 1     # quicker
    python bench/redis_bench.py --trace      # and where the time goes, stage by stage
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redis_trace import instrument, stages  # noqa: E402  (bench/ is not a package)
from run import (  # noqa: E402
    CLIENT,
    EXAMPLE,
    GENERATED_LOAD_ENV,
    GENERATED_WS,
    RESULTS,
    Server,
    ServerSpec,
    ensure_client,
    free_port,
    log,
    raise_nofile,
)

SETUPS = ("memory", "redis-local", "redis-cross", "redis-split", "history-cross")
LATENCY = {"receivers": 200, "rate": 100, "duration_s": 6, "size": 64, "drain_ms": 10000}
FANOUT = {"receivers": 200, "messages": 300, "size": 64, "drain_ms": 15000}


def generate(workdir: Path, backend: str, recover: bool = False) -> Path:
    project = workdir / f"generated_{backend}{'_recover' if recover else ''}"
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")
    )
    cmd = [sys.executable, "-m", "wsgen", "chat", "--rooms", "--broadcast"]
    cmd += ["--accelerator", "uvicorn"]  # for --ws generated (the default)
    cmd += ["--backend", backend, "--yes", "--no-verify", "--project", str(project)]
    cmd += ["--recover"] if recover else []
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wsgen failed:\n{done.stdout}\n{done.stderr}")
    return project


class Redis:
    def __init__(self, logdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("redis-server not found (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.logfile = logdir / f"redis-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> float:
        with self.logfile.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.answers():
                return time.monotonic()
            time.sleep(0.005)
        raise RuntimeError("redis-server did not start")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def run_client(config: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node") or "node"
    done = subprocess.run(
        [node, str(CLIENT / "cross.js"), json.dumps(config)],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"no result: {done.stderr[-500:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


async def recovery_once(redis: Redis, sender_url: str, receiver_url: str) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    async def joined(url: str) -> Any:
        ws = await connect(url)
        await ws.send(json.dumps({"type": "join_room", "room_id": "probe"}))
        while "room_joined" not in await ws.recv():
            pass
        return ws

    sender, receiver = await joined(sender_url), await joined(receiver_url)
    async with sender, receiver:
        sent = 0

        async def probe() -> None:
            nonlocal sent
            while True:
                sent += 1
                frame = {"type": "message", "room_id": "probe", "content": f"p{sent}"}
                await sender.send(json.dumps(frame))
                await asyncio.sleep(0.01)

        async def first_probe() -> float:
            while True:
                text = await receiver.recv()
                if '"message"' in text:
                    return time.monotonic()

        prober = asyncio.create_task(probe())
        try:
            await asyncio.wait_for(first_probe(), 5)  # healthy before the restart
            stopped = time.monotonic()
            await asyncio.to_thread(redis.stop)
            await asyncio.sleep(1.0)
            while True:  # drain what arrived before the stop
                try:
                    await asyncio.wait_for(receiver.recv(), 0.05)
                except TimeoutError:
                    break
            up = await asyncio.to_thread(redis.start)
            arrived = await asyncio.wait_for(first_probe(), 30)
        finally:
            prober.cancel()
    return {"down_s": up - stopped, "recovery_s": arrived - up}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=LATENCY["duration_s"],
                        help="seconds of paced sending per latency run (longer: steadier p99)")
    parser.add_argument("--receivers", type=int, default=LATENCY["receivers"])
    parser.add_argument("--rate", type=float, default=LATENCY["rate"],
                        help="paced messages/s of the latency scenario")
    parser.add_argument("--setups", default="memory,redis-local,redis-cross",
                        help=f"comma-separated, of {', '.join(SETUPS)} (receivers "
                             "round-robin over both workers)")
    parser.add_argument("--trace", action="store_true",
                        help="probe the latency runs' stages (bench/redis_trace.py)")
    parser.add_argument("--ws", choices=["generated", "auto"], default="generated",
                        help="uvicorn --ws: the generated protocol, or auto (ASGI only)")
    args = parser.parse_args()
    args.setups = args.setups.split(",")
    if "memory" not in args.setups or not set(args.setups) <= set(SETUPS):
        parser.error(f"--setups: memory and any of {', '.join(SETUPS[1:])}")
    ws = GENERATED_WS if args.ws == "generated" else None
    LATENCY.update(receivers=args.receivers, rate=args.rate, duration_s=args.duration)
    FANOUT.update(receivers=args.receivers)
    raise_nofile()
    ensure_client()
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wsgen-redis-bench-") as tmp:
        work = Path(tmp)
        logdir = work / "logs"
        logdir.mkdir()
        log("generating the endpoint with wsgen (memory, redis)")
        projects = {backend: generate(work, backend) for backend in ("memory", "redis")}
        if "history-cross" in args.setups:
            projects["history"] = generate(work, "redis", recover=True)
        if args.trace:
            for project in projects.values():
                instrument(project)
        memory_spec = ServerSpec("memory", projects["memory"], "app.main:app",
                                 "/ws/chat", env=dict(GENERATED_LOAD_ENV), user_query=False,
                                 ws=ws)
        redis = Redis(logdir)
        redis.start()
        redis_env = {**GENERATED_LOAD_ENV, "WS_REDIS_URL": redis.url, "WS_REDIS_REQUIRED": "1"}
        redis_spec = ServerSpec("redis", projects["redis"], "app.main:app",
                                "/ws/chat", env=redis_env, user_query=False, ws=ws)
        history_spec = ServerSpec("history", projects.get("history", projects["redis"]),
                                  "app.main:app", "/ws/chat", env=redis_env,
                                  user_query=False, ws=ws)
        try:
            for rep in range(args.reps):
                for setup in args.setups:
                    for scenario, params in (("latency", LATENCY), ("fanout", FANOUT)):
                        traces = work / f"trace-{rep}-{setup}-{scenario}"
                        traces.mkdir()
                        probe = {"WS_BENCH_TRACE_DIR": str(traces)}
                        spec = {"memory": memory_spec,
                                "history-cross": history_spec}.get(setup, redis_spec)
                        servers = [Server(spec, False, logdir, None, probe)
                                   for _ in range(1 if setup == "memory" else 2)]
                        try:
                            receivers = {"redis-cross": servers[1:],
                                         "history-cross": servers[1:],
                                         "redis-split": servers}.get(setup, servers[:1])
                            config = {**params, "scenario": scenario,
                                      "sender_url": servers[0].url,
                                      "receiver_urls": [r.url for r in receivers]}
                            result = run_client(config)
                        finally:
                            for server in servers:
                                server.stop()
                        if args.trace and scenario == "latency":
                            result["stages"] = stages(traces)
                        log(rep, setup, scenario, json.dumps(result))
                        records.append({"rep": rep, "setup": setup,
                                        "scenario": scenario, **result})
            servers = [Server(redis_spec, False, logdir, None) for _ in range(2)]
            try:
                for rep in range(args.reps):
                    result = asyncio.run(recovery_once(redis, servers[0].url, servers[1].url))
                    log(rep, "recovery", json.dumps(result))
                    records.append({"rep": rep, "setup": "redis-cross",
                                    "scenario": "recovery", **result})
            finally:
                for server in servers:
                    server.stop()
        finally:
            redis.stop()
    summary = summarise(records)
    meta = {
        "when": stamp,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "redis": subprocess.run(["redis-server", "--version"], capture_output=True,
                                text=True, check=False).stdout.strip(),
        "reps": args.reps,
        "receivers": args.receivers,
        "rate": args.rate,
        "ws": args.ws,
    }
    out = RESULTS / f"redis-{stamp}.json"
    out.write_text(json.dumps({"meta": meta, "summary": summary, "records": records},
                              indent=2))
    print(markdown(summary, meta))
    log("results:", out)
    return 0


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for setup in SETUPS:
        rows = [r for r in records if r["setup"] == setup and "error" not in r]
        lat = [r for r in rows if r["scenario"] == "latency"]
        fan = [r for r in rows if r["scenario"] == "fanout"]
        summary[setup] = {
            "p50_ms": med([r["p50_ms"] for r in lat]),
            "p99_ms": med([r["p99_ms"] for r in lat]),
            "latency_delivered_pct": med([100 * r["delivered"] / r["expected"] for r in lat]),
            "fanout_delivered_pct": med([100 * r["delivered"] / r["expected"] for r in fan]),
            "fanout_deliveries_per_s": med([r["deliveries_per_s"] for r in fan]),
            "runs": len(lat) + len(fan),
            "errors": sum(1 for r in records if r["setup"] == setup and "error" in r),
        }
    base = summary["memory"]["p99_ms"]
    for setup in SETUPS[1:]:
        p99 = summary[setup]["p99_ms"]
        summary[setup]["p99_added_ms"] = None if base is None or p99 is None else p99 - base
    traced: dict[str, dict[str, list[float]]] = {}
    for r in records:
        for stage, values in r.get("stages", {}).items():
            for key in ("p50_ms", "p99_ms"):
                traced.setdefault(stage, {}).setdefault(key, []).append(values[key])
    summary["stages"] = {stage: {key: med(v) for key, v in keys.items()}
                         for stage, keys in traced.items()}
    rec = [r["recovery_s"] for r in records if r["scenario"] == "recovery"]
    summary["recovery"] = {"median_s": med(rec), "max_s": max(rec) if rec else None,
                           "runs": len(rec)}
    return summary


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        "| setup | p50 ms | p99 ms | p99 added by Redis | delivered (paced) "
        "| delivered (burst) | burst deliveries/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for setup in SETUPS:
        s = summary[setup]
        if not s["runs"]:
            continue
        lines.append(
            f"| {setup} | {fmt(s['p50_ms'])} | {fmt(s['p99_ms'])} "
            f"| {fmt(s.get('p99_added_ms'))} | {fmt(s['latency_delivered_pct'], 1)} % "
            f"| {fmt(s['fanout_delivered_pct'], 1)} % "
            f"| {fmt(s['fanout_deliveries_per_s'], 0)} |"
        )
    if summary.get("stages"):
        lines += ["", "| stage (probes, --trace) | p50 ms | p99 ms |", "|---|---|---|"]
        for stage, v in summary["stages"].items():
            lines.append(f"| {stage} | {fmt(v['p50_ms'])} | {fmt(v['p99_ms'])} |")
    rec = summary["recovery"]
    lines += [
        "",
        f"Recovery after a Redis restart (time from Redis answering to the first "
        f"cross-worker delivery): median {fmt(rec['median_s'])} s, "
        f"max {fmt(rec['max_s'])} s over {rec['runs']} restarts.",
        "",
        f"Paced: {meta['rate']:g} messages/s to {meta['receivers']} receivers; "
        f"{meta['cpus']} CPUs, Python {meta['python']}, {meta['redis']}, "
        f"{meta['reps']} repetitions, medians; uvicorn --ws {meta['ws']}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
