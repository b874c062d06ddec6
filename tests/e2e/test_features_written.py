"""Only what the flags ask for lands in the project, and leaves with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_example, run_wsgen

pytestmark = pytest.mark.e2e

RUNTIME = "app/websocket"


def runtime_modules(project: Path) -> set[str]:
    return {p.stem for p in (project / RUNTIME).glob("*.py")}


def test_a_second_endpoint_adds_only_what_it_needs_and_destroy_takes_it_back(
    tmp_path: Path,
) -> None:
    project = copy_example("app_package", tmp_path)
    pyproject = project / "pyproject.toml"
    result = run_wsgen("ping", "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    bare = runtime_modules(project)
    assert (
        not {
            "auth",
            "keys",
            "host",
            "logs",
            "redis_backend",
            "redis_presence",
            "redis_session",
            "uvicorn_protocol",
            "backend",
            "rooms",
        }
        & bare
    )
    assert "pyjwt" not in pyproject.read_text()
    assert "redis" not in pyproject.read_text()
    assert "RedisBackend" not in (project / "tests/test_ping_ws.py").read_text()

    result = run_wsgen("chat", "--auth", "--rooms", "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    auth = {"auth", "keys", "host", "logs"}
    assert runtime_modules(project) == bare | auth | {"rooms"}
    assert (project / "tests/test_ws_rooms.py").is_file()
    assert '"pyjwt>=2.8"' in pyproject.read_text()

    result = run_wsgen("destroy", "chat", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert runtime_modules(project) == bare
    assert not (project / "tests/test_ws_rooms.py").exists()
    assert "pyjwt" not in pyproject.read_text()
    assert run_wsgen("check", cwd=project).returncode == 0


def test_the_accelerator_only_when_asked_for(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    result = run_wsgen("chat", "--rooms", "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "uvicorn_protocol" not in runtime_modules(project)
    assert "uvicorn_protocol" not in result.stdout
    result = run_wsgen(
        "upgrade", "chat", "--accelerator", "uvicorn", "--no-verify", cwd=project
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "uvicorn_protocol" in runtime_modules(project)
    assert "--ws app.websocket.uvicorn_protocol:WebSocketProtocol" in result.stdout
