"""The generated tests hold in a host that would trip them up: its app is
named ``api`` (a name generated fixtures once took), and its lifespan ends
the process, as some hosts' start-up code does when it cannot reach a
service. The runtime's tests run on an app of their own and the one test
through the host's app does not run its lifespan, so every test runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import copy_example, run_wsgen
from tests.e2e.test_examples import run_pytest

pytestmark = pytest.mark.e2e

HOST = """\
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.routers import items, users


@asynccontextmanager
async def lifespan(_app: FastAPI):
    os._exit(0)  # a start-up that gives up on the whole process
    yield


api = FastAPI(lifespan=lifespan)

api.include_router(items.router)
api.include_router(users.router, prefix="/users")
"""


def test_generated_tests_pass_in_a_hostile_host(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    (project / "app/main.py").write_text(HOST)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("app.main:app", "app.main:api"))
    # The example's own tests use `app`; they are not what is tested here.
    for own in (project / "tests").glob("test_*.py"):
        own.unlink()
    result = run_wsgen(
        "chat", "--auth", "--rooms", "--broadcast", "--yes", "--no-verify", cwd=project
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (project / "tests/test_chat_ws.py").read_text()
    assert "from app.main import api as _host_app" in text
    ran = run_pytest(project)
    assert ran.returncode == 0, ran.stdout[-4000:]
    passed = re.search(r"(\d+) passed", ran.stdout)
    assert passed is not None, ran.stdout[-2000:]
    # Every generated test ran: a lifespan that ends the process exits 0 too.
    modules = [
        "test_chat_ws.py",
        "test_ws_runtime.py",
        "test_ws_auth.py",
        "test_ws_rooms.py",
    ]
    defined = sum(
        len(
            re.findall(r"^def test_", (project / "tests" / m).read_text(), re.MULTILINE)
        )
        for m in modules
    )
    assert int(passed.group(1)) >= defined, ran.stdout[-2000:]
