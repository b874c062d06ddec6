"""Paired comparison of servers, with the ceiling against itself as control.

``run.py`` runs its servers in a fixed order inside each repetition; a
difference of a few percent between two of them can be the machine, or the
position in that order. This script runs one scenario for a set of servers
in rotated order (each server takes each position equally often), includes
a second, identical ceiling (``ceiling_twin``) whose ratio to the ceiling
shows what this machine can resolve, and reports per-round ratios against
the ceiling: median, a bootstrap 95% interval of the median, and how many
rounds came out below 1.0.

    python bench/ab.py --rounds 12                       # paced, plain
    python bench/ab.py --scenario fanout --deflate --rounds 12
    python bench/ab.py --servers ceiling,ceiling_twin,generated_asgi,ceiling_frame

``ceiling_frame`` is the ceiling sending the generated endpoint's room
frame (compact JSON with ``id`` and ``seq``, 239 B instead of 214 B).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the benchmark's servers, client and scenarios)

METRICS = {
    "latency": ("cpu_us_per_delivery", "sys_us_per_delivery", "p99_ms"),
    "fanout": ("cpu_us_per_delivery", "sys_us_per_delivery", "deliveries_per_s"),
}


def interval(values: list[float], draws: int = 4000) -> tuple[float, float]:
    """Bootstrap 95% interval of the median (seeded: the report repeats)."""
    rng = random.Random(0)
    medians = sorted(
        statistics.median(rng.choices(values, k=len(values))) for _ in range(draws)
    )
    return medians[int(draws * 0.025)], medians[int(draws * 0.975) - 1]


def report(rounds: list[dict[str, dict[str, Any]]], scenario: str) -> str:
    names = [n for n in rounds[0] if n != "ceiling"]
    lines = [
        f"{len(rounds)} rounds, ratios to the ceiling of the same round "
        "(median [bootstrap 95% interval of the median], rounds below 1.0):",
        "",
        "| server | " + " | ".join(METRICS[scenario]) + " |",
        "|---|" + "---:|" * len(METRICS[scenario]),
    ]
    for name in names:
        cells = []
        for metric in METRICS[scenario]:
            ratios = [
                r[name][metric] / r["ceiling"][metric]
                for r in rounds
                if r[name].get(metric) and r["ceiling"].get(metric)
            ]
            if not ratios:
                cells.append("n/a")
                continue
            low, high = interval(ratios)
            below = sum(1 for x in ratios if x < 1.0)
            cells.append(
                f"{statistics.median(ratios):.3f} [{low:.3f}-{high:.3f}] "
                f"{below}/{len(ratios)}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    absolute = ["", "Medians, absolute (busy: CPU time over the window's wall time):", ""]
    for name in ["ceiling", *names]:
        values = {
            m: statistics.median([r[name][m] for r in rounds if r[name].get(m)] or [0])
            for m in (*METRICS[scenario], "server_busy", "client_busy")
        }
        absolute.append(f"- {name}: " + ", ".join(f"{m} {v:.2f}" for m, v in values.items()))
    return "\n".join(lines + absolute)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=["latency", "fanout"], default="latency")
    parser.add_argument("--deflate", action="store_true", help="negotiate permessage-deflate")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--servers", default="ceiling,ceiling_twin,generated_asgi")
    parser.add_argument("--messages", type=int,
                        help="fan-out messages per run (default 300; more runs longer, "
                             "and the CPU figure gets finer than the clock tick)")
    parser.add_argument("--rate", type=int,
                        help="paced messages per second (default 100); under deflate "
                             "the one-core client falls behind at 100")
    parser.add_argument("--out", type=Path, default=run.RESULTS)
    args = parser.parse_args()
    names = args.servers.split(",")
    known = {"ceiling", "ceiling_twin", "ceiling_frame", "generated", "generated_asgi"}
    if "ceiling" not in names or not set(names) <= known:
        parser.error(f"--servers: the ceiling and any of {', '.join(sorted(known))}")
    run.raise_nofile()
    run.ensure_client()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    logdir = args.out / f"ab-logs-{stamp}"
    logdir.mkdir()
    pin = len(os.sched_getaffinity(0)) >= 2  # server on CPU 0, client on 1
    params = dict(getattr(run.FULL, args.scenario))
    if args.messages and args.scenario == "fanout":
        params["messages"] = args.messages
    if args.rate and args.scenario == "latency":
        params["rate"] = args.rate
    rounds: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="wsgen-ab-") as tmp:
        specs = {
            "ceiling": run.ServerSpec("ceiling", run.SERVERS, "ceiling_app:app", "/ws"),
            "ceiling_twin": run.ServerSpec("ceiling_twin", run.SERVERS, "ceiling_app:app", "/ws"),
            "ceiling_frame": run.ServerSpec(
                "ceiling_frame", run.SERVERS, "ceiling_app:app", "/ws",
                env={"CEILING_FRAME": "generated"}),
        }
        if any(n.startswith("generated") for n in names):
            project = run.generate(Path(tmp), auth=False)
            specs["generated_asgi"] = run.ServerSpec(
                "generated_asgi", project, "app.main:app", "/ws/chat", user_query=False)
            specs["generated"] = run.ServerSpec(
                "generated", project, "app.main:app", "/ws/chat", user_query=False,
                ws=run.GENERATED_WS)
        for n in range(args.rounds):
            shift = n % len(names)
            order = names[shift:] + names[:shift]
            results: dict[str, dict[str, Any]] = {}
            for name in order:
                result = run.one_run(specs[name], args.scenario, args.deflate, params,
                                     logdir, pin, None)
                run.log(f"round {n + 1}/{args.rounds} {name}",
                        {m: result.get(m) for m in METRICS[args.scenario]})
                results[name] = result
            if any("error" in r for r in results.values()):
                run.log("round dropped: a run failed")
                continue
            rounds.append({name: results[name] for name in names})
    if not rounds:
        sys.exit("no round completed")
    text = report(rounds, args.scenario)
    title = f"{args.scenario}, {'deflate' if args.deflate else 'plain'}, {params}"
    (args.out / f"ab-{stamp}.json").write_text(json.dumps(
        {"scenario": args.scenario, "deflate": args.deflate, "params": params,
         "rounds": rounds}, indent=1))
    print(f"### {title}\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
