"""After applying: import the host app in the host's own Python and look for
the route.

The interpreter is the project's, not wsgen's (wsgen is often installed as a
tool, beside no FastAPI at all). When the host's environment lacks a package
the generated runtime needs, the result names it and the command of the
host's own tool that installs it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsgen.host.discover import Layout

# Distributions whose import name differs from their name.
IMPORT_NAMES = {"pyjwt": "jwt"}
# A verification quicker than this shows nothing while it runs.
SLOW_AFTER = 1.0
FALLBACK = "wsgen's own Python: no virtualenv found"

_PROBE = """
import importlib, importlib.util, json, sys
sys.path.insert(0, {import_root!r})
missing = []
for name in {modules!r}:
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        missing.append(name)
if missing:
    print(json.dumps({{"missing": missing}}))
    sys.exit(3)
try:
    module = importlib.import_module({module!r})
except ModuleNotFoundError as exc:
    if (exc.name or "").split(".")[0] in {modules!r}:
        print(json.dumps({{"missing": [exc.name.split(".")[0]]}}))
        sys.exit(3)
    raise
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
print(json.dumps({{"paths": paths}}))
"""


@dataclass(frozen=True)
class Interpreter:
    python: str
    source: str  # how it was chosen, said in the output


def _venv_python(venv: Path) -> Path | None:
    for rel in ("bin/python", "Scripts/python.exe"):
        if (venv / rel).exists():
            return venv / rel
    return None


def _pyproject(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
        return {}


def project_tool(root: Path) -> str:
    """`uv`, `poetry` or `pip`: what the project installs its packages with."""
    if (root / "uv.lock").is_file():
        return "uv"
    if (root / "poetry.lock").is_file():
        return "poetry"
    tool = _pyproject(root).get("tool", {})
    if isinstance(tool, dict) and "uv" in tool:
        return "uv"
    if isinstance(tool, dict) and "poetry" in tool:
        return "poetry"
    return "pip"


def _poetry_python(root: Path, poetry: str) -> Path | None:
    try:
        proc = subprocess.run(
            [poetry, "env", "info", "--path"],
            cwd=root, capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return None
    return _venv_python(Path(lines[-1]))


def find_interpreter(
    root: Path,
    environ: Mapping[str, str],
    which: Callable[[str], str | None] | None = None,
) -> Interpreter:
    """The Python that runs the host: an activated virtualenv, the project's
    .venv/venv, uv's or Poetry's environment of the project, else wsgen's."""
    active = environ.get("VIRTUAL_ENV")
    if active and (python := _venv_python(Path(active))):
        return Interpreter(str(python), "the activated virtualenv, $VIRTUAL_ENV")
    for name in (".venv", "venv"):
        if python := _venv_python(root / name):
            return Interpreter(str(python), f"the project's {name}")
    tool = project_tool(root)
    uv_env = environ.get("UV_PROJECT_ENVIRONMENT")
    if tool == "uv" and uv_env and (python := _venv_python(root / uv_env)):
        return Interpreter(str(python), "uv's environment, $UV_PROJECT_ENVIRONMENT")
    if tool == "poetry":
        poetry = (which or shutil.which)("poetry")
        # Only asked when installed: `poetry env info` costs a second.
        if poetry and (python := _poetry_python(root, poetry)):
            return Interpreter(str(python), "Poetry's environment of the project")
    return Interpreter(sys.executable, FALLBACK)


def install_command(tool: str, python: str, requirements: list[str]) -> list[str]:
    """The command of the host's tool that installs `requirements` (already
    declared by wsgen; with their bounds, uv and Poetry keep the declaration)."""
    if tool == "uv":
        return ["uv", "add", *requirements]
    if tool == "poetry":
        return ["poetry", "add", *requirements]
    return [python, "-m", "pip", "install", *requirements]


def next_step(result: dict[str, Any], name: str) -> str:
    """What to do after a failed verification: one sentence."""
    undo = f"or undo with `wsgen destroy {name}`"
    if result.get("no_environment"):
        return (
            "Next: activate the project's virtualenv (or create it as .venv in "
            f"the project) and re-run; skip verifying with --no-verify, {undo}."
        )
    if result.get("install"):
        return (
            f"Next: run `{result['install']}` (or re-run with --install), then "
            f"re-run the same command to verify; skip verifying with --no-verify, {undo}."
        )
    if result.get("routes") is not None:
        return (
            "Next: if that is not the app that serves it, re-run with "
            f"--app MODULE:ATTR; skip verifying with --no-verify, {undo}."
        )
    return (
        f"Next: fix the import (with {result['python']}), or re-run with "
        f"--app MODULE:ATTR or --no-verify, {undo}."
    )


def progress(message: str) -> AbstractContextManager[Any]:
    """A spinner on a terminal, else one line: shown once importing is slow."""
    sys.stdout.flush()  # what was printed before comes first
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.text import Text

        return Console(stderr=True).status(Text(message))  # a path is no markup
    print(message, file=sys.stderr, flush=True)
    return nullcontext()


def verify_route(
    layout: Layout,
    path: str,
    requirements: Mapping[str, str] | None = None,
    *,
    name: str = "NAME",
    interpreter: Interpreter | None = None,
    timeout: float = 60.0,
    on_slow: Callable[[str], AbstractContextManager[Any]] | None = progress,
) -> dict[str, Any]:
    """Import the app with the host's Python; `requirements` maps each
    distribution the generated code needs to its requirement."""
    requirements = dict(requirements or {})
    modules = {IMPORT_NAMES.get(dist, dist): dist for dist in requirements}
    chosen = interpreter or find_interpreter(layout.root, os.environ)
    code = _PROBE.format(
        import_root=str(layout.root / layout.import_root),
        modules=sorted(modules),
        module=layout.app.module,
        attr=layout.app.export,
        factory=layout.app.export_is_factory,
    )
    base: dict[str, Any] = {"python": chosen.python, "python_from": chosen.source}
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.Popen(
            [chosen.python, "-c", code], cwd=layout.root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    except OSError as exc:
        result: dict[str, Any] = {
            **base,
            "ok": False,
            "error": f"cannot run {chosen.python}: {exc}",
        }
        return {**result, "next": next_step(result, name)}
    try:
        try:
            stdout, stderr = proc.communicate(timeout=min(SLOW_AFTER, timeout))
        except subprocess.TimeoutExpired:
            notice = f"importing {layout.app.module} with {chosen.python}…"
            with on_slow(notice) if on_slow else nullcontext():
                stdout, stderr = proc.communicate(timeout=max(timeout - SLOW_AFTER, 0))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        result = {
            **base,
            "ok": False,
            "error": f"importing the app took longer than {timeout:.0f} s",
        }
        return {**result, "next": next_step(result, name)}
    result = _interpret(proc.returncode, stdout, stderr, layout, path, base)
    missing = result.pop("missing_modules", None)
    if missing and "fastapi" in missing and chosen.source == FALLBACK:
        # Not the app's environment: installing into wsgen's would not help.
        result["error"] = (
            f"found no environment of the project, and {chosen.python} "
            "(wsgen's own) has no fastapi"
        )
        result["no_environment"] = True
    elif missing:
        specs = [requirements[modules[m]] for m in missing]
        argv = install_command(project_tool(layout.root), chosen.python, specs)
        result.update(missing=specs, install=shlex.join(argv), install_argv=argv)
    if not result["ok"]:
        result["next"] = next_step(result, name)
    return result


def _interpret(
    returncode: int,
    stdout: str,
    stderr: str,
    layout: Layout,
    path: str,
    base: dict[str, Any],
) -> dict[str, Any]:
    try:
        report = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        report = {}
    if not isinstance(report, dict):
        report = {}
    if report.get("missing"):
        names = ", ".join(report["missing"])
        return {
            **base,
            "ok": False,
            "error": f"{base['python']} cannot import {names}, which the "
            "generated code needs",
            "missing_modules": report["missing"],
        }
    if returncode != 0:
        last = (stderr.strip().splitlines() or ["unknown error"])[-1]
        return {
            **base,
            "ok": False,
            "error": f"importing {layout.app.module} failed: {last}",
        }
    paths = report.get("paths")
    if not isinstance(paths, list):
        return {**base, "ok": False, "error": "could not read the app's routes"}
    found = [p for p in paths if p == path or p.endswith(path)]
    if not found:
        return {
            **base,
            "ok": False,
            "error": f"no WebSocket route ending in {path} on the app",
            "routes": paths,
        }
    return {**base, "ok": True, "route": found[0]}


def run_install(argv: list[str], root: Path) -> str | None:
    """Run the install command in the project; None when it succeeded, else
    why not. Its output goes to stderr: stdout may be carrying JSON."""
    try:
        proc = subprocess.run(argv, cwd=root, stdout=sys.stderr, check=False)
    except OSError as exc:
        return f"`{shlex.join(argv)}` could not run: {exc.strerror or exc}"
    if proc.returncode != 0:
        return f"`{shlex.join(argv)}` failed (exit code {proc.returncode})"
    return None
