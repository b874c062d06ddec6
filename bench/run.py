"""Benchmarks of the generated WebSocket endpoint against two baselines.

Servers, each under uvicorn on a random free port of 127.0.0.1, one worker:

* ``seed``: the seed pattern (bench/servers/seed_app.py), the baseline;
* ``ceiling``: the leanest endpoint on the same stack (servers/ceiling_app.py);
* ``generated``: produced now by running ``wsgen chat --rooms --broadcast``
  into a temporary copy of examples/app_package (plus ``--auth`` for the
  idle-connections scenario, with JWTs minted from ``WS_JWT_SECRET``),
  served with its uvicorn protocol (``--ws <runtime>.uvicorn_protocol:...``);
* ``generated_asgi`` (only when asked for in ``--servers``): the same
  project under plain ``--ws auto``, every frame through ASGI.

Scenarios (load client: bench/client/load.js, Node + the ``ws`` package):

* ``fanout``: 200 receivers in one room, 300 messages of 64 B sent as fast as
  possible; deliveries/s until every receiver has every message;
* ``latency``: 200 receivers, 100 messages/s; p50/p99 latency;
* ``stall``: 20 live readers + 1 that stops reading, 1000 messages of 16 KiB;
  % delivered to the live ones, when the server closed the stalled one, RSS;
* ``idle``: 5,000 (and optionally 10,000) idle connections in 50 rooms;
  server RSS per connection.

fanout and latency run with permessage-deflate off and on. Every scenario is
repeated (``--reps``), servers interleaved inside each repetition in rotated
order; the summary reports medians and per-repetition ratios. Results:
bench/results/. ``ab.py`` compares servers pairwise with an A/A control.

    python bench/run.py            # full run
    python bench/run.py --quick    # smoke run, a couple of minutes
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CLIENT = BENCH / "client"
SERVERS = BENCH / "servers"
RESULTS = BENCH / "results"
EXAMPLE = ROOT / "examples" / "app_package"

# Only used to sign the benchmark's own tokens on loopback.
JWT_SECRET = "bench-only-secret-0123456789abcdef-0123456789"

# The generated endpoint's limits that a benchmark would otherwise trip over.
# Its defaults (20 frames/s, burst 40) are meant for humans typing; one bench
# sender pushes hundreds of frames per second. Queue limits stay at defaults.
GENERATED_LOAD_ENV = {
    "WS_RATE_MESSAGES_PER_SECOND": "1000000",
    "WS_RATE_MESSAGES_BURST": "1000000",
}
# The generated runtime's opt-in accelerator (uvicorn's protocol plus direct
# frame writes and a TCP user timeout), served as the README documents it.
GENERATED_WS = "app.websocket.uvicorn_protocol:WebSocketProtocol"
# Idle scenario: the default idle timeout (60 s) would close the connections
# while 10,000 of them are being opened and measured.
GENERATED_IDLE_ENV = {"WS_IDLE_TIMEOUT": "900", "WS_JWT_SECRET": JWT_SECRET}


def log(*parts: object) -> None:
    print("[bench]", *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- environment


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: int | None):  # type: ignore[no-untyped-def]
    def preexec() -> None:
        raise_nofile()
        if cpu is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, {cpu})

    return preexec


def ensure_client() -> None:
    if (CLIENT / "node_modules" / "ws").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm not found: install Node.js 18+ to run the load client")
    log("installing the load client (npm ci)")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=CLIENT, check=True, timeout=300
    )


def wsgen_command() -> list[str]:
    return [sys.executable, "-m", "wsgen"]


def generate(workdir: Path, auth: bool, recover: bool = False) -> Path:
    """Run the real generator into a fresh copy of the example project."""
    name = "generated_auth" if auth else "generated_recover" if recover else "generated"
    project = workdir / name
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")
    )
    cmd = [*wsgen_command(), "chat", "--rooms", "--broadcast", "--accelerator", "uvicorn"]
    if auth:
        cmd.append("--auth")
    if recover:
        cmd.append("--recover")
    cmd += ["--yes", "--no-verify", "--project", str(project)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wsgen failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return project


def mint_tokens(n: int, path: Path) -> None:
    import jwt  # pyjwt

    exp = int(time.time()) + 3600
    tokens = [
        jwt.encode({"sub": f"user-{i}", "exp": exp}, JWT_SECRET, algorithm="HS256")
        for i in range(n)
    ]
    path.write_text(json.dumps(tokens))


# ---------------------------------------------------------------- servers


@dataclass
class ServerSpec:
    name: str
    cwd: Path
    app: str
    path: str
    env: dict[str, str] = field(default_factory=dict)
    user_query: bool = True
    # uvicorn --ws for this server when the run asks for --ws auto.
    ws: str | None = None


class Server:
    ws_impl = "auto"

    def __init__(self, spec: ServerSpec, deflate: bool, logdir: Path, cpu: int | None,
                 extra_env: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.port = free_port()
        env = {**os.environ, **spec.env, **(extra_env or {})}
        env.pop("PYTHONPATH", None)
        cmd = [
            sys.executable, "-m", "uvicorn", spec.app,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--ws-per-message-deflate", "true" if deflate else "false",
            "--log-level", "warning", "--no-access-log", "--lifespan", "on",
            "--ws", spec.ws if spec.ws and Server.ws_impl == "auto" else Server.ws_impl,
        ]
        self.logfile = (logdir / f"{spec.name}-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=spec.cwd, env=env, stdout=self.logfile, stderr=subprocess.STDOUT,
            preexec_fn=pinned(cpu),  # noqa: PLW1509 (no threads here)
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{spec.name} exited early; see {self.logfile.name}")
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.5
            ):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{spec.name} did not start listening")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.spec.path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.logfile.close()


@contextlib.contextmanager
def running(spec: ServerSpec, deflate: bool, logdir: Path, cpu: int | None,
            extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    server = Server(spec, deflate, logdir, cpu, extra_env)
    try:
        yield server
    finally:
        server.stop()


def run_client(config: dict[str, Any], cpu: int | None, timeout: float) -> dict[str, Any]:
    config = {**config, "hard_timeout_ms": int(timeout * 1000)}
    node = shutil.which("node") or "node"
    done = subprocess.run(
        [node, str(CLIENT / "load.js"), json.dumps(config)],
        capture_output=True, text=True, timeout=timeout + 30, check=False,
        preexec_fn=pinned(cpu),
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"client rc={done.returncode}: {done.stderr[-2000:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# ---------------------------------------------------------------- scenarios


@dataclass
class Plan:
    reps: int
    fanout: dict[str, Any]
    latency: dict[str, Any]
    stall: dict[str, Any]
    idle: dict[str, Any]
    idle_big: int | None


FULL = Plan(
    reps=5,
    fanout={"receivers": 200, "messages": 300, "size": 64, "time_bound_ms": 60000},
    latency={"receivers": 200, "rate": 100, "duration_s": 6, "size": 64, "drain_ms": 10000},
    stall={"receivers": 20, "messages": 1000, "size": 16384, "window": 32, "time_bound_ms": 40000,
           "stuck_ms": 5000, "close_wait_ms": 8000},
    idle={"connections": 5000, "rooms": 50},
    idle_big=10000,
)
QUICK = Plan(
    reps=1,
    fanout={"receivers": 200, "messages": 300, "size": 64, "time_bound_ms": 30000},
    latency={"receivers": 200, "rate": 100, "duration_s": 2, "size": 64, "drain_ms": 5000},
    stall={"receivers": 20, "messages": 1000, "size": 16384, "window": 32, "time_bound_ms": 25000,
           "stuck_ms": 3000, "close_wait_ms": 6000},
    idle={"connections": 1000, "rooms": 50},
    idle_big=None,
)


def scenario_runs(plan: Plan, scenarios: list[str]) -> list[tuple[str, bool, dict[str, Any]]]:
    runs: list[tuple[str, bool, dict[str, Any]]] = []
    for name in ("fanout", "latency"):
        if name in scenarios:
            runs += [(name, False, getattr(plan, name)), (name, True, getattr(plan, name))]
    if "stall" in scenarios:
        runs.append(("stall", False, plan.stall))
    if "stall-burst" in scenarios:
        runs.append(("stall-burst", False, {**plan.stall, "window": 0}))
    if "idle" in scenarios:
        runs.append(("idle", False, plan.idle))
    return runs


def one_run(spec: ServerSpec, scenario: str, deflate: bool, params: dict[str, Any],
            logdir: Path, pin: bool, tokens_file: Path | None) -> dict[str, Any]:
    extra = GENERATED_LOAD_ENV if spec.name.startswith("generated") else {}
    if scenario == "idle" and spec.name.startswith("generated"):
        extra = {**extra, **GENERATED_IDLE_ENV}
    with running(spec, deflate, logdir, 0 if pin else None, extra) as server:
        config: dict[str, Any] = {
            "scenario": scenario.split("-")[0], "url": server.url, "port": server.port,
            "server_pid": server.proc.pid, "deflate": deflate,
            "user_query": spec.user_query, **params,
        }
        if scenario == "idle" and spec.name == "generated_auth":
            config["tokens_file"] = str(tokens_file)
        budget = 240.0 if scenario == "idle" else 150.0
        started = time.monotonic()
        result = run_client(config, 1 if pin else None, budget)
        result["wall_s"] = round(time.monotonic() - started, 2)
        if server.proc.poll() is not None:
            result["server_exited"] = server.proc.returncode
    return result


# ---------------------------------------------------------------- summary

KEY = {"fanout": "deliveries_per_s", "latency": "p99_ms"}


def med(values: list[float | None]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[tuple[str, bool, str], list[dict[str, Any]]] = {}
    for r in records:
        scenario = r["scenario"]
        if scenario == "idle":
            scenario = f"idle-{r['params']['connections']}"
        groups.setdefault((scenario, r["deflate"], r["server"]), []).append(r)
    summary: dict[str, Any] = {}
    metrics = {
        "fanout": ["deliveries_per_s", "elapsed_s", "delivered", "expected",
                   "cpu_us_per_delivery", "sys_us_per_delivery", "writes_per_delivery"],
        "latency": ["p50_ms", "p90_ms", "p99_ms", "max_ms", "delivered", "expected",
                    "cpu_us_per_delivery", "sys_us_per_delivery", "writes_per_delivery"],
        "stall": ["delivered_pct", "live_done_s", "stalled_evicted_s", "stalled_server_closed_s",
                  "rss_growth_max_kib", "rss_growth_end_kib"],
        "idle": ["kib_per_connection", "joined", "open_seconds", "rss_before_kib",
                 "rss_after_kib"],
    }
    for (scenario, deflate, server), rs in groups.items():
        ok = [r["result"] for r in rs if "error" not in r["result"]]
        entry: dict[str, Any] = {"runs": len(rs), "ok_runs": len(ok)}
        for m in metrics[scenario.split("-")[0]]:
            entry[m] = med([r.get(m) for r in ok])
        if scenario.startswith("stall"):
            entry["all_complete"] = bool(ok) and all(r["delivered_pct"] == 100 for r in ok)
            entry["stalled_closed_runs"] = sum(
                1 for r in ok if r.get("stalled_server_closed_s") is not None)
            entry["stalled_evicted_runs"] = sum(
                1 for r in ok if r.get("stalled_evicted_s") is not None)
            entry["stalled_evicted_max_s"] = max(
                (r["stalled_evicted_s"] for r in ok if r.get("stalled_evicted_s") is not None),
                default=None)
            entry["observed_s"] = med([r.get("observed_s") for r in ok])
            entry["stalled_close_codes_seen"] = sorted(
                {str(r.get("stalled_close_code_seen")) for r in ok})
            entry["live_closes"] = [r.get("live_closes") for r in ok]
        if scenario == "fanout":
            entry["complete_runs"] = sum(1 for r in ok if r.get("complete"))
        if scenario in ("fanout", "latency"):
            entry["closes"] = [r.get("closes") for r in ok if r.get("closes")]
            entry["sender_errors"] = [r.get("sender_errors") for r in ok]
        label = f"{scenario}/{'deflate' if deflate else 'plain'}"
        if scenario.startswith("idle"):
            label = f"idle/{rs[0]['params']['connections']}"
            entry["errors"] = [r["result"]["error"] for r in rs if "error" in r["result"]]
        summary.setdefault(label, {})[server] = entry
    # Per-repetition ratios (same repetition = close in time on a noisy box).
    ratios: dict[str, Any] = {}
    for label in summary:
        scenario = label.split("/")[0]
        if scenario not in KEY:
            continue
        deflate = label.endswith("deflate")
        for key, prefix in ((KEY[scenario], ""), ("cpu_us_per_delivery", "cpu "),
                            ("sys_us_per_delivery", "sys ")):
            by_rep: dict[int, dict[str, float]] = {}
            for r in records:
                if r["scenario"] == scenario and r["deflate"] == deflate and key in r["result"]:
                    by_rep.setdefault(r["rep"], {})[r["server"]] = r["result"][key]

            def ratio(a: str, b: str, by_rep: dict[int, dict[str, float]] = by_rep
                      ) -> float | None:
                vals = [v[a] / v[b] for v in by_rep.values() if a in v and b in v and v[b]]
                return med(vals)  # type: ignore[arg-type]

            ratios.setdefault(label, {}).update({
                f"{prefix}generated/ceiling": ratio("generated", "ceiling"),
                f"{prefix}ceiling/seed": ratio("ceiling", "seed"),
                f"{prefix}generated/seed": ratio("generated", "seed"),
                f"{prefix}generated/generated_asgi": ratio("generated", "generated_asgi"),
                f"{prefix}generated_asgi/ceiling": ratio("generated_asgi", "ceiling"),
                f"{prefix}generated_recover/generated_asgi": ratio(
                    "generated_recover", "generated_asgi"),
            })
    # The accelerator under deflate against itself without (same repetition).
    for scenario in KEY:
        by_rep: dict[int, dict[bool, float]] = {}
        for r in records:
            if (r["scenario"] == scenario and r["server"] == "generated"
                    and "cpu_us_per_delivery" in r["result"]):
                by_rep.setdefault(r["rep"], {})[r["deflate"]] = r["result"]["cpu_us_per_delivery"]
        vals = [v[True] / v[False] for v in by_rep.values() if v.get(True) and v.get(False)]
        if vals:
            ratios.setdefault(f"{scenario}/deflate", {})["cpu generated deflate/plain"] = med(
                vals)  # type: ignore[arg-type]
    return {"by_scenario": summary, "ratios": ratios}


def fmt(v: Any, digits: int = 0) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) or (isinstance(v, int) and digits and not isinstance(v, bool)):
        return f"{v:,.{digits}f}"
    return str(v)


def targets(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    s, r = summary["by_scenario"], summary["ratios"]
    rows: list[tuple[str, str, str]] = []
    fr = r.get("fanout/plain", {}).get("generated/ceiling")
    if fr is not None:
        g = s["fanout/plain"].get("generated", {})
        done = g.get("complete_runs", 0) == g.get("ok_runs", -1)
        rows.append(("fan-out >= 0.9x ceiling",
                     (f"{fr:.2f}x (median of per-repetition ratios; "
                     f"{g.get('complete_runs')}/{g.get('ok_runs')} generated runs complete)"),
                     "PASS" if fr >= 0.9 and done else "FAIL"))
    lr = r.get("latency/plain", {}).get("generated/ceiling")
    if lr is not None:
        rows.append(("p99 <= 1.2x ceiling", f"{lr:.2f}x", "PASS" if lr <= 1.2 else "FAIL"))
    st = s.get("stall/plain", {}).get("generated")
    if st:
        worst = st["stalled_evicted_max_s"]
        evicted = st["stalled_evicted_runs"] == st["ok_runs"] and worst is not None and worst <= 5
        rows.append((
            "stalled reader: 100% delivered to the 20",
            f"{fmt(st['delivered_pct'], 1)}% (median), complete in all runs: {st['all_complete']}",
            "PASS" if st["all_complete"] else "FAIL"))
        rows.append((
            "stalled reader dropped by the server <= 5 s (queue freed, 1013 initiated)",
            (f"evicted after {fmt(st['stalled_evicted_s'], 2)} s (median; worst {fmt(worst, 2)} s, "
            f"{st['stalled_evicted_runs']}/{st['ok_runs']} runs)"),
            "PASS" if evicted else "FAIL"))
        closed = st["stalled_server_closed_s"]
        tcp_ok = st["stalled_closed_runs"] == st["ok_runs"] and closed is not None and closed <= 5
        rows.append((
            "stalled reader's connection actually closed <= 5 s (TCP leaves ESTABLISHED)",
            (f"after {fmt(closed, 2)} s" if st["stalled_closed_runs"] else
             f"still ESTABLISHED after {fmt(st['observed_s'], 1)} s in every run"),
            "PASS" if tcp_ok else "FAIL"))
        rows.append((
            "server memory growth bounded",
            (f"RSS growth max {fmt(st['rss_growth_max_kib'])} KiB, at end "
            f"{fmt(st['rss_growth_end_kib'])} KiB (16,000 KiB sent per reader)"),
            "PASS" if (st["rss_growth_max_kib"] or 0) < 8 * 1024 else "FAIL"))
    for label in sorted(k for k in s if k.startswith("idle/")):
        g = s[label].get("generated_auth")
        if g and g["kib_per_connection"] is not None:
            per = g["kib_per_connection"]
            rows.append((f"{label.split('/')[1]} idle: <= 40 KiB/connection",
                         f"{per:.1f} KiB", "PASS" if per <= 40 else "FAIL"))
    return rows


def _asgi_line(rr: dict[str, Any]) -> list[str]:
    """The default path (plain uvicorn, what `fastapi run` serves) against
    the ceiling, and the accelerator under deflate against its plain run."""
    lines = []
    if rr.get("generated_asgi/ceiling") is not None:
        lines.append(
            f"generated_asgi/ceiling {fmt(rr.get('generated_asgi/ceiling'), 2)}x; server CPU "
            f"per delivery {fmt(rr.get('cpu generated_asgi/ceiling'), 2)}x, of which system "
            f"{fmt(rr.get('sys generated_asgi/ceiling'), 2)}x")
    if rr.get("cpu generated deflate/plain") is not None:
        lines.append(f"accelerator (generated) server CPU per delivery, deflate/plain: "
                     f"{fmt(rr.get('cpu generated deflate/plain'), 2)}x")
    return ["; ".join(lines), ""] if lines else []


def _recover_line(rr: dict[str, Any]) -> list[str]:
    """History on (--recover) against off, when the run had both."""
    if rr.get("generated_recover/generated_asgi") is None:
        return []
    return [(f"history on/off (generated_recover/generated_asgi): "
             f"{fmt(rr.get('generated_recover/generated_asgi'), 2)}x; server CPU per "
             f"delivery {fmt(rr.get('cpu generated_recover/generated_asgi'), 2)}x"), ""]


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    s, r = summary["by_scenario"], summary["ratios"]
    out = [f"Medians over {meta['reps']} repetition(s); {meta['machine']}.", ""]
    order = ["seed", "ceiling", "generated", "generated_asgi", "generated_recover",
             "generated_auth"]
    # Deflate first: every browser negotiates it and uvicorn accepts it.
    for label in ("fanout/deflate", "fanout/plain"):
        if label in s:
            out += [f"### Fan-out throughput ({label.split('/')[1]})", "",
                    "| server | deliveries/s | server CPU µs/delivery | of which system "
                    "| writes/delivery | time to all (s) | runs complete | receivers closed |",
                    "|---|---:|---:|---:|---:|---:|---:|---:|"]
            for name in order:
                e = s[label].get(name)
                if e:
                    closed = sum(sum(c.values()) for c in e["closes"] if c)
                    out.append(f"| {name} | {fmt(e['deliveries_per_s'])} "
                               f"| {fmt(e['cpu_us_per_delivery'], 1)} "
                               f"| {fmt(e.get('sys_us_per_delivery'), 1)} "
                               f"| {fmt(e.get('writes_per_delivery'), 2)} "
                               f"| {fmt(e['elapsed_s'], 2)}"
                               f" | {e['complete_runs']}/{e['ok_runs']} | {closed} |")
            rr = r.get(label, {})
            out += ["", (f"generated/ceiling {fmt(rr.get('generated/ceiling'), 2)}x, "
                        f"ceiling/seed {fmt(rr.get('ceiling/seed'), 2)}x, "
                        f"generated/seed {fmt(rr.get('generated/seed'), 2)}x, "
                        f"generated/generated_asgi "
                        f"{fmt(rr.get('generated/generated_asgi'), 2)}x; server CPU per "
                        f"delivery generated/ceiling {fmt(rr.get('cpu generated/ceiling'), 2)}x "
                        "(medians of per-repetition ratios)"), ""]
            out += _asgi_line(rr) + _recover_line(rr)
    for label in ("latency/deflate", "latency/plain"):
        if label in s:
            out += [f"### Paced latency, 100 msg/s to 200 receivers ({label.split('/')[1]})", "",
                    "| server | p50 ms | p90 ms | p99 ms | max ms | server CPU µs/delivery "
                    "| of which system | writes/delivery | delivered |",
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for name in order:
                e = s[label].get(name)
                if e:
                    out.append(f"| {name} | {fmt(e['p50_ms'], 1)} | {fmt(e['p90_ms'], 1)} | "
                               f"{fmt(e['p99_ms'], 1)} | {fmt(e['max_ms'], 1)} | "
                               f"{fmt(e['cpu_us_per_delivery'], 1)} | "
                               f"{fmt(e.get('sys_us_per_delivery'), 1)} | "
                               f"{fmt(e.get('writes_per_delivery'), 2)} | "
                               f"{fmt(e['delivered'])}/{fmt(e['expected'])} |")
            rr = r.get(label, {})
            out += ["", (f"p99 generated/ceiling {fmt(rr.get('generated/ceiling'), 2)}x, "
                        f"ceiling/seed {fmt(rr.get('ceiling/seed'), 2)}x, "
                        f"generated/generated_asgi "
                        f"{fmt(rr.get('generated/generated_asgi'), 2)}x; server CPU per "
                        f"delivery generated/ceiling {fmt(rr.get('cpu generated/ceiling'), 2)}x"),
                    ""]
            out += _asgi_line(rr) + _recover_line(rr)
    for label, title in (
        ("stall/plain", "sender at most 32 messages ahead of the slowest live reader"),
        ("stall-burst/plain", "sender bursting as fast as its socket allows"),
    ):
        if label not in s:
            continue
        out += [f"### One stalled reader among 20 (1000 x 16 KiB, deflate off; {title})", "",
                ("| server | delivered to live | all live done (s) | stalled evicted (s) "
                "| stalled TCP closed (s) | close code seen on resume | live readers closed "
                "| RSS growth max / end (KiB) |"),
                "|---|---:|---:|---:|---:|---|---|---:|"]
        for name in order:
            e = s[label].get(name)
            if e:
                live = sum(sum(c.values()) for c in e["live_closes"] if c)
                out.append(
                    f"| {name} | {fmt(e['delivered_pct'], 1)}% | {fmt(e['live_done_s'], 2)} | "
                    f"{fmt(e['stalled_evicted_s'], 2)} | "
                    f"{fmt(e['stalled_server_closed_s'], 2)} "
                    f"({e['stalled_closed_runs']}/{e['ok_runs']} runs) | "
                    f"{', '.join(e['stalled_close_codes_seen'])} | {live} over all runs | "
                    f"{fmt(e['rss_growth_max_kib'])} / {fmt(e['rss_growth_end_kib'])} |")
        out.append("")
    for label in sorted(k for k in s if k.startswith("idle/")):
        out += [f"### {label.split('/')[1]} idle connections in 50 rooms (deflate off)", "",
                "| server | KiB/connection | connected | RSS before -> after (MiB) | open time (s) |",
                "|---|---:|---:|---:|---:|"]
        for name in order:
            e = s[label].get(name)
            if e:
                before, after = e["rss_before_kib"], e["rss_after_kib"]
                if not e["ok_runs"]:
                    out.append(f"| {name} | n/a | n/a ({'; '.join(e['errors'])}) | | |")
                    continue
                out.append(
                    f"| {name} | {fmt(e['kib_per_connection'], 1)} | {fmt(e['joined'])} | "
                    f"{fmt(before and before / 1024, 1)} -> {fmt(after and after / 1024, 1)} | "
                    f"{fmt(e['open_seconds'], 1)} |")
        out.append("")
    rows = targets(summary)
    if rows:
        out += ["### Targets (deflate off)", "", "| target | measured | result |", "|---|---|---|"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--reps", type=int, help="repetitions (default 5, quick 1)")
    parser.add_argument("--scenarios", default="fanout,latency,stall,stall-burst,idle")
    parser.add_argument("--servers", default="seed,ceiling,generated",
                        help="comma-separated; generated_asgi (the generated endpoint "
                             "under plain --ws auto) needs generated")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin server to CPU 0 and client to CPU 1")
    parser.add_argument("--no-big-idle", action="store_true", help="skip 10,000 idle")
    parser.add_argument("--ws", default="auto",
                        choices=["auto", "websockets", "websockets-sansio", "wsproto"],
                        help="uvicorn WebSocket implementation (auto = websockets-sansio)")
    parser.add_argument("--generated-env", action="append", default=[], metavar="WS_X=V",
                        help="extra environment for the generated endpoint (repeatable), "
                             "e.g. WS_GC_FREEZE=on")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="only rebuild the markdown summary of an earlier run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--fanout-runs", type=int, default=3,
                        help="fan-out runs per server in each repetition; the median counts")
    args = parser.parse_args()

    if args.report:
        earlier = json.loads(args.report.read_text())
        summary = summarise(earlier["records"])
        print(markdown(summary, earlier["meta"]))
        return 0
    plan = QUICK if args.quick else FULL
    Server.ws_impl = args.ws
    for item in args.generated_env:
        key, _, value = item.partition("=")
        if not key.startswith("WS_") or not value:
            parser.error(f"--generated-env wants WS_NAME=VALUE, got {item!r}")
        GENERATED_LOAD_ENV[key] = value
    reps = args.reps or plan.reps
    scenarios = args.scenarios.split(",")
    wanted = args.servers.split(",")
    pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    raise_nofile()
    ensure_client()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    logdir = args.out / f"logs-{stamp}"
    logdir.mkdir()

    with tempfile.TemporaryDirectory(prefix="wsgen-bench-") as tmp:
        work = Path(tmp)
        specs: dict[str, ServerSpec] = {
            "seed": ServerSpec("seed", SERVERS, "seed_app:app", "/ws"),
            "ceiling": ServerSpec("ceiling", SERVERS, "ceiling_app:app", "/ws"),
        }
        tokens_file: Path | None = None
        if "generated" in wanted:
            log("generating the endpoint with wsgen")
            specs["generated"] = ServerSpec(
                "generated", generate(work, auth=False), "app.main:app", "/ws/chat",
                user_query=False, ws=GENERATED_WS)
            if "generated_asgi" in wanted:
                # The same project through ASGI only: what the generated
                # uvicorn protocol's direct frames are worth.
                specs["generated_asgi"] = ServerSpec(
                    "generated_asgi", specs["generated"].cwd, "app.main:app", "/ws/chat",
                    user_query=False)
            if "generated_recover" in wanted:
                # The same endpoint with --recover (room history), through ASGI:
                # against generated_asgi, what keeping history costs.
                specs["generated_recover"] = ServerSpec(
                    "generated_recover", generate(work, auth=False, recover=True),
                    "app.main:app", "/ws/chat", user_query=False)
            if "idle" in scenarios:
                specs["generated_auth"] = ServerSpec(
                    "generated_auth", generate(work, auth=True), "app.main:app",
                    "/ws/chat", user_query=False, ws=GENERATED_WS)
                tokens_file = work / "tokens.json"
                biggest = max(plan.idle["connections"], plan.idle_big or 0) + 100
                mint_tokens(biggest, tokens_file)

        def servers_for(scenario: str) -> list[str]:
            every = ("seed", "ceiling", "generated", "generated_asgi", "generated_recover")
            names = [n for n in every if n in wanted]
            if scenario == "idle" and "generated" in names:
                names[names.index("generated")] = "generated_auth"
            return names

        records: list[dict[str, Any]] = []
        runs = scenario_runs(plan, scenarios)
        t_start = time.monotonic()
        for rep in range(reps):
            for scenario, deflate, params in runs:
                # The slow scenarios run at most 3 times.
                if scenario in ("idle", "stall", "stall-burst") and rep >= max(1, min(reps, 3)):
                    continue
                # A 300-message burst lasts about a second, so one run is
                # mostly noise: fan-out takes the median of several runs per
                # server, interleaved, as the repetition's result.
                subruns = args.fanout_runs if scenario == "fanout" else 1
                results: dict[str, list[dict[str, Any]]] = {}
                for sub in range(subruns):
                    # Rotated: each server takes each place in the order
                    # equally often, so no server always follows the same one.
                    names = servers_for(scenario)
                    shift = (rep * subruns + sub) % len(names)
                    for name in names[shift:] + names[:shift]:
                        log(f"rep {rep + 1}/{reps} {scenario} deflate={deflate} {name}"
                            + (f" run {sub + 1}/{subruns}" if subruns > 1 else ""))
                        result = one_run(specs[name], scenario, deflate, params, logdir, pin,
                                         tokens_file)
                        log("   ", json.dumps({k: v for k, v in result.items()
                                               if not isinstance(v, (list, dict))})[:300])
                        results.setdefault(name, []).append(result)
                for name, done in results.items():
                    done.sort(key=lambda r: r.get("deliveries_per_s") or 0.0)
                    result = done[len(done) // 2]
                    if subruns > 1:
                        result = {**result, "subruns": [r.get("deliveries_per_s") for r in done]}
                    records.append({"rep": rep, "scenario": scenario, "deflate": deflate,
                                    "server": name, "params": params, "result": result})
                    # Keep what is measured so far, in case the run is cut short.
                    (args.out / f"partial-{stamp}.json").write_text(json.dumps(records))
        if plan.idle_big and "idle" in scenarios and not args.no_big_idle:
            params = {**plan.idle, "connections": plan.idle_big}
            for name in servers_for("idle"):
                log(f"idle {plan.idle_big} {name}")
                result = one_run(specs[name], "idle", False, params, logdir, pin, tokens_file)
                log("   ", json.dumps({k: v for k, v in result.items()
                                       if not isinstance(v, (list, dict))})[:300])
                records.append({"rep": 0, "scenario": "idle", "deflate": False,
                                "server": name, "params": params, "result": result})

    meta = {
        "reps": reps, "quick": args.quick, "pinned": pin, "uvicorn_ws": args.ws,
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, shared host"
                   + (", server pinned to CPU 0 and client to CPU 1" if pin else ""),
        "python": platform.python_version(),
        "versions": versions(),
        "duration_s": round(time.monotonic() - t_start, 1),
        "generated_env": {"load": GENERATED_LOAD_ENV,
                          "idle": {"WS_IDLE_TIMEOUT": GENERATED_IDLE_ENV["WS_IDLE_TIMEOUT"]}},
    }
    summary = summarise(records)
    table = markdown(summary, meta)
    out = {"meta": meta, "summary": summary, "records": records}
    (args.out / f"bench-{stamp}.json").write_text(json.dumps(out, indent=2))
    (args.out / f"bench-{stamp}.md").write_text(table)
    (args.out / "latest.json").write_text(json.dumps(out, indent=2))
    (args.out / "latest.md").write_text(table)
    print(table)
    log(f"results in {args.out}/bench-{stamp}.json ({meta['duration_s']} s)")
    return 0


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for dist in ("fastapi", "starlette", "uvicorn", "websockets", "uvloop", "httptools",
                 "pydantic", "structlog"):
        with contextlib.suppress(PackageNotFoundError):
            found[dist] = version(dist)
    node = shutil.which("node")
    if node:
        found["node"] = subprocess.run([node, "--version"], capture_output=True,
                                       text=True, check=False).stdout.strip()
    lock = CLIENT / "package-lock.json"
    if lock.exists():
        pkgs = json.loads(lock.read_text()).get("packages", {})
        found["ws"] = pkgs.get("node_modules/ws", {}).get("version", "?")
    return found


if __name__ == "__main__":
    sys.exit(main())
