"""The command line as users and agents drive it: routing to the default
command, machine-readable plans, prompts on a terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import copy_example, run_on_terminal, run_wsgen, snapshot
from wsgen import __version__
from wsgen.cli import route_default_command


def test_version_through_the_module_and_the_flag(tmp_path: Path) -> None:
    result = run_wsgen("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"wsgen {__version__}"


def test_help_lists_commands_and_exit_codes(tmp_path: Path) -> None:
    result = run_wsgen("--help", cwd=tmp_path)
    assert result.returncode == 0
    for word in ("new", "check", "Exit codes", "unregistered"):
        assert word in result.stdout


def test_generating_is_the_default_command() -> None:
    assert route_default_command(["chat", "--auth"]) == ["new", "chat", "--auth"]
    assert route_default_command(["--yes", "chat"]) == ["new", "--yes", "chat"]
    assert route_default_command(["check"]) == ["check"]
    assert route_default_command(["new", "check"]) == ["new", "check"]
    assert route_default_command(["--version"]) == ["--version"]


def test_an_endpoint_named_like_a_subcommand_via_new(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    result = run_wsgen("new", "check", "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "app/routers/check.py").is_file()
    assert "/ws/check" in (project / "app/routers/check.py").read_text()


def test_json_dry_run_is_a_stable_document_and_writes_nothing(tmp_path: Path) -> None:
    project = copy_example("api_aggregator", tmp_path)
    before = snapshot(project)
    result = run_wsgen(
        "live-updates", "--auth", "--rooms", "--dry-run", "--json", cwd=project
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert snapshot(project) == before
    assert set(plan) == {
        "schema", "endpoint", "options", "url_path", "layout", "files", "dependencies",
        "notes", "warnings", "conflicts", "applied", "verify",
    }  # fmt: skip
    assert plan["schema"] == 1
    assert plan["endpoint"] == "live_updates"
    assert plan["url_path"] == "{settings.API_V1_STR}/ws/live_updates"
    assert plan["applied"] is False and plan["verify"] is None
    assert any("normalized to 'live_updates'" in note for note in plan["notes"])
    assert plan["layout"]["register_kind"] == "aggregator"
    assert plan["layout"]["jwt_settings"] == "app.core.config:settings"
    actions = {f["path"]: f["action"] for f in plan["files"]}
    assert actions["app/api/main.py"] == "edit"
    assert actions["app/api/routes/live_updates.py"] == "create"
    edit = next(f for f in plan["files"] if f["path"] == "app/api/main.py")
    added = [
        line
        for line in edit["diff"].splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    assert added == [
        "+from app.api.routes.live_updates import router as live_updates_ws_router",
        "+api_router.include_router(live_updates_ws_router)",
    ]
    assert plan["dependencies"]["added"] == ["structlog>=24.1"]


def test_unauthenticated_plan_warns(tmp_path: Path) -> None:
    project = copy_example("single_file", tmp_path)
    result = run_wsgen("feed", "--broadcast", "--dry-run", "--json", cwd=project)
    plan = json.loads(result.stdout)
    assert any("unauthenticated" in warning for warning in plan["warnings"])


def test_json_apply_reports_the_verified_route(tmp_path: Path) -> None:
    project = copy_example("src_factory", tmp_path)
    result = run_wsgen("chat", "--rooms", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["applied"] is True
    verify = plan["verify"]
    assert (verify["ok"], verify["route"]) == (True, "/ws/chat")
    assert verify["python"] and verify["python_from"], "names the interpreter"


def _read_until(fd: int, needle: str, output: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while needle not in "".join(output):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {needle!r} in {''.join(output)!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                output.append(os.read(fd, 4096).decode(errors="replace"))
            except OSError:
                break


def test_prompts_on_a_terminal_when_no_flags_are_given(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    main_fd, child_fd = pty.openpty()
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TERM": "dumb",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsgen", "--no-verify"],
        cwd=project, stdin=child_fd, stdout=child_fd, stderr=child_fd, env=env,
    )  # fmt: skip
    os.close(child_fd)
    output: list[str] = []
    try:
        for prompt, answer in [
            ("Endpoint name", "alerts"),
            ("Require a JWT", "y"),
            ("Support rooms", "n"),
            ("Broadcast", "y"),
            ("Extra message types", "ack"),
            ("Apply this plan?", "y"),
        ]:
            _read_until(main_fd, prompt, output)
            os.write(main_fd, answer.encode() + b"\r")
        _read_until(main_fd, "Done:", output)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(main_fd)
    manifest = (project / ".wsgen.toml").read_text()
    assert "[endpoints.alerts]" in manifest
    assert "auth = true" in manifest and "rooms = false" in manifest
    assert 'message_types = ["ack"]' in manifest


def test_the_prompts_default_to_what_yes_generates(tmp_path: Path) -> None:
    """Enter on every question gives the endpoint `--yes` gives: one set of
    defaults, with and without a terminal."""
    asked = copy_example("app_package", tmp_path / "asked")
    told = copy_example("app_package", tmp_path / "told")
    questions = ["Require a JWT", "Support rooms", "Broadcast", "Extra message types"]
    code, output = run_on_terminal(
        "alerts", "--no-verify", cwd=asked,
        answers=[(q, "") for q in [*questions, "Apply this plan?"]],
    )  # fmt: skip
    assert code == 0, output
    assert "warning: the endpoint is unauthenticated" in output
    result = run_wsgen("alerts", "--yes", "--no-verify", cwd=told)
    assert result.returncode == 0, result.stderr
    assert "warning: the endpoint is unauthenticated" in result.stdout
    assert snapshot(asked) == snapshot(told)


def test_install_command_writes_the_agent_command_once(tmp_path: Path) -> None:
    first = run_wsgen("install-command", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    command = tmp_path / ".claude/commands/ws.md"
    text = command.read_text()
    front, body = text.split("---\n")[1:3]
    assert "description:" in front
    assert 'argument-hint: "[endpoint_name] [--auth] [--rooms] [--broadcast]"' in front
    assert "allowed-tools:" in front and "Bash(wsgen:*)" in front
    assert "wsgen $ARGUMENTS --dry-run --json" in body
    assert "python -m pytest" in body
    before = snapshot(tmp_path)
    second = run_wsgen("install-command", cwd=tmp_path)
    assert second.returncode == 0 and second.stdout.startswith("identical")
    assert snapshot(tmp_path) == before
    command.write_text(text + "my notes\n")
    edited = snapshot(tmp_path)
    third = run_wsgen("install-command", cwd=tmp_path)
    assert third.returncode == 1 and "--force" in third.stderr
    assert snapshot(tmp_path) == edited
