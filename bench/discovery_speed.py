"""Discovery time on a real project: reading it, finding the app, the
registration site, the settings and the routes the app already serves.

Usage: python bench/discovery_speed.py PROJECT [--app MODULE:ATTR] [--runs N]

Each run reads the project afresh (the OS file cache stays warm, as on a
second run by a user). Also times `wsgen chat --dry-run --json` end to end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def count_files(root: Path) -> int:
    return sum(
        len(names) for here, dirs, names in os.walk(root) if ".git" not in Path(here).parts
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("--app", default=None)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    root = args.project.resolve()

    from wsgen.host.discover import discover
    from wsgen.host.projectconfig import load_config
    from wsgen.host.sources import scan_project

    times, cpu = [], []
    for _ in range(args.runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        files = scan_project(root)
        layout = discover(root, files, load_config(root), app_ref=args.app)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    print(f"project: {root.name}, {count_files(root)} files")
    print(f"python files read: {len(files.texts)}, parsed: {len(files._trees)}")
    print(f"app: {layout.app.module}:{layout.app.export}")
    print(
        f"discovery: median {statistics.median(times):.3f} s wall "
        f"({statistics.median(cpu):.3f} s CPU), min {min(times):.3f} s"
    )

    command = [sys.executable, "-m", "wsgen", "chat", "--auth", "--rooms", "--dry-run", "--json"]
    if args.app:
        command += ["--app", args.app]
    walls = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=root, capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
    print(f"wsgen chat --dry-run --json: median {statistics.median(walls):.3f} s")


if __name__ == "__main__":
    main()
