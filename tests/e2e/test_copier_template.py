"""`--template SOURCE`: an endpoint from a team's own copier template.

The template under copier_template/ is made a git repository with tags, as
a team would keep it; the projects are copies of examples/. Only local
files and git over `file` paths: no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_NAMES, copy_example, run_wsgen, snapshot
from wsgen.build.render import runtime_source_dir

pytestmark = pytest.mark.e2e

TEMPLATE = Path(__file__).resolve().parent / "copier_template"
ANSWERS = ".copier-answers.wsgen-chat.yml"
ROUTE_TEMPLATE = "{{ routes_dir }}/{{ name }}.py.jinja"
TEST_TEMPLATE = "{{ tests_dir }}/test_{{ name }}_ws.py.jinja"
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "wsgen tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "wsgen tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=GIT_ENV,
        check=True,
    )
    return result.stdout


def commit_all(repo: Path, message: str, tag: str | None = None) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    if tag:
        git(repo, "tag", tag)


def template_repo(tmp_path: Path) -> Path:
    """The example template as a team keeps it: a git repository tagged v1."""
    repo = tmp_path / "team-template"
    shutil.copytree(TEMPLATE, repo)
    git(repo, "init", "-q")
    commit_all(repo, "endpoint template", tag="v1")
    return repo


def release_v2(repo: Path) -> None:
    """A new template version: the greeting says which version sent it."""
    for name in (ROUTE_TEMPLATE, TEST_TEMPLATE):
        path = repo / name
        text = path.read_text()
        changed = text.replace('" from {{ name }}', '" from {{ name }} (v2)').replace(
            '(greeting ~ " from " ~ name)', '(greeting ~ " from " ~ name ~ " (v2)")'
        )
        assert changed != text, name
        path.write_text(changed)
    commit_all(repo, "greeting names the version", tag="v2")


def run_project_tests(project: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(  # noqa: PLW1510 - callers assert on returncode
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def findings(project: Path) -> dict[str, str]:
    report = json.loads(run_wsgen("check", "--json", cwd=project).stdout)
    return {f["path"]: f["kind"] for f in report["findings"]}


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_template_endpoint_generates_checks_and_destroys(
    example: str, tmp_path: Path
) -> None:
    project = copy_example(example, tmp_path)
    original = snapshot(project)
    template = template_repo(tmp_path)

    dry = run_wsgen("chat", "--broadcast", "--template", str(template), "--dry-run",
                    "--json", cwd=project)  # fmt: skip
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert ANSWERS in {f["path"] for f in json.loads(dry.stdout)["files"]}
    assert snapshot(project) == original, "--dry-run writes nothing"

    result = run_wsgen(
        "chat", "--broadcast", "--template", str(template), "--yes", "--json",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    plan = json.loads(result.stdout)
    assert plan["verify"]["ok"] is True, "the app imports and serves the route"
    assert plan["options"]["template"] == template.resolve().as_posix()
    files = {f["path"]: f for f in plan["files"]}
    layout = plan["layout"]
    route = f"{layout['routes_dir']}/chat.py"
    tests = f"{layout['tests_dir']}/test_chat_ws.py"
    assert files[route]["group"] == "endpoint" and files[route]["action"] == "create"
    assert files[tests]["group"] == "tests"
    assert files[ANSWERS]["action"] == "create"
    assert not any(p.endswith("_client.js") for p in files), "no built-in client"

    assert "rendered from a copier template" in (project / route).read_text()
    answers = (project / ANSWERS).read_text()
    assert "_commit: v1" in answers and "greeting: hello" in answers
    assert f"_src_path: {template.resolve().as_posix()}" in answers
    runtime = project / layout["runtime_dir"] / "manager.py"
    assert runtime.read_text() == (runtime_source_dir() / "manager.py").read_text(), (
        "the runtime stays wsgen's"
    )
    manifest = (project / ".wsgen.toml").read_text()
    assert f'template = "{template.resolve().as_posix()}"' in manifest

    ran = run_project_tests(project, tests)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "2 passed" in ran.stdout
    assert run_wsgen("check", cwd=project).returncode == 0

    generated = snapshot(project)
    again = run_wsgen("chat", "--broadcast", "--template", str(template), "--yes",
                      "--no-verify", cwd=project)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert snapshot(project) == generated, "a second run changes nothing"

    gone = run_wsgen("destroy", "chat", cwd=project)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert snapshot(project) == original, "every byte is back"


def test_copier_update_uses_the_answers_file(tmp_path: Path) -> None:
    copier = pytest.importorskip("copier")
    project = copy_example("app_package", tmp_path)
    template = template_repo(tmp_path)
    result = run_wsgen(
        "chat", "--template", str(template), "--yes", "--no-verify", cwd=project
    )
    assert result.returncode == 0, result.stdout + result.stderr
    git(project, "init", "-q")
    commit_all(project, "chat endpoint")

    route = project / "app/routers/chat.py"
    mine = "\n\ndef our_own_helper() -> str:\n    return 'kept through updates'\n"
    route.write_text(route.read_text() + mine)
    commit_all(project, "our edit")
    release_v2(template)

    copier.run_update(
        project,
        answers_file=ANSWERS,
        defaults=True,
        overwrite=True,
        unsafe=False,
        quiet=True,
    )

    text = route.read_text()
    assert '" from chat (v2)"' in text, "the template's change arrived"
    assert text.endswith(mine), "the user's edit survived"
    assert "<<<<<<<" not in text
    assert "_commit: v2" in (project / ANSWERS).read_text()
    ran = run_project_tests(project, "tests/test_chat_ws.py")
    assert ran.returncode == 0, ran.stdout + ran.stderr

    # copier changed files behind wsgen's back; an upgrade at the same
    # version records them. The route module is the user's: never a finding.
    assert findings(project) == {
        "tests/test_chat_ws.py": "edited",
        ANSWERS: "edited",
    }
    upgraded = run_wsgen("upgrade", "chat", "--no-verify", cwd=project)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert route.read_text() == text
    assert findings(project) == {}


def test_upgrade_and_vcs_ref_follow_the_template(tmp_path: Path) -> None:
    project = copy_example("src_factory", tmp_path)
    template = template_repo(tmp_path)
    release_v2(template)
    result = run_wsgen("chat", "--template", str(template), "--vcs-ref", "v1",
                       "--yes", "--no-verify", cwd=project)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    answers = project / ANSWERS
    assert "_commit: v1" in answers.read_text()
    route = next(project.glob("src/*/*/chat.py"))
    assert "(v2)" not in route.read_text()
    route.write_text(route.read_text() + "# our note\n")

    upgraded = run_wsgen("upgrade", "chat", "--no-verify", cwd=project)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    text = route.read_text()
    assert '" from chat (v2)"' in text and text.endswith("# our note\n")
    assert "_commit: v2" in answers.read_text()
    assert findings(project) == {}, "the edited route module is the user's"
    ran = run_project_tests(project)
    assert ran.returncode == 0, ran.stdout + ran.stderr
