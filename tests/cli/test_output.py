"""What wsgen prints for a person: host text verbatim, whole lines when
piped, a clean --help, refusals before questions, full URL paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_example, run_on_terminal, run_wsgen
from wsgen import output
from wsgen.build.plan import FileChange, Plan

BRACKETS = "pip install 'uvicorn[standard]'"


def test_host_text_is_not_read_as_markup(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    (project / "app/extra.py").write_text(f'raise RuntimeError("{BRACKETS}")\n')
    main = project / "app/main.py"
    main.write_text(
        main.read_text().replace("\napp = ", "\nimport app.extra\n\napp = ")
    )
    result = run_wsgen("chat", "--yes", cwd=project)
    assert result.returncode == 1, result.stderr
    assert BRACKETS in result.stdout, result.stdout


def test_plan_text_keeps_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    plan = Plan(
        endpoint="chat",
        options={},
        url_path="/ws/[v2]/chat",
        layout={"app": "app.main:app", "register_file": "app/[x]/main.py"},
        changes=[
            FileChange("app/[red]/chat.py", "create", "endpoint", b"x\n", None, "[b]")
        ],
    )
    plan.notes.append(BRACKETS)
    plan.warnings.append("add yourself: redis[hiredis]>=5")
    output.print_plan(plan, dry_run=True)
    printed = capsys.readouterr().out
    for text in (
        "/ws/[v2]/chat",
        "app/[x]/main.py",
        "app/[red]/chat.py",
        "([b])",
        BRACKETS,
        "redis[hiredis]>=5",
    ):
        assert text in printed, printed


def test_piped_output_keeps_whole_lines(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    long_path = "/ws/" + "/".join(["segment"] * 20)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    result = subprocess.run(
        [sys.executable, "-m", "wsgen", "chat", "--path", long_path]
        + ["--yes", "--dry-run", "--no-verify"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**env, "NO_COLOR": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"chat at {long_path}" in result.stdout
    assert "…" not in result.stdout
    long_lines = [line for line in result.stdout.splitlines() if len(line) > 80]
    assert long_lines, result.stdout


@pytest.mark.parametrize("command", [[], ["destroy"], ["upgrade"], ["new"]])
def test_help_is_clean(command: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wsgen", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "\\[" not in text
    if not command:
        examples = [line.strip() for line in text.splitlines() if "  wsgen " in line]
        assert [line.split()[1] for line in examples] == [
            "chat", "check", "list", "destroy", "upgrade", "install-command", "schema"
        ]  # fmt: skip
        assert all(line.count("wsgen ") == 1 for line in examples)


@pytest.mark.parametrize("args", [["chat"], []], ids=["name-given", "no-name"])
def test_two_apps_are_refused_before_any_question(
    tmp_path: Path, args: list[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    app = "from fastapi import FastAPI\n\napp = FastAPI()\n"
    (project / "one.py").write_text(app)
    (project / "two.py").write_text(app)
    code, printed = run_on_terminal(*args, cwd=project, timeout=60)
    assert code == 1, printed
    assert "Found 2 FastAPI applications" in printed
    assert "?" not in printed.split("Found 2")[0], printed  # no question first
    assert "Endpoint name" not in printed and "Require a JWT" not in printed


def test_too_long_name_is_refused_before_any_question(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    code, printed = run_on_terminal("a" * 300, cwd=project, timeout=60)
    assert code == 2, printed
    assert "the limit is 64" in printed
    assert "Require a JWT" not in printed


def test_list_shows_the_full_url_path(tmp_path: Path) -> None:
    project = copy_example("api_aggregator", tmp_path)
    generated = run_wsgen("chat", "--auth", "--yes", "--no-verify", cwd=project)
    assert generated.returncode == 0, generated.stderr
    assert "chat at {settings.API_V1_STR}/ws/chat" in generated.stdout
    listed = run_wsgen("list", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:2] == ["chat", "{settings.API_V1_STR}/ws/chat"]


@pytest.mark.parametrize(
    ("example", "app_words"),
    [
        ("app_package", ["app.main:app"]),
        ("src_factory", ["shop.app:create_app", "--factory", "--app-dir", "src"]),
    ],
)
def test_the_accelerator_serving_command_is_complete_and_serves(
    tmp_path: Path, example: str, app_words: list[str]
) -> None:
    """The printed command names the host's own app (a factory, a src
    layout) and, run as printed, serves it with the protocol active."""
    import re
    import shlex
    import time

    from tests.conftest import free_port

    project = copy_example(example, tmp_path)
    result = run_wsgen("chat", "--accelerator", "uvicorn", "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"Serve with `([^`]+)`", result.stdout)
    assert found, result.stdout
    words = shlex.split(found.group(1))
    assert words[0] == "uvicorn" and words[1 : 1 + len(app_words)] == app_words
    assert "MODULE" not in found.group(1)
    port = str(free_port())
    server = subprocess.Popen(
        [sys.executable, "-m", *words, "--host", "127.0.0.1", "--port", port],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        assert server.stdout is not None
        while time.monotonic() < deadline and server.poll() is None:
            line = server.stdout.readline()
            lines.append(line)
            if "Application startup complete" in line:
                break
        log = "".join(lines)
        assert "Application startup complete" in log, log
        assert "wsgen accelerator: active" in log, log
    finally:
        server.terminate()
        server.wait(timeout=15)
