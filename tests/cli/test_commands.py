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

from tests.conftest import REPO, copy_example, run_on_terminal, run_wsgen, snapshot
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
        "schema", "plan_hash", "endpoint", "options", "url_path", "layout", "files", "dependencies",
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


# The slash command earlier versions of install-command wrote.
LEGACY_COMMAND = (Path(__file__).parent / "legacy_ws_command.md").read_bytes()


def _frontmatter(text: str) -> dict[str, str]:
    front = text.split("---\n")[1]
    return dict(line.split(": ", 1) for line in front.splitlines())


def test_install_command_writes_the_skill_once(tmp_path: Path) -> None:
    first = run_wsgen("install-command", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    skill = tmp_path / ".claude/skills/ws/SKILL.md"
    text = skill.read_text()
    front = _frontmatter(text)
    assert front["name"] == "ws"
    assert "WebSocket" in front["description"]
    assert front["argument-hint"].startswith('"[name] [--auth|--no-auth]')
    assert front["allowed-tools"] == (
        "Bash(wsgen:*), Bash(pip install:*), Bash(python -m pytest:*)"
    )
    body = text.split("---\n", 2)[2]
    for step in ("wsgen list --json", "--dry-run --json", "--expect-plan",
                 "verify.install", "python -m pytest"):  # fmt: skip
        assert step in body, step
    before = snapshot(tmp_path)
    second = run_wsgen("install-command", cwd=tmp_path)
    assert second.returncode == 0 and second.stdout.startswith("identical")
    assert snapshot(tmp_path) == before
    skill.write_text(text + "my notes\n")
    edited = snapshot(tmp_path)
    third = run_wsgen("install-command", cwd=tmp_path)
    assert third.returncode == 1 and "--force" in third.stderr
    assert snapshot(tmp_path) == edited
    forced = run_wsgen("install-command", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and forced.stdout.startswith("overwrite")
    assert skill.read_text() == text


def test_the_skill_allows_the_hosts_package_tool(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("version = 1\n")
    assert run_wsgen("install-command", cwd=tmp_path).returncode == 0
    skill = (tmp_path / ".claude/skills/ws/SKILL.md").read_text()
    assert _frontmatter(skill)["allowed-tools"] == (
        "Bash(wsgen:*), Bash(uv add:*), Bash(uv run pytest:*)"
    )
    assert "Run `uv run pytest TESTS -q`" in skill
    poetry = tmp_path / "poetry_project"
    poetry.mkdir()
    (poetry / "pyproject.toml").write_text("[tool.poetry]\nname = 'x'\n")
    assert (
        run_wsgen("install-command", "--project", str(poetry), cwd=tmp_path).returncode
        == 0
    )
    skill = (poetry / ".claude/skills/ws/SKILL.md").read_text()
    assert "Bash(poetry add:*), Bash(poetry run pytest:*)" in skill


def test_an_unedited_skill_of_an_earlier_install_is_updated(tmp_path: Path) -> None:
    """Written for pip, then the project moves to uv: the skill follows."""
    assert run_wsgen("install-command", cwd=tmp_path).returncode == 0
    (tmp_path / "uv.lock").write_text("version = 1\n")
    result = run_wsgen("install-command", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("update: .claude/skills/ws/SKILL.md")
    assert "Bash(uv add:*)" in (tmp_path / ".claude/skills/ws/SKILL.md").read_text()


def test_the_legacy_slash_command_gives_way_to_the_skill(tmp_path: Path) -> None:
    legacy = tmp_path / ".claude/commands/ws.md"
    legacy.parent.mkdir(parents=True)
    # What earlier versions wrote, byte for byte (its digest is recorded).
    legacy.write_bytes(LEGACY_COMMAND)
    result = run_wsgen("install-command", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "delete: .claude/commands/ws.md" in result.stdout
    assert not (tmp_path / ".claude/commands").exists()
    legacy.parent.mkdir()
    legacy.write_bytes(LEGACY_COMMAND + b"my notes\n")
    kept = run_wsgen("install-command", cwd=tmp_path)
    assert kept.returncode == 0 and "also defines /ws" in kept.stdout
    assert legacy.read_bytes() == LEGACY_COMMAND + b"my notes\n"


def test_agents_md_section_is_added_once_and_nothing_else_changes(
    tmp_path: Path,
) -> None:
    agents = tmp_path / "AGENTS.md"
    mine = b"# Our agents\r\n\r\nRun `make test` before committing.\r\n"
    agents.write_bytes(mine)
    first = run_wsgen("install-command", "--agents-md", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    data = agents.read_bytes()
    assert data.startswith(mine + b"\r\n<!-- wsgen:start -->\r\n")
    assert data.endswith(b"<!-- wsgen:end -->\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")  # the file's line endings
    assert b"wsgen list --json" in data and b"$ARGUMENTS" not in data
    before = snapshot(tmp_path)
    again = run_wsgen("install-command", "--agents-md", cwd=tmp_path)
    assert again.returncode == 0 and "identical: AGENTS.md" in again.stdout
    assert snapshot(tmp_path) == before
    # Text the user adds after the section stays; an older section is replaced.
    start = data.index(b"<!-- wsgen:start -->")
    older = data[:start] + b"<!-- wsgen:start -->\r\nold steps\r\n<!-- wsgen:end -->"
    agents.write_bytes(older + b"\r\n## Later notes\r\n")
    forced = run_wsgen("install-command", "--agents-md", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert agents.read_bytes() == data + b"## Later notes\r\n"


def test_schema_command_prints_the_packaged_schema(tmp_path: Path) -> None:
    from jsonschema import Draft202012Validator

    from wsgen.errors import ERROR_CODES
    from wsgen.outputschema import load_schema

    result = run_wsgen("schema", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema == load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$defs"]["error_code"]["enum"] == sorted(ERROR_CODES)
    readme = (REPO / "README.md").read_text()
    for code in ERROR_CODES:
        assert f"`{code}`" in readme, code


def test_expect_plan_binds_the_apply_to_the_plan_shown(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    args = ("chat", "--rooms", "--no-verify", "--json")
    shown = json.loads(run_wsgen(*args, "--dry-run", cwd=project).stdout)
    again = json.loads(run_wsgen(*args, "--dry-run", cwd=project).stdout)
    assert shown["plan_hash"] == again["plan_hash"]
    other = json.loads(run_wsgen(*args, "--auth", "--dry-run", cwd=project).stdout)
    assert other["plan_hash"] != shown["plan_hash"]
    # The project changes between the plan and the apply: refused, nothing written.
    main = project / "app/main.py"
    main.write_text(main.read_text() + "# a late edit\n")
    before = snapshot(project)
    stale = run_wsgen(*args, "--expect-plan", shown["plan_hash"], cwd=project)
    assert stale.returncode == 1
    assert json.loads(stale.stdout)["code"] == "stale_plan"
    assert snapshot(project) == before
    fresh = json.loads(run_wsgen(*args, "--dry-run", cwd=project).stdout)
    applied = run_wsgen(*args, "--expect-plan", fresh["plan_hash"], cwd=project)
    assert applied.returncode == 0, applied.stderr
    report = json.loads(applied.stdout)
    assert report["applied"] is True and report["plan_hash"] == fresh["plan_hash"]
    # destroy too: its dry run's hash applies, an old one does not.
    undo = json.loads(
        run_wsgen("destroy", "chat", "--dry-run", "--json", cwd=project).stdout
    )
    done = run_wsgen(
        "destroy", "chat", "--json", "--expect-plan", undo["plan_hash"], cwd=project
    )
    assert done.returncode == 0, done.stderr
    assert not (project / "app/routers/chat.py").exists()
