"""A coding agent following the /ws skill that `wsgen install-command`
writes, step by step, with a user who answers its questions.

The agent is a script: each step first checks that the installed skill
tells it to do what it is about to do (so a step dropped from the skill
fails here), then runs the real `wsgen` and reads its JSON only.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_example, run_wsgen, snapshot, validated_json
from wsgen.commands.install_command import SKILL_PATH

pytestmark = pytest.mark.e2e

QUESTIONS = ("name", "auth", "rooms", "broadcast", "message types")
FEATURES = ("auth", "rooms", "broadcast")


@dataclass
class FakeUser:
    answers: dict[str, str] = field(default_factory=dict)
    consents: dict[str, bool] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)

    def ask(self, key: str) -> str:
        self.asked.append(key)
        return self.answers[key]

    def confirm(self, key: str) -> bool:
        self.asked.append(key)
        return self.consents[key]

    def show(self, text: str) -> None:
        self.shown.append(text)


class VerificationNamesNoPackages(Exception):
    """Verification failed on a missing module without naming the packages."""


@dataclass
class SkillAgent:
    project: Path
    user: FakeUser
    python: str = sys.executable
    env: dict[str, str] | None = None
    ran: list[list[str]] = field(default_factory=list)

    @property
    def skill(self) -> str:
        return (self.project / SKILL_PATH).read_text()

    def step(self, *fragments: str) -> None:
        for fragment in fragments:
            assert fragment in self.skill, f"the skill no longer says {fragment!r}"

    def wsgen(self, *args: str) -> dict[str, Any]:
        self.ran.append(list(args))
        # In the user's shell: with the project's virtualenv active, if any.
        result = run_wsgen(*args, cwd=self.project, env=self.env)
        return validated_json(result.stdout)

    def gather(self, arguments: str) -> tuple[str, list[str]]:
        self.step("ask the user for all the missing ones", "wsgen list --json")
        words = shlex.split(arguments)
        given: dict[str, Any] = {}
        types: list[str] = []
        for index, word in enumerate(words):
            flag = word.lstrip("-")
            if word.startswith("--") and flag.removeprefix("no-") in FEATURES:
                given[flag.removeprefix("no-")] = not flag.startswith("no-")
            elif word == "-m":
                given["message types"] = True
                types.append(words[index + 1])
            elif not word.startswith("-") and words[index - 1 : index] != ["-m"]:
                given.setdefault("name", word)
        for key in QUESTIONS:
            if key not in given:
                answer = self.user.ask(key)
                if key in FEATURES:
                    given[key] = answer.lower().startswith("y")
                elif key == "message types":
                    types = answer.replace(",", " ").split()
                else:
                    given[key] = answer
        flags = [f"--{k}" if given[k] else f"--no-{k}" for k in FEATURES]
        for name in types:
            if name != "none":
                flags += ["-m", name]
        return given["name"], flags

    def follow(self, arguments: str) -> dict[str, Any] | None:
        name, flags = self.gather(arguments)
        listed = self.wsgen("list", "--json")
        existing = next((r for r in listed["endpoints"] if r["name"] == name), None)
        command = [name] if existing is None else ["upgrade", name]
        removed = [] if existing is None else [
            k for k in FEATURES if existing.get(k) and f"--no-{k}" in flags
        ] + [t for t in existing.get("message_types", []) if t not in flags]  # fmt: skip

        self.step("--dry-run --json", "`url_path`", "group `registration`")
        plan = self.wsgen(*command, *flags, "--dry-run", "--json")
        if "code" in plan:
            self.user.show(plan["error"])
            return None
        self.user.show(f"route: {plan['url_path']}")
        for item in plan["files"]:
            if item["group"] != "base":
                self.user.show(f"{item['action']} {item['path']}")
        registration = [f for f in plan["files"] if f["group"] == "registration"]
        self.user.show("".join(f.get("diff", "") for f in registration))
        self.user.show(f"dependencies: {plan['dependencies']}")
        for line in plan["warnings"] + plan["notes"]:
            self.user.show(line)

        self.step("Ask the user before applying when `conflicts` is not empty",
                  "would be removed")  # fmt: skip
        for feature in removed:
            self.user.show(f"removes: {feature}")
        risky = plan["conflicts"] or plan["warnings"] or removed
        if risky and not self.user.confirm("apply"):
            return None

        self.step("adding `--expect-plan PLAN_HASH`")
        result = self.wsgen(
            *command, *flags, "--json", "--expect-plan", plan["plan_hash"]
        )
        if result.get("code") not in (None, "verify_failed", "missing_dependencies"):
            self.user.show(result["error"])
            return None
        verify = result["verify"]
        if not verify["ok"]:
            self.step("`verify.missing`", "`verify.install`")
            if "missing" not in verify:
                raise VerificationNamesNoPackages(verify["error"])
            if not self.user.confirm("install"):
                return None
            self.ran.append(["sh", "-c", verify["install"]])
            subprocess.run(
                verify["install"], shell=True, check=True, cwd=self.project,
                env=self.env, capture_output=True, timeout=300,
            )  # fmt: skip

        match = re.search(r"Run `(.+?) TESTS -q`", self.skill)
        assert match, "the skill no longer says how to run the tests"
        test_command = shlex.split(match.group(1))
        if test_command[0] == "python":
            test_command[0] = self.python
        tests = next(f["path"] for f in plan["files"] if f["group"] == "tests")
        run = subprocess.run(
            [*test_command, tests, "-q", "-p", "no:cacheprovider"],
            check=False, cwd=self.project, capture_output=True, text=True,
            timeout=300, env={**(self.env or os.environ), "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
        env_vars = [
            var for var in ("WS_JWT_SECRET", "WS_REDIS_URL")
            if any(var in note for note in result["notes"])
        ]  # fmt: skip
        return {
            "route": verify.get("route") or plan["url_path"],
            "files": [f["path"] for f in plan["files"]
                      if f["action"] in ("create", "edit") and f["group"] != "base"],
            "env": env_vars,
            "tests": "passed" if run.returncode == 0 else run.stdout[-2000:],
        }  # fmt: skip


def installed(project: Path) -> Path:
    result = run_wsgen("install-command", cwd=project)
    assert result.returncode == 0, result.stderr
    return project


def test_the_agent_asks_plans_binds_the_apply_and_ends_with_passing_tests(
    tmp_path: Path,
) -> None:
    project = installed(copy_example("app_package", tmp_path))
    user = FakeUser(
        answers={"name": "alerts", "auth": "yes", "rooms": "yes",
                 "broadcast": "no", "message types": "ack"},
    )  # fmt: skip
    agent = SkillAgent(project, user)
    report = agent.follow("")
    assert user.asked == list(QUESTIONS)  # all five, nothing to confirm
    assert report is not None
    assert report["tests"] == "passed"
    assert report["route"] == "/ws/alerts"
    assert "app/routers/alerts.py" in report["files"]
    assert report["env"] == ["WS_JWT_SECRET"]
    assert "route: /ws/alerts" in user.shown
    assert any("+app.include_router(alerts_ws_router)" in s for s in user.shown)
    dry_run, apply = agent.ran[1], agent.ran[2]
    assert "--dry-run" in dry_run and "--expect-plan" in apply
    manifest = (project / ".wsgen.toml").read_text()
    assert 'message_types = ["ack"]' in manifest and "auth = true" in manifest


def test_the_agent_asks_only_what_is_missing_and_a_no_writes_nothing(
    tmp_path: Path,
) -> None:
    project = installed(copy_example("app_package", tmp_path))
    before = snapshot(project)
    user = FakeUser(
        answers={"rooms": "no", "message types": "none"}, consents={"apply": False}
    )
    agent = SkillAgent(project, user)
    assert agent.follow("feed --no-auth --broadcast") is None
    assert user.asked == ["rooms", "message types", "apply"]
    assert any("unauthenticated" in line for line in user.shown)
    assert snapshot(project) == before
    assert all("--expect-plan" not in args for args in agent.ran)


def _venv_without(project: Path, missing: str) -> tuple[str, dict[str, str]]:
    """The project's own .venv: this interpreter's packages but `missing`."""
    subprocess.run([sys.executable, "-m", "venv", str(project / ".venv")], check=True)
    ours = Path(sysconfig.get_paths()["purelib"])
    farm = project.parent / "site"
    farm.mkdir()
    for entry in ours.iterdir():
        if not entry.name.lower().startswith((missing, "_virtualenv", "pip")):
            (farm / entry.name).symlink_to(entry)
    python = project / ".venv/bin/python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "host.pth").write_text(f"{farm}\n")
    env = {**os.environ, "VIRTUAL_ENV": str(project / ".venv"),
           "PATH": f"{project / '.venv/bin'}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    return str(python), env


def test_the_agent_installs_missing_dependencies_when_told_to(tmp_path: Path) -> None:
    project = installed(copy_example("app_package", tmp_path))
    python, env = _venv_without(project, "structlog")
    user = FakeUser(consents={"install": True})
    agent = SkillAgent(project, user, python=python, env=env)
    report = agent.follow("chat --auth --no-rooms --no-broadcast -m none")
    assert user.asked == ["install"]
    install = next(args for args in agent.ran if args[0] == "sh")
    assert "structlog" in install[-1]
    assert report is not None and report["tests"] == "passed"


def test_an_existing_endpoint_is_upgraded_and_removing_auth_is_asked(
    tmp_path: Path,
) -> None:
    project = installed(copy_example("app_package", tmp_path))
    first = run_wsgen("chat", "--auth", "--rooms", "--yes", "--no-verify", cwd=project)
    assert first.returncode == 0, first.stderr
    before = snapshot(project)
    user = FakeUser(answers={"message types": "none"}, consents={"apply": False})
    agent = SkillAgent(project, user)
    assert agent.follow("chat --no-auth --rooms --no-broadcast") is None
    assert user.asked == ["message types", "apply"]
    assert "removes: auth" in user.shown
    assert agent.ran[1][:2] == ["upgrade", "chat"]  # after `list`
    assert snapshot(project) == before
