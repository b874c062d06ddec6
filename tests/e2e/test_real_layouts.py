"""Layouts met in public FastAPI projects, rebuilt as small fixtures
(tests/fixtures/real/): generate, run the host's and the generated tests,
re-run, destroy, and compare every byte."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    from wsgen.discover import discover
    from wsgen.projectconfig import load_config
    from wsgen.scan import scan_project

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
