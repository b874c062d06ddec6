"""`--backend`: the spec, the dependencies it adds, what it renders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import copy_example, run_wsgen
from wsgen.build import features
from wsgen.build.deps import plan_dependencies
from wsgen.build.spec import build_spec
from wsgen.errors import UsageError
from wsgen.host.projectconfig import load_config


def test_memory_is_the_default_backend() -> None:
    spec = build_spec("chat", auth=False, rooms=True, broadcast=False)
    assert spec.backend == "memory"


def test_redis_backend_reaches_the_spec() -> None:
    spec = build_spec("chat", auth=False, rooms=True, broadcast=False, backend="redis")
    assert spec.backend == "redis"


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(UsageError, match="--backend 'kafka'"):
        build_spec("chat", auth=False, rooms=True, broadcast=False, backend="kafka")


def requirements_for(backend: str) -> dict[str, str]:
    return features.requirements(features.features_of({"backend": backend}))


def test_only_redis_adds_the_redis_package() -> None:
    assert "redis" not in requirements_for("memory")
    assert requirements_for("redis")["redis"] == "redis>=5"


def test_redis_requirement_joins_the_host_dependencies(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("fastapi>=0.115\n")
    config = load_config(tmp_path)
    assert (
        "redis>=5" not in plan_dependencies(config, requirements_for("memory")).missing
    )
    edit = plan_dependencies(config, requirements_for("redis"))
    assert "redis>=5" in edit.missing
    assert edit.new_text is not None
    assert "redis>=5\n" in edit.new_text


@pytest.mark.e2e
def test_generated_redis_endpoint(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    pyproject = (project / "pyproject.toml").read_bytes()
    result = run_wsgen(
        "chat", "--rooms", "--backend", "redis", "--yes", "--json", cwd=project
    )
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads(result.stdout)
    assert plan["options"]["backend"] == "redis"
    assert "redis>=5" in plan["dependencies"]["added"]
    route = next(project.rglob("routes/chat.py"), None) or next(
        p for p in project.rglob("chat.py") if "tests" not in p.parts
    )
    assert 'RedisBackend.from_env("chat")' in route.read_text()
    # The runtime is shared: the Redis module is there for every endpoint,
    # and a memory endpoint next to it keeps the memory backend.
    redis_module = next(project.rglob("redis_backend.py"))
    result = run_wsgen("feed", "--broadcast", "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    feed = next(p for p in project.rglob("feed.py") if "tests" not in p.parts)
    assert "manager = ConnectionManager()" in feed.read_text()
    assert redis_module.is_file(), "chat still needs the Redis backend"

    # Destroying the last endpoint on Redis takes its modules and dependency.
    result = run_wsgen("destroy", "chat", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not redis_module.exists()
    assert not list(project.rglob("redis_session.py"))
    assert not list(project.rglob("redis_presence.py"))
    assert "redis" not in (project / "pyproject.toml").read_text()
    assert (redis_module.parent / "manager.py").is_file(), "feed keeps the runtime"
    # redis went in with structlog, in one insertion: what stays of it is
    # still taken out exactly with the last endpoint.
    result = run_wsgen("destroy", "feed", "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "pyproject.toml").read_bytes() == pyproject
