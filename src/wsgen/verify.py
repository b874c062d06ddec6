"""After applying: import the host app in a fresh interpreter and look for the route."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from wsgen.discover import Layout

_PROBE = """
import importlib, json, sys
sys.path.insert(0, {import_root!r})
module = importlib.import_module({module!r})
app = getattr(module, {attr!r})
if {factory!r}:
    app = app()
paths = []
def walk(routes, prefix):
    for route in routes:
        if "WebSocket" in type(route).__name__ and hasattr(route, "path"):
            paths.append(prefix + route.path)
        inner = getattr(route, "original_router", None)  # FastAPI's lazy includes
        if inner is not None:
            context = getattr(route, "include_context", None)
            walk(inner.routes, prefix + getattr(context, "prefix", ""))
walk(getattr(app, "routes", []), "")
print(json.dumps(paths))
"""


def host_python(root: Path) -> str:
    for candidate in (
        ".venv/bin/python",
        "venv/bin/python",
        ".venv/Scripts/python.exe",
    ):
        path = root / candidate
        if path.exists():
            return str(path)
    return sys.executable


def verify_route(layout: Layout, path: str, timeout: float = 60.0) -> dict[str, Any]:
    code = _PROBE.format(
        import_root=str(layout.root / layout.import_root),
        module=layout.app.module,
        attr=layout.app.export,
        factory=layout.app.export_is_factory,
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.run(
            [host_python(layout.root), "-c", code],
            check=False, cwd=layout.root, capture_output=True, text=True, timeout=timeout, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {
            "ok": False,
            "error": f"importing the app took longer than {timeout:.0f} s",
        }
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        return {"ok": False, "error": f"importing {layout.app.module} failed: {last}"}
    try:
        paths = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": "could not read the app's routes"}
    found = [p for p in paths if p == path or p.endswith(path)]
    if not found:
        return {
            "ok": False,
            "error": f"no WebSocket route ending in {path} on the app",
            "routes": paths,
        }
    return {"ok": True, "route": found[0]}
