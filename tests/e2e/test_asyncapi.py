"""Generated AsyncAPI documents pass the official AsyncAPI parser.

wsgen generates into copies of examples; a small script run inside each
generated project writes the endpoint's document (from ``asyncapi()``, and
as the app serves it with ``WS_SERVE_ASYNCAPI``), and ``@asyncapi/parser``
(``tests/asyncapi/validate.mjs``, run with node) must report no errors and
list every frame type as a message.

Needs ``node`` (18 or newer); without it the tests skip, except under CI.
The parser is installed with ``npm ci`` from the committed lockfile when
``tests/asyncapi/node_modules`` is missing; a failing install fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, copy_example, run_wsgen

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - wsgen depends on tomli there
    import tomli as tomllib

pytestmark = pytest.mark.e2e

VALIDATOR = REPO / "tests" / "asyncapi"

BASE_CLIENT = {"join_room", "leave_room", "message", "ping", "typing"}
BASE_SERVER = {"connected", "pong", "error"}
ROOM_SERVER = {"room_joined", "room_left", "user_joined", "user_left", "typing"}

# Writes {"module": asyncapi(), "served": GET <path>/asyncapi.json} as JSON.
DUMP = """\
import importlib, json, os, sys
from fastapi.testclient import TestClient

route_module, app_ref, factory, name, out = sys.argv[1:]
module = importlib.import_module(route_module)
app_module, _, app_attr = app_ref.partition(":")
app = getattr(importlib.import_module(app_module), app_attr)
if factory == "1":
    app = app()
path = app.url_path_for(name + "_ws")
os.environ["WS_SERVE_ASYNCAPI"] = "1"
response = TestClient(app).get(path.rstrip("/") + "/asyncapi.json")
response.raise_for_status()
with open(out, "w", encoding="utf-8") as handle:
    json.dump({"module": module.asyncapi(), "served": response.json()}, handle)
"""

CASES = {
    "app_package-auth-rooms-broadcast-vote": (
        "app_package",
        ["--auth", "--rooms", "--broadcast", "-m", "vote"],
    ),
    "single_file-bare": ("single_file", []),
    "api_aggregator-rooms-cursor_move": (
        "api_aggregator",
        ["--rooms", "-m", "cursor_move"],
    ),
    "src_factory-auth-broadcast": ("src_factory", ["--auth", "--broadcast"]),
}


@pytest.fixture(scope="session")
def node() -> str:
    """node, with the parser installed from the lockfile if it is missing."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is required when CI is set")
        pytest.skip("node is not installed")
    if not (VALIDATOR / "node_modules" / "@asyncapi" / "parser").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "npm is needed to install @asyncapi/parser"
        install = subprocess.run(  # noqa: PLW1510 - asserted below
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=VALIDATOR,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        assert install.returncode == 0, (
            "npm ci failed in tests/asyncapi:\n"
            + install.stdout[-3000:]
            + install.stderr[-3000:]
        )
    return node


def expected_types(flags: list[str]) -> tuple[set[str], set[str]]:
    """Client and server frame types an endpoint with ``flags`` has."""
    custom = {flags[i + 1] for i, flag in enumerate(flags) if flag == "-m"}
    client = BASE_CLIENT | custom
    server = set(BASE_SERVER)
    if "--rooms" in flags or "--broadcast" in flags:
        server.add("message")
    if "--rooms" in flags:
        server |= ROOM_SERVER
    if "--auth" in flags:
        client.add("auth")
        server.add("auth_ok")
    return client, server


def dump_documents(project: Path, tmp_path: Path) -> dict[str, Any]:
    """Run DUMP inside the generated project (its sources on sys.path)."""
    manifest = tomllib.loads((project / ".wsgen.toml").read_text())
    record = manifest["endpoints"]["chat"]
    context = record["context"]
    route_module = context["route_module"]
    # The directory that holds the top-level package of the route module.
    suffix = route_module.replace(".", "/") + ".py"
    (route_file,) = [path for path in record["files"] if path.endswith(suffix)]
    source_root = project / route_file[: -len(suffix)]
    script = tmp_path / "dump_asyncapi.py"
    script.write_text(DUMP)
    out = tmp_path / "documents.json"
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([str(source_root), str(project)]),
    }
    env.pop("WS_SERVE_ASYNCAPI", None)
    run = subprocess.run(  # noqa: PLW1510 - asserted below
        [
            sys.executable,
            str(script),
            route_module,
            record["app"],
            "1" if context["app_factory"] else "0",
            "chat",
            str(out),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    documents: dict[str, Any] = json.loads(out.read_text())
    return documents


def parse(node: str, files: list[Path]) -> list[dict[str, Any]]:
    run = subprocess.run(  # noqa: PLW1510 - asserted below
        [node, str(VALIDATOR / "validate.mjs"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    reports = [json.loads(line) for line in run.stdout.splitlines() if line]
    assert run.returncode == 0, json.dumps(reports, indent=2) + run.stderr
    return reports


@pytest.mark.parametrize("case", list(CASES))
def test_generated_asyncapi_documents_parse(
    case: str, node: str, tmp_path: Path
) -> None:
    example, flags = CASES[case]
    project = copy_example(example, tmp_path)
    result = run_wsgen("chat", *flags, "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    documents = dump_documents(project, tmp_path)
    files = []
    for kind, document in documents.items():
        path = tmp_path / f"{kind}.asyncapi.json"
        path.write_text(json.dumps(document, indent=2))
        files.append(path)
    reports = parse(node, files)
    client, server = expected_types(flags)
    for report in reports:
        assert report["errors"] == [], report
        assert report["warnings"] == [], report
        names = {(m["id"].split("_", 1)[0], m["name"]) for m in report["messages"]}
        assert names == {("client", t) for t in client} | {
            ("server", t) for t in server
        }
        actions = {
            (op["action"], name)
            for op in report["operations"]
            for name in op["messages"]
        }
        assert actions == {("receive", t) for t in client} | {
            ("send", t) for t in server
        }
    module, served = documents["module"], documents["served"]
    served_path = served["channels"]["chat"]["address"]
    assert served_path.endswith(module["channels"]["chat"]["address"])
    assert served["servers"]["default"]["host"] == "testserver"
    assert served["components"] == module["components"]


def test_validator_reports_errors(node: str, tmp_path: Path) -> None:
    """The parser is really checking: a broken document fails."""
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps(
            {
                "asyncapi": "3.0.0",
                "info": {"title": "x", "version": "1"},
                "operations": {
                    "bad": {"action": "publish", "channel": {"$ref": "#/nope"}}
                },
            }
        )
    )
    run = subprocess.run(  # noqa: PLW1510 - asserted below
        [node, str(VALIDATOR / "validate.mjs"), str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 1
    (report,) = [json.loads(line) for line in run.stdout.splitlines() if line]
    assert report["errors"]
