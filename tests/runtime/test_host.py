"""`host.py`: the one runtime module rendered per project, and what reads it."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from wsgen.build.render import Renderer, runtime_source_dir
from wsgen.runtime import keys

HOST_JWT = {
    "module": "host_config_for_test",
    "attr": "settings",
    "secret": "SECRET_KEY",
    "algorithm": "ALGORITHM",
}


def render_host(tmp_path: Path, jwt: dict[str, Any] | None) -> str:
    context = {"jwt": jwt, "runtime_module": "app.websocket"}
    (rendered,) = Renderer(tmp_path).runtime(context, "app/websocket", ["host"])
    assert rendered.path == "app/websocket/host.py"
    return rendered.content


def test_the_source_here_is_the_rendering_without_host_settings(
    tmp_path: Path,
) -> None:
    # Lint, type checks and the runtime's tests see the same host.py a project
    # without host JWT settings gets.
    source = (runtime_source_dir() / "host.py").read_text(encoding="utf-8")
    assert render_host(tmp_path, None) == source


def test_every_other_module_is_copied_verbatim(tmp_path: Path) -> None:
    (rendered,) = Renderer(tmp_path).runtime({"jwt": None}, "pkg/ws", ["manager"])
    assert rendered.content == (runtime_source_dir() / "manager.py").read_text()


def test_a_project_template_replaces_a_runtime_module(tmp_path: Path) -> None:
    override = tmp_path / ".wsgen/templates/runtime/settings.py.jinja"
    override.parent.mkdir(parents=True)
    override.write_text("# ours, for {{ runtime_module }}\n")
    context = {"jwt": None, "runtime_module": "app.websocket"}
    (rendered,) = Renderer(tmp_path).runtime(context, "app/websocket", ["settings"])
    assert rendered.content == "# ours, for app.websocket\n"


def load_host(tmp_path: Path, jwt: dict[str, Any]) -> types.ModuleType:
    """Import a rendered host.py from a file, as the project would."""
    path = tmp_path / "rendered_host.py"
    path.write_text(render_host(tmp_path, jwt))
    spec = importlib.util.spec_from_file_location("rendered_host", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Secret:
    """Stands for pydantic's SecretStr."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get_secret_value(self) -> str:
        return self.value


@pytest.fixture
def host_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The rendered host.py of a project whose settings hold the JWT values."""
    config = types.ModuleType(HOST_JWT["module"])
    config.settings = types.SimpleNamespace(  # type: ignore[attr-defined]
        SECRET_KEY=Secret("s" * 40), ALGORITHM="HS512"
    )
    monkeypatch.setitem(sys.modules, HOST_JWT["module"], config)
    return load_host(tmp_path, HOST_JWT)


def test_rendered_host_reads_the_projects_settings(
    host_module: types.ModuleType,
) -> None:
    secret, algorithm = host_module.jwt_settings()
    assert secret.get_secret_value() == "s" * 40
    assert algorithm == "HS512"


def test_auth_takes_the_host_values_unless_the_environment_overrides(
    host_module: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("WS_JWT_SECRET", "WS_JWT_ALGORITHMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(keys, "jwt_settings", host_module.jwt_settings)
    config = keys.load_jwt_config()
    assert config.secret == "s" * 40
    assert config.algorithms == ("HS512",)
    monkeypatch.setenv("WS_JWT_SECRET", "e" * 40)
    monkeypatch.setenv("WS_JWT_ALGORITHMS", "HS256")
    config = keys.load_jwt_config()
    assert config.secret == "e" * 40
    assert config.algorithms == ("HS256",)


def test_without_host_settings_a_public_key_alone_means_rs256(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("WS_JWT_SECRET", "WS_JWT_ALGORITHMS", "WS_JWT_JWKS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WS_JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----")
    config = keys.load_jwt_config()
    assert config.secret is None
    assert config.algorithms == ("RS256",)


def test_a_host_without_an_algorithm_setting_gets_hs256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = types.ModuleType(HOST_JWT["module"])
    config.settings = types.SimpleNamespace(SECRET_KEY="k" * 40)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, HOST_JWT["module"], config)
    module = load_host(tmp_path, {**HOST_JWT, "algorithm": None})
    monkeypatch.delenv("WS_JWT_ALGORITHMS", raising=False)
    monkeypatch.delenv("WS_JWT_SECRET", raising=False)
    monkeypatch.setattr(keys, "jwt_settings", module.jwt_settings)
    assert keys.load_jwt_config().algorithms == ("HS256",)
    assert keys.load_jwt_config().secret == "k" * 40


def test_a_host_settings_getter_is_called_at_connect_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def get_settings() -> types.SimpleNamespace:
        calls.append(1)
        return types.SimpleNamespace(api_secret_key="g" * 40, api_algorithm="HS384")

    config = types.ModuleType(HOST_JWT["module"])
    config.get_settings = get_settings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, HOST_JWT["module"], config)
    getter = {
        **HOST_JWT, "attr": "get_settings", "call": True,
        "secret": "api_secret_key", "algorithm": "api_algorithm",
    }  # fmt: skip
    module = load_host(tmp_path, getter)
    assert not calls, "not at import: the host's settings may need its .env"
    assert module.jwt_settings() == ("g" * 40, "HS384")
    assert calls == [1]
