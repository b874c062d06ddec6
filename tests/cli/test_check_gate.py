"""`wsgen check` as a CI gate: the step of a CI job, run on a project through
the life of an endpoint. Edits of the route module are the user's and pass;
runtime edits fail until accepted; a registration is read from the parsed
module, so commenting it out fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_example, run_wsgen
from wsgen.errors import EXIT_CHECK_EDITED, EXIT_CHECK_UNREGISTERED, EXIT_OK

# The CI step of the README (its install line aside): run in the project.
CI_SCRIPT = '#!/bin/sh\nset -e\ncd "$1"\nwsgen check\n'
INCLUDE = "app.include_router(chat_ws_router)"
IMPORT = "from app.routers.chat import router as chat_ws_router"
ROUTE = "app/routers/chat.py"
RUNTIME = "app/websocket/manager.py"


def ci_step(project: Path) -> subprocess.CompletedProcess[str]:
    """The CI step with the `wsgen` that pip installed into this environment."""
    script = project.parent / "ci.sh"
    script.write_text(CI_SCRIPT)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    return subprocess.run(  # noqa: PLW1510 - callers assert on returncode
        ["sh", str(script), str(project)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = copy_example("app_package", tmp_path)
    result = run_wsgen("chat", "--auth", "--rooms", "--yes", "--no-verify", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_ci_step_passes_after_generation_and_after_editing_the_route_module(
    project: Path,
) -> None:
    assert ci_step(project).returncode == EXIT_OK
    route = project / ROUTE
    edit(
        route,
        "async def authorize_join(user: Identity, room_id: str) -> bool:",
        "async def authorize_join(user: Identity, room_id: str) -> bool:\n"
        "    if room_id.startswith('admin-'):\n"
        "        return False",
    )
    route.write_text(route.read_text() + "\n\ndef my_helper() -> int:\n    return 1\n")
    passed = ci_step(project)
    assert passed.returncode == EXIT_OK, passed.stdout + passed.stderr
    assert passed.stderr == ""

    # A re-run with the same flags keeps the edit instead of refusing.
    edited = route.read_bytes()
    again = run_wsgen("chat", "--auth", "--rooms", "--yes", "--no-verify", cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert route.read_bytes() == edited


def test_a_route_module_that_no_longer_parses_fails(project: Path) -> None:
    route = project / ROUTE
    route.write_text(route.read_text() + "\ndef broken(:\n")
    result = ci_step(project)
    assert result.returncode == EXIT_CHECK_UNREGISTERED, result.stdout
    assert f"{ROUTE} (chat): the route module does not parse" in result.stdout


@pytest.mark.parametrize(
    ("old", "new", "missing"),
    [
        (INCLUDE, f"# {INCLUDE}", INCLUDE),
        (INCLUDE + "\n", "", INCLUDE),
        (IMPORT + "\n", "", IMPORT),
        (INCLUDE, f'"""{INCLUDE}"""', INCLUDE),
    ],
    ids=["include-commented-out", "include-deleted", "import-deleted", "in-a-string"],
)
def test_a_registration_gone_from_the_parsed_module_fails(
    project: Path, old: str, new: str, missing: str
) -> None:
    edit(project / "app/main.py", old, new)
    result = ci_step(project)
    assert result.returncode == EXIT_CHECK_UNREGISTERED, result.stdout + result.stderr
    assert f"unregistered: app/main.py (chat): missing: {missing}" in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("wsgen: error: check found 1 problem(s).")
    assert "wsgen destroy chat" in last


def test_an_include_with_arguments_is_still_a_registration(project: Path) -> None:
    edit(
        project / "app/main.py",
        INCLUDE,
        'app.include_router(\n    chat_ws_router, tags=["ws"]\n)',
    )
    result = ci_step(project)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr


def test_a_runtime_edit_fails_until_accepted_and_upgrade_keeps_it(
    project: Path,
) -> None:
    runtime = project / RUNTIME
    runtime.write_text(runtime.read_text() + "\n# tuned for our load\n")
    edited = ci_step(project)
    assert edited.returncode == EXIT_CHECK_EDITED, edited.stdout + edited.stderr
    assert f"wsgen check --accept {RUNTIME}" in edited.stderr

    before = (project / ".wsgen.toml").read_text()
    accepted = run_wsgen("check", "--accept", RUNTIME, cwd=project)
    assert accepted.returncode == EXIT_OK, accepted.stdout + accepted.stderr
    assert f"Accepted: {RUNTIME}" in accepted.stdout
    after = (project / ".wsgen.toml").read_text()
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == ["[accepted]", f'"{RUNTIME}" = "{hash_of(runtime)}"'], added
    assert ci_step(project).returncode == EXIT_OK

    # Upgrade merges the accepted edit and keeps it accepted.
    upgraded = run_wsgen("upgrade", "chat", "--no-verify", cwd=project)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert runtime.read_text().endswith("# tuned for our load\n")
    assert ci_step(project).returncode == EXIT_OK
    # So does a re-run with the same flags.
    again = run_wsgen("chat", "--auth", "--rooms", "--yes", "--no-verify", cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ci_step(project).returncode == EXIT_OK

    # A further edit is a new one.
    runtime.write_text(runtime.read_text() + "# and another\n")
    assert ci_step(project).returncode == EXIT_CHECK_EDITED


def hash_of(path: Path) -> str:
    from wsgen.build.manifest import content_hash

    return content_hash(path.read_bytes())


def test_accept_from_another_folder_and_as_json(project: Path) -> None:
    runtime = project / RUNTIME
    runtime.write_text(runtime.read_text() + "\n# ours\n")
    result = run_wsgen(
        "check", "--json", "--project", str(project), "--accept",
        str(runtime), cwd=project.parent,
    )  # fmt: skip
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["accepted"] == [RUNTIME] and report["findings"] == []


def test_a_manifest_without_kinds_treats_the_route_module_as_the_users(
    project: Path,
) -> None:
    """Manifests written before kinds were recorded are read the same way."""
    manifest = project / ".wsgen.toml"
    old = re.sub(r"(?m)^user_files = .*\n", "", manifest.read_text())
    assert "user_files" not in old
    manifest.write_text(old)
    route = project / ROUTE
    route.write_text(route.read_text() + "\n# mine\n")
    assert ci_step(project).returncode == EXIT_OK
    runtime = project / RUNTIME
    runtime.write_text(runtime.read_text() + "\n# mine\n")
    assert ci_step(project).returncode == EXIT_CHECK_EDITED


def test_an_acceptance_outlives_the_destroy_of_another_endpoint(
    project: Path,
) -> None:
    other = run_wsgen("news", "--broadcast", "--yes", "--no-verify", cwd=project)
    assert other.returncode == 0, other.stdout + other.stderr
    runtime = project / RUNTIME
    runtime.write_text(runtime.read_text() + "\n# ours\n")
    assert run_wsgen("check", "--accept", RUNTIME, cwd=project).returncode == EXIT_OK
    destroyed = run_wsgen("destroy", "news", cwd=project)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert (
        f'"{RUNTIME}" = "{hash_of(runtime)}"' in (project / ".wsgen.toml").read_text()
    )
    assert ci_step(project).returncode == EXIT_OK
