"""Discovery: a pure function of the project's files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from wsgen.errors import RefusedError, UsageError
from wsgen.host.discover import Layout, discover, jwt_fields
from wsgen.host.projectconfig import load_config
from wsgen.host.sources import scan_project


def build(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


def layout_of(
    root: Path, files: dict[str, str] | None = None, **kwargs: object
) -> Layout:
    if files is not None:
        build(root, files)
    return discover(root, scan_project(root), load_config(root), **kwargs)  # type: ignore[arg-type]


APP = "from fastapi import FastAPI\n\napp = FastAPI()\n"
FACTORY = """
    from fastapi import FastAPI


    def create_app() -> FastAPI:
        {var} = FastAPI()
        return {var}
    """


def test_single_file(tmp_path: Path) -> None:
    layout = layout_of(tmp_path, {"main.py": APP})
    assert (layout.app.module, layout.app.export, layout.app.factory) == (
        "main",
        "app",
        None,
    )
    assert layout.target.file == "main.py"
    assert layout.target.kind == "app"
    assert layout.import_root == "."
    assert layout.package == "app" and layout.new_package
    assert layout.runtime_dir == "app/websocket"
    assert layout.runtime_module == "app.websocket"
    assert layout.routes_dir == "app/routes"
    assert layout.tests_dir == "tests"


def test_single_file_beside_a_module_named_app(tmp_path: Path) -> None:
    layout = layout_of(tmp_path, {"main.py": APP, "app.py": "x = 1\n"})
    assert layout.package == "realtime"


def test_app_package(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": """
                from fastapi import FastAPI

                from app.routers import items

                app = FastAPI()
                app.include_router(items.router)
                """,
            "app/routers/__init__.py": "",
            "app/routers/items.py": "from fastapi import APIRouter\nrouter = APIRouter()\n@router.get('/items')\ndef f(): ...\n",
            "tests/test_x.py": "",
        },
    )
    assert layout.app.module == "app.main"
    assert layout.target.file == "app/main.py"
    assert layout.package == "app" and not layout.new_package
    assert layout.routes_module == "app.routers"
    assert layout.routes_dir == "app/routers"
    assert not layout.target.relative_imports
    assert layout.route_paths["/items"].startswith("app/routers/items.py:")


def test_src_layout_factory(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {
            "src/shop/__init__.py": "",
            "src/shop/app.py": """
                from fastapi import FastAPI

                from .api import products


                def create_app() -> FastAPI:
                    application = FastAPI()
                    application.include_router(products.router)
                    application.mount("/", object(), name="site")
                    return application
                """,
            "src/shop/api/__init__.py": "",
            "src/shop/api/products.py": "router = None\n",
        },
    )
    app = layout.app
    assert (
        app.module,
        app.variable,
        app.factory,
        app.export,
        app.export_is_factory,
    ) == (
        "shop.app",
        "application",
        "create_app",
        "create_app",
        True,
    )
    assert layout.import_root == "src"
    assert layout.target.kind == "factory"
    assert layout.target.receiver == "application"
    assert layout.target.scope == "create_app"
    assert layout.target.relative_imports
    assert layout.target.mount_line == 9
    assert layout.routes_module == "shop.api"
    assert layout.routes_dir == "src/shop/api"
    assert layout.runtime_dir == "src/shop/websocket"
    assert layout.runtime_module == "shop.websocket"
    assert (
        layout.module_file("shop.websocket.manager") == "src/shop/websocket/manager.py"
    )


@pytest.mark.parametrize("var", ["application", "app_", "api"])
def test_factory_variable_not_named_app(tmp_path: Path, var: str) -> None:
    layout = layout_of(
        tmp_path, {"app/__init__.py": "", "app/factory.py": FACTORY.format(var=var)}
    )
    assert layout.app.variable == var
    assert layout.target.receiver == var
    assert layout.app.export == "create_app" and layout.app.export_is_factory


def test_module_level_call_of_factory_is_one_app(tmp_path: Path) -> None:
    source = (
        textwrap.dedent(FACTORY.format(var="application")) + "\n\napp = create_app()\n"
    )
    layout = layout_of(tmp_path, {"app/__init__.py": "", "app/main.py": source})
    assert layout.app.export == "app" and not layout.app.export_is_factory
    assert layout.app.factory == "create_app"
    assert (
        layout.target.scope == "create_app" and layout.target.receiver == "application"
    )


def test_api_router_aggregator(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": """
                from fastapi import FastAPI

                from app.api.main import api_router
                from app.core.config import settings

                app = FastAPI()
                app.include_router(api_router, prefix=settings.API_V1_STR)
                """,
            "app/api/__init__.py": "",
            "app/api/main.py": """
                from fastapi import APIRouter

                from app.api.routes import items, login

                api_router = APIRouter(prefix="/v2")
                api_router.include_router(login.router)
                api_router.include_router(items.router)
                """,
            "app/api/routes/__init__.py": "",
            "app/api/routes/items.py": "",
            "app/api/routes/login.py": "",
            "app/core/__init__.py": "",
            "app/core/config.py": "settings = None\n",
        },
    )
    target = layout.target
    assert target.kind == "aggregator"
    assert target.file == "app/api/main.py"
    assert target.module == "app.api.main"
    assert target.receiver == "api_router"
    assert target.scope is None
    assert target.prefix == "{settings.API_V1_STR}/v2"
    assert layout.routes_module == "app.api.routes"
    assert layout.app.file == "app/main.py"


def test_aggregator_literal_prefix(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": "from fastapi import FastAPI\nfrom app.api import api_router\napp = FastAPI()\n"
            "app.include_router(api_router, prefix='/api')\n",
            "app/api/__init__.py": "from fastapi import APIRouter\nfrom app.api import users\n"
            "api_router = APIRouter()\napi_router.include_router(users.router)\n",
            "app/api/users.py": "",
        },
    )
    assert layout.target.file == "app/api/__init__.py"
    assert layout.target.prefix == "/api"


def test_several_apps_are_refused_with_candidates(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": APP,
            "app/admin.py": "import fastapi\n\nadmin = fastapi.FastAPI()\n",
        },
    )
    with pytest.raises(RefusedError) as info:
        layout_of(tmp_path)
    message = info.value.one_line()
    assert "Found 2 FastAPI applications" in message
    assert "app.main:app" in message and "app.admin:admin" in message
    assert "--app" in message
    layout = layout_of(tmp_path, app_ref="app.admin:admin")
    assert layout.app.variable == "admin"


@pytest.mark.parametrize(
    "ref, fragment",
    [
        ("app.main", "is not of the form MODULE:ATTR"),
        ("app/main.py:app", "is not of the form MODULE:ATTR"),
        ("app.main:app:x", "is not of the form MODULE:ATTR"),
        ("app.nope:app", "no module 'app.nope'"),
        ("app.main:nope", "has no FastAPI app or factory named 'nope'"),
        ("app.other:thing", "has no FastAPI app or factory named 'thing'"),
    ],
    ids=[
        "no-colon",
        "file-path",
        "two-colons",
        "missing-module",
        "missing-attr",
        "module-without-app",
    ],
)
def test_bad_app_reference(tmp_path: Path, ref: str, fragment: str) -> None:
    build(
        tmp_path,
        {"app/__init__.py": "", "app/main.py": APP, "app/other.py": "thing = 1\n"},
    )
    with pytest.raises(UsageError) as info:
        layout_of(tmp_path, app_ref=ref)
    assert fragment in info.value.message
    assert info.value.exit_code == 2


def test_app_reference_to_a_factory(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {"app/__init__.py": "", "app/main.py": FACTORY.format(var="application")},
        app_ref="app.main:create_app",
    )
    assert layout.app.export == "create_app" and layout.app.export_is_factory


def test_tool_fastapi_entrypoint(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {
            "pyproject.toml": '[tool.fastapi]\nentrypoint = "app.one:app"\n',
            "app/__init__.py": "",
            "app/one.py": APP,
            "app/two.py": APP,
        },
    )
    assert layout.app.module == "app.one"


def test_bad_tool_fastapi_entrypoint_is_a_usage_error(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "pyproject.toml": '[tool.fastapi]\nentrypoint = "app.gone:app"\n',
            "main.py": APP,
        },
    )
    with pytest.raises(UsageError, match=r"\[tool.fastapi\] entrypoint"):
        layout_of(tmp_path)


@pytest.mark.parametrize(
    "files",
    [
        {"main.py": '"""Build a FastAPI() app here one day."""\n'},
        {"main.py": "# app = FastAPI()\nx = 1\n"},
        {"main.py": "s = 'app = FastAPI()'\n"},
        {"test_app.py": APP},
        {"pkg/conftest.py": APP},
        {"tests/app.py": APP},
        {".venv/lib/app.py": APP},
        {"myenv/pyvenv.cfg": "home = /x\n", "myenv/lib/app.py": APP},
        {"node_modules/pkg/app.py": APP},
        {"docs/example.py": APP},
        {"build/lib/app.py": APP},
        {
            "main.py": "from fastapi import FastAPI\n\n\nclass Holder:\n    app = FastAPI()\n"
        },
    ],
    ids=[
        "docstring",
        "comment",
        "string",
        "test-file",
        "conftest",
        "tests-dir",
        "dot-venv",
        "pyvenv-cfg",
        "node-modules",
        "docs",
        "build",
        "class-attribute",
    ],
)
def test_fastapi_only_mentioned_is_no_app(
    tmp_path: Path, files: dict[str, str]
) -> None:
    build(tmp_path, files)
    with pytest.raises(RefusedError, match="No FastAPI application found"):
        layout_of(tmp_path)


@pytest.mark.parametrize(
    "routes, expected",
    [
        ("routers", "app.routers"),
        ("routes", "app.routes"),
        ("api/routes", "app.api.routes"),
        ("api/endpoints", "app.api.endpoints"),
        ("endpoints", "app.endpoints"),
    ],
)
def test_routes_folder_detection(tmp_path: Path, routes: str, expected: str) -> None:
    layout = layout_of(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": APP,
            f"app/{routes}/__init__.py": "",
            **({"app/api/__init__.py": ""} if routes.startswith("api/") else {}),
        },
    )
    assert layout.routes_module == expected
    assert layout.routes_dir == "app/" + routes


def test_routes_folder_in_use_wins_over_guesses(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": "from fastapi import FastAPI\nfrom app.web.views import router\n"
            "app = FastAPI()\napp.include_router(router)\n",
            "app/web/__init__.py": "",
            "app/web/views.py": "router = None\n",
            "app/routers/__init__.py": "",
        },
    )
    assert layout.routes_module == "app.web"


def test_relative_import_style(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": "from fastapi import FastAPI\n\nfrom . import routers\nfrom .routers import items\n\n"
            "app = FastAPI()\napp.include_router(items.router)\n",
            "app/routers/__init__.py": "",
            "app/routers/items.py": "",
        },
    )
    assert layout.target.relative_imports
    assert layout.routes_module == "app.routers"


def test_jwt_settings_detection(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/main.py": APP,
            "app/core/__init__.py": "",
            "app/core/config.py": """
                from pydantic_settings import BaseSettings


                class Settings(BaseSettings):
                    SECRET_KEY: str = "x"
                    ALGORITHM: str = "HS256"


                settings = Settings()
                """,
            "app/core/security.py": "def create_access_token(sub): ...\ndef verify_token(t): ...\n",
        },
    )
    assert layout.jwt is not None
    assert (
        layout.jwt.module,
        layout.jwt.attr,
        layout.jwt.secret,
        layout.jwt.algorithm,
    ) == (
        "app.core.config",
        "settings",
        "SECRET_KEY",
        "ALGORITHM",
    )
    assert layout.jwt.file == "app/core/config.py"
    assert set(layout.auth_functions) == {
        "app/core/security.py:create_access_token",
        "app/core/security.py:verify_token",
    }


def test_jwt_settings_without_instance_or_algorithm(tmp_path: Path) -> None:
    files = {
        "main.py": APP,
        "config.py": "class Settings:\n    JWT_SECRET = 'x'\n",
    }
    assert layout_of(tmp_path, files).jwt is None
    build(
        tmp_path,
        {"config.py": "class Settings:\n    JWT_SECRET = 'x'\n\nconf = Settings()\n"},
    )
    jwt = layout_of(tmp_path).jwt
    assert jwt is not None and (jwt.attr, jwt.secret, jwt.algorithm) == (
        "conf",
        "JWT_SECRET",
        None,
    )


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"SECRET_KEY", "ALGORITHM"}, ("SECRET_KEY", "ALGORITHM")),
        ({"secret_key", "algorithm"}, ("secret_key", "algorithm")),
        ({"jwt_secret", "jwt_algorithm"}, ("jwt_secret", "jwt_algorithm")),
        ({"api_secret_key", "api_algorithm"}, ("api_secret_key", "api_algorithm")),
        ({"stripe_secret_key", "api_algorithm"}, (None, None)),
        ({"stripe_secret_key"}, (None, None)),
        ({"secret_key", "stripe_secret_key"}, ("secret_key", None)),
    ],
    ids=["upper", "lower", "jwt-prefix", "shared-prefix", "other-prefix", "lone",
         "exact-wins"],
)  # fmt: skip
def test_jwt_fields_in_any_case_and_with_a_shared_prefix(
    fields: set[str], expected: tuple[str | None, str | None]
) -> None:
    assert jwt_fields(fields) == expected


GETTER_SETTINGS = """
    from functools import lru_cache

    from pydantic_settings import BaseSettings


    class Settings(BaseSettings):
        stripe_secret_key: str = ""
        api_secret_key: str
        api_algorithm: str = "HS256"


    @lru_cache
    def get_settings() -> Settings:
        return Settings()
    """


def test_jwt_settings_from_a_cached_getter(tmp_path: Path) -> None:
    files = {"main.py": APP, "config.py": GETTER_SETTINGS}
    jwt = layout_of(tmp_path, files).jwt
    assert jwt is not None
    found = (jwt.module, jwt.attr, jwt.call, jwt.secret, jwt.algorithm)
    assert found == ("config", "get_settings", True, "api_secret_key", "api_algorithm")
    named = layout_of(tmp_path, jwt_settings="config:get_settings").jwt
    assert named == jwt
    # an instance beside the getter is read as before, not called
    also = textwrap.dedent(GETTER_SETTINGS) + "\n\nsettings = get_settings()\n"
    build(tmp_path, {"config.py": also})
    instance = layout_of(tmp_path, jwt_settings="config:settings").jwt
    assert instance is not None and (instance.attr, instance.call) == (
        "settings",
        False,
    )


def test_a_getter_that_needs_arguments_or_awaits_is_not_the_settings(
    tmp_path: Path,
) -> None:
    config = """
        class Settings:
            SECRET_KEY = "x"


        def settings_for(tenant):
            return Settings()


        async def aget_settings():
            return Settings()
        """
    assert layout_of(tmp_path, {"main.py": APP, "config.py": config}).jwt is None


def test_jwt_settings_flag_overrides_discovery(tmp_path: Path) -> None:
    files = {
        "main.py": APP,
        "config.py": "class Settings:\n    SECRET_KEY = 'x'\n\nsettings = Settings()\n",
        "auth_conf.py": (
            "class AuthSettings:\n    JWT_SECRET_KEY = 'x'\n    JWT_ALGORITHM = 'RS256'\n"
            "\n\njwt_conf = AuthSettings()\n"
        ),
    }
    assert layout_of(tmp_path, files).jwt is not None  # one of the two
    jwt = layout_of(tmp_path, jwt_settings="auth_conf:jwt_conf").jwt
    assert jwt is not None and (jwt.module, jwt.attr, jwt.secret, jwt.algorithm) == (
        "auth_conf",
        "jwt_conf",
        "JWT_SECRET_KEY",
        "JWT_ALGORITHM",
    )
    jwt = layout_of(tmp_path, jwt_settings="config:settings").jwt
    assert jwt is not None and (jwt.attr, jwt.secret, jwt.algorithm) == (
        "settings",
        "SECRET_KEY",
        None,
    )
    assert layout_of(tmp_path, jwt_settings="none").jwt is None
    for ref in ("nowhere:settings", "config:missing"):
        with pytest.raises(RefusedError, match="--jwt-settings"):
            layout_of(tmp_path, jwt_settings=ref)


@pytest.mark.parametrize(
    "files, major",
    [
        ({"requirements.txt": "fastapi\npydantic<2\n"}, 1),
        ({"requirements.txt": "fastapi\npydantic==1.10.13\n"}, 1),
        (
            {
                "pyproject.toml": '[project]\nname = "x"\ndependencies = ["pydantic~=1.10"]\n'
            },
            1,
        ),
        ({"pyproject.toml": '[tool.poetry.dependencies]\npydantic = "^1.10"\n'}, 1),
        ({"config.py": "from pydantic import BaseSettings\n"}, 1),
        ({"requirements.txt": "pydantic>=2.5\n"}, 2),
        ({"requirements.txt": "fastapi\n"}, None),
    ],
    ids=[
        "lt2",
        "pin-1",
        "compatible-1",
        "poetry-caret-1",
        "basesettings-import",
        "v2",
        "unknown",
    ],
)
def test_pydantic_major(
    tmp_path: Path, files: dict[str, str], major: int | None
) -> None:
    assert layout_of(tmp_path, {"main.py": APP, **files}).pydantic_major == major


@pytest.mark.parametrize(
    "files, length",
    [
        ({"pyproject.toml": "[tool.ruff]\nline-length = 100\n"}, 100),
        ({"ruff.toml": "line-length = 79\n"}, 79),
        ({".ruff.toml": "line-length = 120\n"}, 120),
        (
            {
                "pyproject.toml": "[tool.ruff]\nline-length = 99\n",
                "ruff.toml": "line-length = 79\n",
            },
            99,
        ),
        ({"ruff.toml": "line-length = \n"}, None),
        ({}, None),
    ],
    ids=[
        "pyproject",
        "ruff-toml",
        "dot-ruff-toml",
        "pyproject-first",
        "broken-ruff-toml",
        "none",
    ],
)
def test_ruff_line_length(
    tmp_path: Path, files: dict[str, str], length: int | None
) -> None:
    assert layout_of(tmp_path, {"main.py": APP, **files}).ruff_line_length == length


def test_invalid_pyproject_is_refused(tmp_path: Path) -> None:
    build(tmp_path, {"main.py": APP, "pyproject.toml": "[project\nname = 1\n"})
    with pytest.raises(RefusedError, match="pyproject.toml is not valid TOML"):
        layout_of(tmp_path)


def test_syntax_error_in_app_file_is_refused(tmp_path: Path) -> None:
    build(tmp_path, {"main.py": "from fastapi import FastAPI\napp = FastAPI(\n"})
    with pytest.raises(RefusedError, match=r"main.py line \d+: syntax error"):
        layout_of(tmp_path)


def test_syntax_error_elsewhere_is_ignored(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {
            "main.py": APP,
            "scripts/broken.py": "def (:\n",
            "notes.py": "x = 'route'\ndef (\n",
        },
    )
    assert layout.app.module == "main"


def test_existing_routes_are_recorded(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {
            "main.py": APP
            + "\n@app.websocket('/ws/chat/')\nasync def ws(w): ...\n\n@app.get('/health')\ndef h(): ...\n"
        },
    )
    assert layout.route_paths["/ws/chat"] == "main.py:5"
    assert "/health" in layout.route_paths


def test_runtime_dir_moves_when_websocket_is_taken(tmp_path: Path) -> None:
    layout = layout_of(
        tmp_path,
        {"app/__init__.py": "", "app/main.py": APP, "app/websocket.py": "x = 1\n"},
    )
    assert layout.runtime_dir == "app/realtime"
    assert layout.notes and "app/websocket is taken" in layout.notes[0]


def test_runtime_dir_owned_by_wsgen_is_kept(tmp_path: Path) -> None:
    build(
        tmp_path,
        {"app/__init__.py": "", "app/main.py": APP, "app/websocket/__init__.py": ""},
    )
    owned = frozenset({"app/websocket/__init__.py"})
    assert layout_of(tmp_path, owned_files=owned).runtime_dir == "app/websocket"
    assert layout_of(tmp_path).runtime_dir == "app/realtime"


def test_discovery_is_pure(tmp_path: Path) -> None:
    build(
        tmp_path,
        {"app/__init__.py": "", "app/main.py": APP + "raise SystemExit('imported!')\n"},
    )
    before = sorted(p.as_posix() for p in tmp_path.rglob("*"))
    first = layout_of(tmp_path)
    assert first == layout_of(tmp_path)
    assert sorted(p.as_posix() for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"tests/test_a.py": ""}, "tests"),
        ({"svc/tests/__init__.py": "", "svc/tests/test_a.py": ""}, "svc/tests"),
        (
            {
                "pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["checks"]\n',
                "checks/test_a.py": "",
                "tests/test_b.py": "",
            },
            "checks",
        ),
        (
            {"pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["gone"]\n'},
            "tests",
        ),
        ({}, "tests"),
    ],
    ids=["top-level", "in-the-package", "testpaths", "testpaths-missing", "none"],
)
def test_generated_tests_go_where_the_hosts_tests_are(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    app = {"svc/__init__.py": "", "svc/main.py": APP}
    assert layout_of(tmp_path, {**app, **files}).tests_dir == expected
