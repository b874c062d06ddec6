"""check reads a registration from the parsed module, not from its text."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsgen.build.manifest import loads
from wsgen.commands.check import _registration_problem, _route_module_problem

REG = {
    "file": "main.py",
    "import": "from app.routers.chat import router as chat_ws_router",
    "include": "app.include_router(chat_ws_router)",
}
HEAD = "from fastapi import FastAPI\n"


@pytest.mark.parametrize(
    ("source", "missing"),
    [
        (f"{HEAD}{REG['import']}\napp = FastAPI()\n{REG['include']}\n", []),
        (
            (
                f"{REG['import']}\n\ndef create():\n    app = FastAPI()\n"
                "    app.include_router(chat_ws_router, prefix='/v1')\n    return app\n"
            ),
            [],
        ),
        (
            (
                "from app.routers.chat import (\n    router as chat_ws_router,\n)\n"
                "app.include_router(router=chat_ws_router)\n"
            ),
            [],
        ),
        (f"{REG['import']}\n# {REG['include']}\n", [REG["include"]]),
        (f"{REG['import']}\nother.include_router(chat_ws_router)\n", [REG["include"]]),
        (f"{REG['import']}\napp.include_router(other)\n", [REG["include"]]),
        (f"# {REG['import']}\n{REG['include']}\n", [REG["import"]]),
        (
            f"from app.routers.chat import router\n{REG['include']}\n",
            [REG["import"]],
        ),
        ("", [REG["import"], REG["include"]]),
    ],
    ids=[
        "module-level",
        "in-a-factory-with-arguments",
        "parenthesized-import-keyword-router",
        "include-commented-out",
        "other-receiver",
        "other-router",
        "import-commented-out",
        "import-without-alias",
        "empty-file",
    ],
)
def test_registration(tmp_path: Path, source: str, missing: list[str]) -> None:
    (tmp_path / "main.py").write_text(source)
    problem = _registration_problem(tmp_path, REG)
    if missing:
        assert problem == "missing: " + "; ".join(missing)
    else:
        assert problem is None


def test_a_registration_file_that_does_not_parse(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(f"{REG['import']}\n{REG['include']}\ndef (:\n")
    assert "main.py does not parse (line 3)" in str(
        _registration_problem(tmp_path, REG)
    )


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ("from fastapi import APIRouter\nrouter = APIRouter()\n", True),
        ("router: APIRouter = APIRouter()\n", True),
        ("from .base import router\n", True),
        ("app_router = APIRouter()\n", False),
        ("def f():\n    router = 1\n", False),
        ("router = (\n", False),
    ],
)
def test_route_module(source: str, ok: bool) -> None:
    assert (_route_module_problem(source.encode()) is None) is ok


def test_old_manifests_name_the_route_module_as_the_users() -> None:
    text = (
        '[endpoints.chat]\npath = "/ws/chat"\n'
        'context = {"routes_dir" = "app/routers"}\n'
        '[endpoints.chat.files]\n"app/routers/chat.py" = "sha256:a"\n'
        '"tests/test_chat_ws.py" = "sha256:b"\n'
    )
    manifest = loads(text)
    assert manifest.user_files() == {"app/routers/chat.py"}
    assert "user_files" not in manifest.endpoints["chat"].options


def test_accepted_hashes_round_trip() -> None:
    from wsgen.build.manifest import dumps

    manifest = loads('[runtime]\ndir = "app/websocket"\n')
    manifest.accepted["app/websocket/manager.py"] = "sha256:c"
    text = dumps(manifest)
    assert '[accepted]\n"app/websocket/manager.py" = "sha256:c"\n' in text
    assert loads(text) == manifest
