"""Layouts met in public FastAPI projects, rebuilt as small fixtures
(tests/fixtures/real/): generate, run the host's and the generated tests,
re-run, destroy, and compare every byte."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IGNORED, REPO, run_wsgen, snapshot
from tests.e2e.test_examples import assert_additions_only, passed_count, run_pytest

pytestmark = pytest.mark.e2e

FIXTURES = REPO / "tests" / "fixtures" / "real"
FLAGS = ("--auth", "--rooms")


def copy_fixture(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(FIXTURES / name, target, ignore=IGNORED)
    return target


def layout_of(project: Path, *args: str) -> dict[str, object]:
    result = run_wsgen("chat", *FLAGS, "--dry-run", "--json", *args, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    layout: dict[str, object] = json.loads(result.stdout)["layout"]
    return layout


def generate_run_rerun_destroy(project: Path, *args: str, tests_in: Path) -> None:
    """The whole life of one endpoint in a host: every step must hold."""
    before = snapshot(project)
    host_tests = run_pytest(tests_in)
    assert host_tests.returncode == 0, host_tests.stdout[-3000:]

    first = run_wsgen("chat", *FLAGS, "--yes", *args, cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr
    after = snapshot(project)
    assert_additions_only(before, after)

    tests = run_pytest(tests_in)
    assert tests.returncode == 0, tests.stdout[-4000:]
    assert passed_count(tests.stdout) > passed_count(host_tests.stdout)

    second = run_wsgen("chat", *FLAGS, "--yes", *args, cwd=project)
    assert second.returncode == 0, second.stdout + second.stderr
    assert snapshot(project) == after, "a second run changed files"

    gone = run_wsgen("destroy", "chat", *args, cwd=project)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert snapshot(project) == before, "destroy left a difference"


def python_in(cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` the way the host's server would, from `cwd`."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(  # noqa: PLW1510 - callers assert on returncode
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


ROUTE_IS_SERVED = """
from fastapi.testclient import TestClient
from {module} import app
path = app.url_path_for("chat_ws")
assert path.endswith("/ws/chat"), path
with TestClient(app) as client:
    with client.websocket_connect(path):
        pass
"""


# --- 1. the project that owns the app -----------------------------------------


def test_workspace_root_is_refused_and_the_member_generates(tmp_path: Path) -> None:
    project = copy_fixture("workspace", tmp_path)
    before = snapshot(project)
    result = run_wsgen("chat", *FLAGS, "--yes", "--no-verify", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--project backend" in result.stderr
    assert snapshot(project) == before, "a refused run wrote files"

    layout = layout_of(project, "--project", "backend")
    assert layout["app"] == "app.main:app"
    assert layout["routes_dir"] == "app/api/routes"
    generate_run_rerun_destroy(
        project, "--project", "backend", tests_in=project / "backend"
    )

    # run as the project's container runs it: from backend/
    result = run_wsgen("chat", "--yes", "--project", "backend", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    served = python_in(project / "backend", ROUTE_IS_SERVED.format(module="app.main"))
    assert served.returncode == 0, served.stderr[-3000:]


def test_client_stays_out_of_the_bundler_sources(tmp_path: Path) -> None:
    project = copy_fixture("bundled_frontend", tmp_path)
    assert layout_of(project)["client_dir"] == "frontend/public"
    generate_run_rerun_destroy(project, tests_in=project)


# --- 2. versions ------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["poetry_pydantic_v1", "uv_lock_pydantic_v1"])
def test_pydantic_v1_is_refused_before_anything_is_written(
    fixture: str, tmp_path: Path
) -> None:
    project = copy_fixture(fixture, tmp_path)
    before = snapshot(project)
    result = run_wsgen("chat", *FLAGS, "--yes", "--no-verify", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pydantic v1" in result.stderr
    assert snapshot(project) == before


# --- 3. apps built by factories with parameters ---------------------------------


def test_factory_with_parameters_uses_the_instance(tmp_path: Path) -> None:
    project = copy_fixture("factory_with_params", tmp_path)
    layout = layout_of(project)
    assert layout["app"] == "src.app.main:app"
    assert layout["runtime_dir"] == "src/app/websocket"
    assert layout["register_file"] == "src/app/api/__init__.py"
    assert layout["jwt_settings"] == "src.app.core.config:settings"
    assert layout_of(project, "--app", "src.app.main:app")["app"] == layout["app"]

    generate_run_rerun_destroy(project, tests_in=project)


def test_factory_app_runs_from_inside_src(tmp_path: Path) -> None:
    project = copy_fixture("factory_with_params", tmp_path)
    result = run_wsgen("chat", *FLAGS, "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    # the container's layout: working directory src/, `uvicorn app.main:app`
    served = python_in(
        project / "src",
        "from app.main import app\n"
        "from app.websocket.auth import load_jwt_config\n"
        "print(app.url_path_for('chat_ws'))\n"
        "print(load_jwt_config().secret)\n",
    )
    assert served.returncode == 0, served.stderr[-3000:]
    assert "/api/ws/chat" in served.stdout
    assert "a-development-secret" in served.stdout, "the mixin's SECRET_KEY is used"


# --- 4. FastAPI older than 0.112.2 (router lifespans do not run) ---------------


def plan_of(project: Path, *args: str) -> dict[str, Any]:
    result = run_wsgen("chat", *FLAGS, "--dry-run", "--json", *args, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    plan: dict[str, Any] = json.loads(result.stdout)
    return plan


def test_old_fastapi_starts_the_endpoint_with_router_events(tmp_path: Path) -> None:
    project = copy_fixture("old_fastapi", tmp_path)
    notes = " ".join(plan_of(project)["notes"])
    assert "FastAPI 0.110.0 does not run a router's lifespan" in notes
    generate_run_rerun_destroy(project, tests_in=project)

    run_wsgen("chat", *FLAGS, "--yes", "--no-verify", cwd=project)
    endpoint = (project / "app/routers/chat.py").read_text()
    assert "on_startup=[manager.start], on_shutdown=[manager.stop]" in endpoint


def test_old_fastapi_with_a_lifespan_of_its_own_is_refused(tmp_path: Path) -> None:
    project = copy_fixture("old_fastapi", tmp_path)
    main = project / "app/main.py"
    main.write_text(
        main.read_text()
        .replace(
            "from fastapi", "from contextlib import asynccontextmanager\n\nfrom fastapi"
        )
        .replace(
            'app = FastAPI(title="Inventory")',
            "@asynccontextmanager\nasync def lifespan(app):\n    yield\n\n\n"
            'app = FastAPI(title="Inventory", lifespan=lifespan)',
        )
    )
    before = snapshot(project)
    result = run_wsgen("chat", *FLAGS, "--yes", "--json", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads(result.stdout)["code"] == "fastapi_too_old"
    assert "Upgrade FastAPI to 0.112.2 or later" in result.stderr
    assert snapshot(project) == before


def floor_versions() -> dict[str, str]:
    """The oldest versions the README says the generated code supports."""
    readme = (REPO / "README.md").read_text()
    found = re.search(
        r"FastAPI (\d[\d.]*\d), Starlette (\d[\d.]*\d) and httpx (\d[\d.]*\d)",
        readme,
    )
    assert found, "the README states the oldest supported versions"
    return dict(zip(("fastapi", "starlette", "httpx"), found.groups(), strict=True))


VERSIONS = """
import fastapi, httpx, starlette
print(fastapi.__version__, starlette.__version__, httpx.__version__)
"""


@pytest.mark.floor
def test_generated_code_passes_on_the_oldest_supported_versions(
    tmp_path: Path,
) -> None:
    """A venv with the README's oldest FastAPI, Starlette and httpx (from the
    package index pip reaches) runs the generated tests of a host pinned
    to that FastAPI."""
    project = copy_fixture("old_fastapi", tmp_path)
    floor = floor_versions()
    requirements = project / "requirements.txt"
    requirements.write_text(f"fastapi=={floor['fastapi']}\n")
    result = run_wsgen(
        "chat", *FLAGS, "--broadcast", "--yes", "--no-verify", cwd=project
    )
    assert result.returncode == 0, result.stdout + result.stderr

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pins = [f"{name}=={version}" for name, version in floor.items()]
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *pins, "pytest", "pyjwt", "structlog"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("VIRTUAL_ENV", None)
    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-4000:]
    versions = subprocess.run(
        [str(python), "-c", VERSIONS],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert versions.stdout.split() == list(floor.values())


# --- 5. tokens the host issues ----------------------------------------------------

HOST_TOKENS = """
import os
os.environ["SECRET_KEY"] = "a-long-enough-secret-for-hs256-0123456789"
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from app.main import app
from app.core.security import create_access_token, create_refresh_token
with TestClient(app) as client:
    token = create_access_token(7)
    with client.websocket_connect("/ws/chat", subprotocols=["bearer", token]) as ws:
        print("user", ws.receive_json()["user_id"])
    token = create_refresh_token(7)
    with client.websocket_connect("/ws/chat", subprotocols=["bearer", token]) as ws:
        try:
            ws.receive_json()
        except WebSocketDisconnect as closed:
            print("closed", closed.code, closed.reason)
"""


def test_host_tokens_name_the_user_and_refresh_tokens_are_refused(
    tmp_path: Path,
) -> None:
    project = copy_fixture("host_tokens", tmp_path)
    plan = plan_of(project)
    notes, warnings = " ".join(plan["notes"]), " ".join(plan["warnings"])
    assert "the user id is the 'user_id' claim" in notes
    assert "--auth-with app.core.security:verify_token" in notes
    assert (
        "SECRET_KEY in app/core/config.py (SECRET_KEY default) is 10 bytes" in warnings
    )
    generate_run_rerun_destroy(project, tests_in=project)

    result = run_wsgen("chat", *FLAGS, "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    served = python_in(project, HOST_TOKENS)
    assert served.returncode == 0, served.stderr[-3000:]
    assert "user 7" in served.stdout
    assert "closed 4001 not an access token" in served.stdout


def test_auth_with_the_hosts_own_token_check(tmp_path: Path) -> None:
    project = copy_fixture("host_tokens", tmp_path)
    check = ("--auth-with", "app.core.security:verify_token")
    notes = " ".join(plan_of(project, *check)["notes"])
    assert "tokens are checked by your app.core.security:verify_token" in notes
    before = snapshot(project)
    first = run_wsgen("chat", *FLAGS, *check, "--yes", cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr
    after = snapshot(project)
    assert_additions_only(before, after)
    assert (
        'auth_with = "app.core.security:verify_token"'
        in (project / ".wsgen.toml").read_text()
    )
    served = python_in(project, HOST_TOKENS)
    assert served.returncode == 0, served.stderr[-3000:]
    assert "user 7" in served.stdout
    assert "closed 4001 not an access token" in served.stdout
    # the host's function is imported where ruff's isort puts it
    endpoint = project / "app/api/routes/chat.py"
    assert "import verify_token as check_host_token" in endpoint.read_text()
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "I,F",
         str(endpoint)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout

    # a re-run without the flag keeps the recorded choice
    second = run_wsgen("chat", "--yes", cwd=project)
    assert second.returncode == 0, second.stdout + second.stderr
    assert snapshot(project) == after, "a second run changed files"
    gone = run_wsgen("destroy", "chat", cwd=project)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert snapshot(project) == before, "destroy left a difference"


# A token from the host's /token, signed with the secret its cached settings
# getter reads from .env; then the same token with its signature broken.
GETTER_TOKENS = """
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from svc.main import app
with TestClient(app) as client:
    form = {"username": "alice", "password": "wonderland"}
    token = client.post("/token", data=form).json()["access_token"]
    for offered in (token, token[:-6] + "AAAAAA"):
        try:
            with client.websocket_connect("/ws/chat", subprotocols=["bearer", offered]) as ws:
                print("user", ws.receive_json()["user_id"])
        except WebSocketDisconnect as closed:
            print("closed", closed.code, closed.reason)
"""


def test_a_cached_settings_getter_with_prefixed_fields_holds_the_secret(
    tmp_path: Path,
) -> None:
    project = copy_fixture("settings_getter", tmp_path)
    notes = " ".join(plan_of(project)["notes"])
    assert (
        "come from your settings: svc.core.config:get_settings().api_secret_key"
        " / .api_algorithm" in notes
    )  # not the stripe_secret_key beside it
    generate_run_rerun_destroy(project, tests_in=project)

    result = run_wsgen("chat", *FLAGS, "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    served = python_in(project, GETTER_TOKENS)  # no WS_JWT_SECRET: the host's
    assert served.returncode == 0, served.stderr[-3000:]
    assert "user alice" in served.stdout
    assert "closed 4001 invalid token" in served.stdout


def test_a_rerun_keeps_the_tests_where_the_first_run_put_them(tmp_path: Path) -> None:
    project = copy_fixture("settings_getter", tmp_path)
    first = run_wsgen("chat", *FLAGS, "--yes", "--no-verify", cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (project / "svc/tests/test_chat_ws.py").is_file()
    # the host moves its tests (pytest's testpaths) after the first run
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"svc/tests"', '"checks"'))
    (project / "checks").mkdir()
    (project / "checks/test_more.py").write_text("def test_more() -> None:\n    pass\n")
    before = snapshot(project)
    again = run_wsgen("chat", "--yes", "--no-verify", cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to change" in again.stdout
    assert snapshot(project) == before, "a re-run moved the generated tests"


# --- 7. discovery -----------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["if_else_app", "try_except_app"])
def test_app_assigned_in_every_branch_is_one_app(fixture: str, tmp_path: Path) -> None:
    project = copy_fixture(fixture, tmp_path)
    generate_run_rerun_destroy(project, tests_in=project)


def test_if_else_include_goes_after_the_branches(tmp_path: Path) -> None:
    project = copy_fixture("if_else_app", tmp_path)
    result = run_wsgen("chat", "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (project / "service/main.py").read_text().splitlines()
    include = lines.index("app.include_router(chat_ws_router)")
    assert lines[include].startswith("app."), "at module level, not in a branch"
    assert include > lines.index("else:")
    for debug in ("0", "1"):
        served = python_in(
            project,
            f"import os; os.environ['SERVICE_DEBUG'] = {debug!r}\n"
            + ROUTE_IS_SERVED.format(module="service.main"),
        )
        assert served.returncode == 0, served.stderr[-3000:]


def test_feature_packages_get_a_routes_folder_of_their_own(tmp_path: Path) -> None:
    project = copy_fixture("feature_packages", tmp_path)
    layout = layout_of(project)
    assert layout["register_file"] == "tracker/api.py"
    assert layout["routes_dir"] == "tracker/routes"
    generate_run_rerun_destroy(project, tests_in=project)


# --- 6. edits as the host writes ------------------------------------------------


def test_import_goes_where_the_hosts_ruff_puts_it(tmp_path: Path) -> None:
    """Module code that must run before FastAPI is imported stays first; the
    new import joins the host's own first-party section, as ruff sorts it."""
    project = copy_fixture("late_imports", tmp_path)
    ruff = [sys.executable, "-m", "ruff", "check", "--no-cache", "main.py"]
    assert subprocess.run(ruff, cwd=project, check=False).returncode == 0
    generate_run_rerun_destroy(project, tests_in=project)
    result = run_wsgen("chat", *FLAGS, "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (project / "main.py").read_text()
    assert text.index("bootstrap.configure()") < text.index("chat_ws_router")
    linted = subprocess.run(
        ruff, cwd=project, capture_output=True, text=True, check=False
    )
    assert linted.returncode == 0, linted.stdout


# --- 10. serving: a server without a WebSocket library ---------------------------


def test_plain_uvicorn_gets_a_websocket_library(tmp_path: Path) -> None:
    project = copy_fixture("plain_uvicorn", tmp_path)
    plan = plan_of(project)
    assert "websockets>=10.4" in plan["dependencies"]["added"]
    assert any("no WebSocket library" in note for note in plan["notes"])
    generate_run_rerun_destroy(project, tests_in=project)

    run_wsgen("chat", *FLAGS, "--yes", "--no-verify", cwd=project)
    declared = (project / "pyproject.toml").read_text()
    assert '    "websockets>=10.4",\n]' in declared


# --- 8. speed: read only what the app loads -------------------------------------

MODULE = '''"""Tool {n}: run by hand."""

from fastapi import APIRouter

router = APIRouter()


@router.get("/tools/{n}")
def tool_{n}() -> dict[str, int]:
    return {{"tool": {n}}}
'''


def large_repo(tmp_path: Path, modules: int = 2000) -> Path:
    project = copy_fixture("large_repo", tmp_path)
    tools = project / "app" / "tools"
    tools.mkdir()
    (tools / "__init__.py").write_text("")
    for n in range(modules):
        (tools / f"tool_{n}.py").write_text(MODULE.format(n=n))
    return project


def test_discovery_reads_only_what_the_app_loads(tmp_path: Path) -> None:
    from wsgen.host.discover import discover
    from wsgen.host.projectconfig import load_config
    from wsgen.host.sources import scan_project

    project = large_repo(tmp_path)
    files = scan_project(project)
    layout = discover(project, files, load_config(project))
    assert layout.app.module == "app.main"
    parsed = set(files._trees)
    assert len(files.texts) > 2000
    assert parsed <= {"app/main.py", "app/routers/status.py"}, sorted(parsed)[:10]
    # a route in a module the app never imports is not the app's route
    assert "/ws/chat" not in layout.route_paths
    assert "/status" in layout.route_paths


def test_large_repo_generates_beside_unloaded_modules(tmp_path: Path) -> None:
    project = large_repo(tmp_path, modules=200)
    generate_run_rerun_destroy(project, tests_in=project)
