"""Which Python verifies, and the command that installs what it lacks."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from wsgen.host.probe import find_interpreter, install_command, next_step, project_tool


def venv(folder: Path) -> str:
    python = folder / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    return str(python)


def test_an_activated_virtualenv_comes_first(tmp_path: Path) -> None:
    project = tmp_path / "project"
    venv(project / ".venv")
    active = venv(tmp_path / "active")
    chosen = find_interpreter(project, {"VIRTUAL_ENV": str(tmp_path / "active")})
    assert (chosen.python, chosen.source) == (
        active,
        "the activated virtualenv, $VIRTUAL_ENV",
    )


def test_a_virtual_env_without_python_is_skipped(tmp_path: Path) -> None:
    project = tmp_path / "project"
    python = venv(project / "venv")
    chosen = find_interpreter(project, {"VIRTUAL_ENV": str(tmp_path / "gone")})
    assert (chosen.python, chosen.source) == (python, "the project's venv")


def test_dot_venv_before_venv(tmp_path: Path) -> None:
    dot = venv(tmp_path / ".venv")
    venv(tmp_path / "venv")
    assert find_interpreter(tmp_path, {}).python == dot


def test_uv_project_environment(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("")
    python = venv(tmp_path / "envs" / "dev")
    chosen = find_interpreter(tmp_path, {"UV_PROJECT_ENVIRONMENT": "envs/dev"})
    assert chosen.python == python and "UV_PROJECT_ENVIRONMENT" in chosen.source


def test_poetry_is_asked_only_when_installed(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.poetry]\nname = "x"\n')
    python = venv(tmp_path / "cache" / "x-py3.11")
    poetry = tmp_path / "poetry"
    poetry.write_text(f"#!/bin/sh\necho {tmp_path / 'cache' / 'x-py3.11'}\n")
    poetry.chmod(poetry.stat().st_mode | stat.S_IEXEC)
    chosen = find_interpreter(project, {}, which=lambda name: str(poetry))
    assert chosen.python == python and "Poetry" in chosen.source
    missing = find_interpreter(project, {}, which=lambda name: None)
    assert missing.python == sys.executable and "wsgen's own" in missing.source


@pytest.mark.parametrize(
    ("files", "tool"),
    [
        ({"uv.lock": ""}, "uv"),
        ({"pyproject.toml": "[tool.uv]\ndev-dependencies = []\n"}, "uv"),
        ({"poetry.lock": ""}, "poetry"),
        ({"pyproject.toml": '[tool.poetry]\nname = "x"\n'}, "poetry"),
        ({"pyproject.toml": '[project]\nname = "x"\n'}, "pip"),
        ({"requirements.txt": "fastapi\n"}, "pip"),
        ({"pyproject.toml": "not toml ["}, "pip"),
    ],
)
def test_project_tool(tmp_path: Path, files: dict[str, str], tool: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert project_tool(tmp_path) == tool


def test_install_commands() -> None:
    specs = ["structlog>=24.1"]
    assert install_command("uv", "/p/python", specs) == ["uv", "add", *specs]
    assert install_command("poetry", "/p/python", specs) == ["poetry", "add", *specs]
    assert install_command("pip", "/p/python", specs) == [
        "/p/python", "-m", "pip", "install", *specs,
    ]  # fmt: skip


def test_every_next_step_names_a_way_out() -> None:
    base = {"python": "/p/python", "ok": False}
    for result in (
        {**base, "install": "uv add x"},
        {**base, "routes": ["/other"]},
        base,
    ):
        text = next_step(result, "chat")
        assert text.startswith("Next: ")
        assert "--no-verify" in text and "wsgen destroy chat" in text
    assert "--install" in next_step({**base, "install": "uv add x"}, "chat")
    assert "--app" in next_step(base, "chat")
