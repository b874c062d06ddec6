"""Discovery on layouts met in public projects (see tests/fixtures/real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_discover import APP, layout_of
from wsgen.errors import RefusedError
from wsgen.host.reach import imported_modules, route_paths

POETRY_TABLE = """
[tool.poetry.dependencies]
python = "^3.9"
pydantic = { version = "^1.9", extras = ["email", "dotenv"] }
"""
RANGE_BOTH = '[project]\nname = "x"\ndependencies = ["pydantic>=1.10"]\n'
LOCKED = """
[[package]]
name = "pydantic-core"
version = "2.14.5"

[[package]]
name = "pydantic"
version = "{version}"
source = {{ registry = "https://pypi.org/simple" }}
"""


@pytest.mark.parametrize(
    "files, major",
    [
        ({"pyproject.toml": POETRY_TABLE}, 1),
        (
            {"pyproject.toml": RANGE_BOTH, "uv.lock": LOCKED.format(version="1.10.13")},
            1,
        ),
        (
            {
                "pyproject.toml": RANGE_BOTH,
                "poetry.lock": LOCKED.format(version="1.9.2"),
            },
            1,
        ),
        ({"pyproject.toml": RANGE_BOTH, "uv.lock": LOCKED.format(version="2.9.2")}, 2),
        ({"pyproject.toml": '[tool.poetry.dependencies]\npydantic = "1.10.2"\n'}, 1),
    ],
    ids=["poetry-table", "uv-lock-1", "poetry-lock-1", "uv-lock-2", "poetry-bare-pin"],
)
def test_pydantic_major_from_tables_and_locks(
    tmp_path: Path, files: dict[str, str], major: int
) -> None:
    assert layout_of(tmp_path, {"main.py": APP, **files}).pydantic_major == major


BACKEND_MAIN = """
from fastapi import FastAPI

from app.core.config import settings

app = FastAPI(title=settings.NAME)
"""
CONFIG = "class Settings:\n    NAME = 'x'\n\n\nsettings = Settings()\n"


def test_workspace_member_with_its_own_dependencies_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    files = {
        "pyproject.toml": '[tool.uv.workspace]\nmembers = ["backend"]\n',
        "backend/pyproject.toml": '[project]\nname = "app"\ndependencies = ["fastapi"]\n',
        "backend/app/__init__.py": "",
        "backend/app/main.py": BACKEND_MAIN,
        "backend/app/core/__init__.py": "",
        "backend/app/core/config.py": CONFIG,
    }
    with pytest.raises(RefusedError) as err:
        layout_of(tmp_path, files)
    assert "--project backend" in err.value.one_line()
    assert "backend/pyproject.toml" in err.value.one_line()


def test_folder_the_app_imports_from_is_its_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # no dependency list in service/, but `from app.core...` resolves there only
    files = {
        "requirements.txt": "fastapi\n",
        "service/app/__init__.py": "",
        "service/app/main.py": BACKEND_MAIN,
        "service/app/core/__init__.py": "",
        "service/app/core/config.py": CONFIG,
    }
    with pytest.raises(RefusedError) as err:
        layout_of(tmp_path, files)
    assert "--project service" in err.value.one_line()


def test_src_layout_and_third_party_names_are_not_sub_projects(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": '[project]\nname = "x"\ndependencies = ["fastapi"]\n',
        "src/shop/__init__.py": "",
        "src/shop/redis/__init__.py": "",
        # `redis.asyncio` is the library, not src/shop/redis/asyncio.py
        "src/shop/redis/main.py": "from redis.asyncio import Redis\n" + APP,
        "src/shop/core/setup.py": "def setup() -> None: ...\n",
    }
    layout = layout_of(tmp_path, files)
    assert layout.app.module == "shop.redis.main"


def test_app_of_a_sub_project_is_not_a_second_candidate(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": '[project]\nname = "x"\ndependencies = ["fastapi"]\n',
        "src/khoj/__init__.py": "",
        "src/khoj/main.py": APP,
        "src/telemetry/requirements.txt": "fastapi\nuvicorn\n",
        "src/telemetry/telemetry.py": APP,
    }
    assert layout_of(tmp_path, files).app.module == "khoj.main"


def test_client_goes_to_the_public_folder_not_the_bundler_sources(
    tmp_path: Path,
) -> None:
    files = {
        "main.py": APP,
        "frontend/src/main.ts": "export {};\n",
        "frontend/public/robots.txt": "",
    }
    assert layout_of(tmp_path, files).client_dir == "frontend/public"
    assert layout_of(
        tmp_path / "x", {"main.py": APP, "web/src/a.ts": ""}
    ).client_dir == ("static")


FACTORY_SETUP = """
from fastapi import APIRouter, FastAPI


def create_application(router: APIRouter, settings: object) -> FastAPI:
    application = FastAPI()
    application.include_router(router)
    return application
"""
FACTORY_FILES = {
    "src/__init__.py": "",
    "src/app/__init__.py": "",
    "src/app/core/__init__.py": "",
    "src/app/core/setup.py": FACTORY_SETUP,
    "src/app/core/config.py": """
class AppSettings:
    APP_NAME = "x"


class CryptSettings:
    SECRET_KEY = "s" * 32
    ALGORITHM = "HS256"


class Settings(AppSettings, CryptSettings):
    pass


settings = Settings()
""",
    "src/app/api/__init__.py": """
from fastapi import APIRouter

from .v1 import router as v1_router

router = APIRouter(prefix="/api")
router.include_router(v1_router)
""",
    "src/app/api/v1.py": "from fastapi import APIRouter\n\nrouter = APIRouter()\n",
    "src/app/main.py": """
from .api import router
from .core.config import settings
from .core.setup import create_application

app = create_application(router=router, settings=settings)
""",
}


def test_instance_built_by_a_factory_with_parameters_is_the_app(tmp_path: Path) -> None:
    layout = layout_of(tmp_path, FACTORY_FILES)
    assert (layout.app.module, layout.app.export) == ("src.app.main", "app")
    assert not layout.app.export_is_factory
    assert layout.runtime_dir == "src/app/websocket"
    assert (layout.target.file, layout.target.receiver) == (
        "src/app/api/__init__.py",
        "router",
    )
    assert layout.target.prefix == "/api"
    assert layout.jwt is not None
    assert (layout.jwt.attr, layout.jwt.secret, layout.jwt.algorithm) == (
        "settings", "SECRET_KEY", "ALGORITHM",
    )  # fmt: skip


def test_app_option_accepts_the_instance(tmp_path: Path) -> None:
    layout = layout_of(tmp_path, FACTORY_FILES, app_ref="src.app.main:app")
    assert layout.app.file == "src/app/main.py"


def test_app_in_each_branch_of_an_if_is_one_app(tmp_path: Path) -> None:
    main = (
        "from fastapi import FastAPI\n\nimport os\n\n"
        "if os.environ.get('DEBUG'):\n    app = FastAPI(debug=True)\n"
        "else:\n    app = FastAPI()\n"
    )
    assert layout_of(tmp_path, {"main.py": main}).app.export == "app"


def test_feature_packages_are_not_a_folder_of_routers(tmp_path: Path) -> None:
    files = {
        "tracker/__init__.py": "",
        "tracker/main.py": "from fastapi import FastAPI\nfrom tracker.api import api_router\n"
        "app = FastAPI()\napp.include_router(api_router)\n",
        "tracker/api.py": "from fastapi import APIRouter\n"
        "from tracker.auth.views import router as auth_router\n"
        "from tracker.case.views import router as case_router\n"
        "api_router = APIRouter()\nother = APIRouter()\n"
        "api_router.include_router(auth_router)\nother.include_router(case_router)\n",
        "tracker/auth/__init__.py": "",
        "tracker/auth/views.py": "router = None\n",
        "tracker/case/__init__.py": "",
        "tracker/case/views.py": "router = None\n",
    }
    layout = layout_of(tmp_path, files)
    assert layout.target.file == "tracker/api.py"
    assert layout.routes_dir == "tracker/routes"


def test_routes_of_modules_the_app_never_imports_do_not_count(tmp_path: Path) -> None:
    files = {
        "app/__init__.py": "",
        "app/main.py": "from fastapi import FastAPI\nfrom app.routers import (\n"
        "    status,\n)\napp = FastAPI()\napp.include_router(status.router)\n",
        "app/routers/__init__.py": "",
        "app/routers/status.py": "from fastapi import APIRouter\nrouter = APIRouter()\n"
        "@router.get('/status')\ndef s(): ...\n",
        "app/scripts/__init__.py": "",
        "app/scripts/proto.py": "@router.websocket('/ws/chat')\nasync def p(ws): ...\n",
    }
    layout = layout_of(tmp_path, files)
    assert layout.route_paths == {"/status": "app/routers/status.py:3"}


def test_imported_modules_reads_every_import_form() -> None:
    text = (
        "import os, app.a as a\nfrom . import b\nfrom ..c import (\n    d,  # why\n    e as f,\n)\n"
        "x = 'import nothing'\n    from app.g import h  # inside a function\n"
    )
    found = imported_modules(text, "app.pkg.mod", is_package=False)
    assert {
        "os",
        "app.a",
        "app.pkg",
        "app.pkg.b",
        "app.c",
        "app.c.d",
        "app.c.e",
    } <= found
    assert "app.g.h" in found
    assert "app.c.f" not in found


def test_route_paths_skip_non_paths_and_count_lines() -> None:
    text = 'x = settings.get("name")\n\n@router.get("/a")\n@app.websocket(path="/ws")\n'
    assert route_paths(text) == [("/a", 3), ("/ws", 4)]
