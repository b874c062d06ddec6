"""The feature table: what each choice writes, and nothing for what is off."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from wsgen.build import features
from wsgen.build.render import runtime_source_dir


def modules(**options: Any) -> list[str]:
    return features.runtime_modules(features.features_of(options))


def requirements(**options: Any) -> dict[str, str]:
    return features.requirements(features.features_of(options))


def test_an_endpoint_without_flags_gets_no_auth_and_no_redis() -> None:
    assert not {
        "auth",
        "keys",
        "redis_backend",
        "redis_presence",
        "redis_session",
    } & set(modules())
    assert "uvicorn_protocol" not in modules()
    assert set(requirements()) == {"fastapi", "structlog"}


def test_without_redis_there_is_no_backend_module() -> None:
    # The manager fans out within its process: no backend object at all.
    assert "backend" not in modules(rooms=True, broadcast=True, auth=True)
    assert {"backend", "redis_backend"} <= set(modules(backend="redis"))


def test_rooms_bring_their_module_and_tests_only_when_asked_for() -> None:
    assert "rooms" in modules(rooms=True)
    assert "rooms" not in modules(broadcast=True, auth=True)
    on = features.project_file_names(features.features_of({"rooms": True}))
    assert "test_ws_rooms.py" in on
    off = features.project_file_names(features.features_of({"broadcast": True}))
    assert "test_ws_rooms.py" not in off


def test_auth_adds_its_modules_and_pyjwt() -> None:
    assert {"auth", "keys"} <= set(modules(auth=True))
    assert requirements(auth=True)["pyjwt"] == "pyjwt>=2.8"


def test_redis_adds_its_modules_and_package() -> None:
    assert {"redis_backend", "redis_presence", "redis_session"} <= set(
        modules(backend="redis")
    )
    assert "redis" in requirements(backend="redis")
    assert "redis" not in requirements(backend="memory")


def test_the_uvicorn_protocol_only_when_asked_for() -> None:
    assert "uvicorn_protocol" in modules(accelerator="uvicorn")
    assert "uvicorn_protocol" not in modules(accelerator="none", auth=True)


def test_clients_by_option() -> None:
    def templates(client: str) -> list[str]:
        on = features.features_of({"client": client})
        return [t for f in on for t in f.templates if t.startswith("client/")]

    assert templates("none") == []
    assert templates("js") == ["client/{{name}}_client.js.jinja"]
    assert len(templates("ts")) == 2


def test_the_runtime_holds_what_any_endpoint_needs() -> None:
    both = features.union([{"auth": True}, {"backend": "redis"}])
    assert {"auth", "redis_backend"} <= set(features.runtime_modules(both))
    assert set(features.requirements(both)) == {
        "fastapi",
        "pyjwt",
        "redis",
        "structlog",
    }


def test_every_listed_module_exists() -> None:
    for feature in features.ALL:
        for module in feature.runtime_modules:
            assert (runtime_source_dir() / f"{module}.py").is_file(), module


def _relative_imports(module: str) -> set[str]:
    tree = ast.parse((runtime_source_dir() / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("feature", features.ALL, ids=lambda f: f.name)
def test_a_feature_imports_only_what_it_brings_along(
    feature: features.Feature,
) -> None:
    # Otherwise a project without, say, Redis would import a module it lacks.
    allowed = set(features.CORE.runtime_modules) | set(feature.runtime_modules)
    for module in feature.runtime_modules:
        assert _relative_imports(module) <= allowed, module


def test_the_core_runtime_imports_no_optional_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        + "".join(f"import wsgen.runtime.{m}\n" for m in features.CORE.runtime_modules)
        + "print(' '.join(m for m in ('jwt', 'redis', 'uvicorn') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_files_written_once_per_project_follow_the_features() -> None:
    def names(*option_sets: dict[str, Any]) -> set[str]:
        return features.project_file_names(features.union(option_sets))

    assert names({}) == {"test_ws_runtime.py"}
    assert names({"auth": True}) == {"test_ws_runtime.py", "test_ws_auth.py"}
    assert "test_ws_redis.py" in names({"backend": "redis"})
    js = names({"client": "js"})
    assert {"ws_client.js", "ws_outbox.js", "ws_policy.js"} <= js
    assert "ws_client.d.ts" not in js
    assert "ws_client.d.ts" in names({"client": "ts"})
    # A copier template brings the endpoint's files: no built-in client core.
    assert names({"client": "js", "template": "gh:team/ws"}) == {"test_ws_runtime.py"}
    # Kept while any endpoint needs them.
    assert "test_ws_auth.py" in names({"auth": True}, {"auth": False})
    assert "test_ws_rooms.py" in names({"rooms": True}, {})
    assert "test_ws_rooms.py" not in names({}, {"broadcast": True})


def test_the_asyncapi_document_only_when_asked_for() -> None:
    def templates(**options: Any) -> list[str]:
        return [t for f in features.features_of(options) for t in f.templates]

    assert not any("asyncapi" in t for t in templates(auth=True, rooms=True))
    assert "endpoint/{{name}}.asyncapi.json.jinja" in templates(asyncapi=True)
    assert "asyncapi" not in modules(asyncapi=True)
