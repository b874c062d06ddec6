"""Median wall time of wsgen's commands on a small example project.

Each run of a generating command starts from a fresh copy of the example
(copied outside the timed region). Python's own start-up is measured in the
same run as a floor. Besides wall time, the CPU time (user + system) of the
command and its children is reported: on a machine busy with other work it
varies far less than wall time. Usage: python bench/generator_speed.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "app_package"
FLAGS = ["chat", "--auth", "--rooms", "--broadcast", "--yes"]
TARGETS = {"generate": 0.6, "dry-run": 0.6, "check": 0.4, "help": 0.15}


# As installed by pip, which compiles bytecode: a setting that forbids writing
# it would make every run recompile wsgen's own modules.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


CPU: dict[str, list[float]] = {}  # CPU seconds per command name, beside the wall times


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    cmd: list[str], cwd: Path, ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None,
    name: str | None = None,
) -> float:
    cpu = _cpu_seconds()
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL, check=False, env=env or ENV
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    if name is not None:
        CPU.setdefault(name, []).append(_cpu_seconds() - cpu)
    return elapsed


def fresh_copy(base: Path, generated: bool) -> Path:
    target = Path(tempfile.mkdtemp(dir=base))
    project = target / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    if generated:
        timed([sys.executable, "-m", "wsgen", *FLAGS, "--no-verify"], project)
    return project


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    wsgen = str(Path(sys.executable).with_name("wsgen"))
    names = (
        "python", "help", "dry-run", "generate", "check",
        "generate (verified)", "app import",
    )
    results: dict[str, list[float]] = {k: [] for k in names}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        checked = fresh_copy(base, generated=True)  # also warms bytecode and caches
        timed([wsgen, "--help"], base)
        for _ in range(args.runs):  # interleaved, so load spikes hit every command alike
            results["python"].append(timed([sys.executable, "-c", "pass"], base, name="python"))
            results["help"].append(timed([wsgen, "--help"], base, name="help"))
            project = fresh_copy(base, generated=False)
            results["dry-run"].append(
                timed([wsgen, *FLAGS, "--dry-run", "--no-verify"], project, name="dry-run")
            )
            results["generate"].append(timed([wsgen, *FLAGS, "--no-verify"], project, name="generate"))
            # 6 (stale) only if the templates were edited during the run
            results["check"].append(timed([wsgen, "check"], checked, ok=(0, 6), name="check"))
            shutil.rmtree(project.parent)
            # Verification imports the host app in a subprocess: its cost is
            # compared with the app's own import, measured the same way.
            project = fresh_copy(base, generated=False)
            results["generate (verified)"].append(timed([wsgen, *FLAGS], project))
            results["app import"].append(
                timed([sys.executable, "-c", "import app.main"], project)
            )
            shutil.rmtree(project.parent)
    print("| command | median (s) | min (s) | CPU median (s) | target (s) | met |")
    print("|---|---|---|---|---|---|")
    for name, values in results.items():
        median = statistics.median(values)
        target = TARGETS.get(name)
        met = "" if target is None else ("yes" if median <= target else "NO")
        cpu = f"{statistics.median(CPU[name]):.3f}" if name in CPU else ""
        print(f"| {name} | {median:.3f} | {min(values):.3f} | {cpu} | {target or ''} | {met} |")
    added = statistics.median(results["generate (verified)"]) - statistics.median(
        results["generate"]
    )
    own = statistics.median(results["app import"])
    verdict = "yes" if added <= own else "NO"
    print(f"\nverification adds {added:.3f} s; importing the generated app takes {own:.3f} s "
          f"(python -c 'import app.main', start-up included): within it: {verdict}")
    import typer  # the version measured

    load = os.getloadavg()[0]
    print(f"\n{args.runs} runs each, interleaved; example: examples/app_package; "
          f"typer {typer.__version__}; load average {load:.1f} at the end")


if __name__ == "__main__":
    main()
