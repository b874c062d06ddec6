"""Generated AsyncAPI documents pass the official AsyncAPI parser.

wsgen generates with ``--asyncapi`` into copies of examples; the document
it writes beside the route module must parse with ``@asyncapi/parser``
(``tests/asyncapi/validate.mjs``, run with node), with no errors, and list
every frame type as a message. ``wsgen check`` keeps it fresh.

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
from wsgen.build.manifest import content_hash

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - wsgen depends on tomli there
    import tomli as tomllib

pytestmark = pytest.mark.e2e

VALIDATOR = REPO / "tests" / "asyncapi"

BASE_CLIENT = {"join_room", "leave_room", "message", "ping", "typing"}
BASE_SERVER = {"connected", "pong", "error"}
ROOM_SERVER = {"room_joined", "room_left", "user_joined", "user_left", "typing"}

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


def document_path(project: Path) -> Path:
    """The document the manifest lists for the endpoint ``chat``."""
    manifest = tomllib.loads((project / ".wsgen.toml").read_text())
    files = manifest["endpoints"]["chat"]["files"]
    (path,) = [p for p in files if p.endswith("chat.asyncapi.json")]
    return project / path


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
    result = run_wsgen("chat", *flags, "--asyncapi", "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    (report,) = parse(node, [document_path(project)])
    client, server = expected_types(flags)
    assert report["errors"] == [], report
    assert report["warnings"] == [], report
    names = {(m["id"].split("_", 1)[0], m["name"]) for m in report["messages"]}
    assert names == {("client", t) for t in client} | {("server", t) for t in server}
    actions = {
        (op["action"], name) for op in report["operations"] for name in op["messages"]
    }
    assert actions == {("receive", t) for t in client} | {("send", t) for t in server}


def test_the_document_is_opt_in_recorded_and_kept_fresh(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    result = run_wsgen("chat", "--rooms", "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(project.rglob("*.asyncapi.json"))
    assert not list(project.rglob("asyncapi.py"))

    result = run_wsgen(
        "upgrade", "chat", "--asyncapi", "--yes", "--no-verify", cwd=project
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = document_path(project)
    fresh = document.read_text()
    assert json.loads(fresh)["channels"]["chat"]["address"] == "/ws/chat"
    # A re-run without the flag keeps it: the manifest recorded it.
    result = run_wsgen("chat", "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert document.read_text() == fresh
    assert run_wsgen("check", cwd=project).returncode == 0

    # As an older wsgen wrote it, unedited: check reports it stale (exit 6).
    older = fresh.replace('"typing"', '"typing_old"')
    document.write_text(older)
    manifest = project / ".wsgen.toml"
    recorded = content_hash(fresh.encode())
    manifest.write_text(
        manifest.read_text().replace(recorded, content_hash(older.encode()))
    )
    check = run_wsgen("check", cwd=project)
    assert check.returncode == 6, check.stdout + check.stderr
    assert "chat.asyncapi.json" in check.stdout

    result = run_wsgen(
        "upgrade", "chat", "--no-asyncapi", "--yes", "--no-verify", cwd=project
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not document.exists()
    assert run_wsgen("check", cwd=project).returncode == 0


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
