"""Generated code lives on: list and destroy work from the manifest alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE_NAMES, copy_example, run_wsgen, snapshot
from wsgen.build.render import runtime_source_dir

pytestmark = pytest.mark.e2e

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_destroy_restores_the_original_tree(example: str, tmp_path: Path) -> None:
    project = copy_example(example, tmp_path)
    original = snapshot(project)
    for args in (["chat", "--auth", "--rooms", "--broadcast"], ["feed", "--broadcast"]):
        result = run_wsgen(*args, "--yes", "--no-verify", cwd=project)
        assert result.returncode == 0, result.stderr

    listed = json.loads(run_wsgen("list", "--json", cwd=project).stdout)
    assert [row["name"] for row in listed["endpoints"]] == ["chat", "feed"]
    assert all(row["status"] == "ok" for row in listed["endpoints"])

    route = next(
        p for p in snapshot(project) if p.endswith("/feed.py") and ".wsgen" not in p
    )
    (project / route).write_text((project / route).read_text() + "# mine\n")

    dry = run_wsgen("destroy", "feed", "--dry-run", "--json", cwd=project)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["applied"] is False
    assert (project / ".wsgen.toml").is_file()

    # chat still needs the runtime the edited feed module imports: kept.
    result = run_wsgen("destroy", "feed", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kept edited files: " + route in result.stdout

    # The kept module imports the runtime the last destroy would remove.
    before = snapshot(project)
    refused = run_wsgen("destroy", "chat", cwd=project)
    assert refused.returncode == 1
    assert f"{route} imports " in refused.stderr
    assert snapshot(project) == before

    (project / route).unlink()
    result = run_wsgen("destroy", "chat", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot(project) == original, "every byte is back, nothing left over"
    assert not (project / ".wsgen").exists()


def test_destroy_unknown_endpoint_names_the_known_ones(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    assert run_wsgen("chat", "--yes", "--no-verify", cwd=project).returncode == 0
    before = snapshot(project)
    result = run_wsgen("destroy", "nope", cwd=project)
    assert result.returncode == 1
    assert "endpoints: chat" in result.stderr
    assert snapshot(project) == before


def test_project_templates_shadow_the_built_in_ones(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    override = project / ".wsgen/templates/endpoint/{{name}}.py.jinja"
    override.parent.mkdir(parents=True)
    override.write_text(
        "# Our team's {{ name }} endpoint\nfrom fastapi import APIRouter\n\n"
        "router = APIRouter()\n\n\n@router.websocket({{ path | tojson }})\n"
        "async def {{ name }}_socket(websocket) -> None:  # type: ignore[no-untyped-def]\n"
        "    await websocket.accept()\n"
    )
    result = run_wsgen("chat", "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    route = (project / "app/routers/chat.py").read_text()
    assert route.startswith("# Our team's chat endpoint")
    assert "Verified" in result.stdout
    assert run_wsgen("check", cwd=project).returncode == 0
    # the runtime, not overridden, is still wsgen's own source
    manager = (project / "app/websocket/manager.py").read_text()
    assert manager == (runtime_source_dir() / "manager.py").read_text()


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_upgrade_keeps_hand_edits_through_a_flag_change(
    example: str, tmp_path: Path
) -> None:
    project = copy_example(example, tmp_path)
    original = snapshot(project)
    assert (
        run_wsgen("chat", "--rooms", "--yes", "--no-verify", cwd=project).returncode
        == 0
    )
    route = next(
        p for p in snapshot(project) if p.endswith("/chat.py") and ".wsgen" not in p
    )
    text = (project / route).read_text()
    edited = text.replace("manager = RoomManager()", "manager = RoomManager()  # ours")
    assert edited != text
    (project / route).write_text(edited + "# team note\n")

    same = run_wsgen("upgrade", "chat", "--no-verify", cwd=project)
    assert same.returncode == 0, same.stdout + same.stderr
    assert (project / route).read_text() == edited + "# team note\n"

    changed = run_wsgen("upgrade", "chat", "--auth", "--no-verify", cwd=project)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    merged = (project / route).read_text()
    assert "# ours" in merged and merged.endswith("# team note\n")
    assert "authenticate" in merged, "the new flag reached the edited file"
    assert "<<<<<<<" not in merged
    listed = json.loads(run_wsgen("list", "--json", cwd=project).stdout)["endpoints"][0]
    # The route module is the user's: its edits are expected, not drift.
    assert listed["auth"] is True and listed["status"] == "ok"

    refused = run_wsgen("destroy", "chat", cwd=project)
    assert refused.returncode == 1
    assert f"{route} imports " in refused.stderr and "--force" in refused.stderr
    result = run_wsgen("destroy", "chat", "--force", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot(project) == original


def test_upgrade_removes_runtime_modules_no_endpoint_needs(tmp_path: Path) -> None:
    """Earlier versions wrote backend.py into every project (the memory
    backend); it is Redis's now: upgrade removes it, unless edited."""
    from wsgen.build.manifest import MANIFEST_NAME, content_hash, dumps, read_manifest

    project = copy_example("app_package", tmp_path)
    result = run_wsgen("chat", "--rooms", "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = read_manifest(project)
    assert manifest is not None
    written = (runtime_source_dir() / "backend.py").read_text()
    for name, now in (("backend.py", written), ("memory.py", "# edited\n")):
        rel = f"{manifest.runtime_dir}/{name}"
        manifest.runtime_files[rel] = content_hash(written)
        (project / rel).write_text(now)
    (project / MANIFEST_NAME).write_text(dumps(manifest))

    result = run_wsgen("upgrade", "chat", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    runtime = project / manifest.runtime_dir
    assert not (runtime / "backend.py").exists()
    assert (runtime / "memory.py").read_text() == "# edited\n", "edited: kept"
    assert "rooms.py" in {p.name for p in runtime.iterdir()}
    assert "backend.py" not in (project / MANIFEST_NAME).read_text()
    assert run_wsgen("check", cwd=project).returncode == 0


def test_destroying_the_last_rooms_endpoint_removes_rooms(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    for args in (["ping"], ["chat", "--rooms"], ["lobby", "--rooms", "--broadcast"]):
        result = run_wsgen(*args, "--yes", "--no-verify", cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
    rooms = [project / "app/websocket/rooms.py", project / "tests/test_ws_rooms.py"]
    assert all(path.is_file() for path in rooms)
    assert run_wsgen("destroy", "chat", cwd=project).returncode == 0
    assert all(path.is_file() for path in rooms), "lobby still has rooms"
    assert run_wsgen("destroy", "lobby", cwd=project).returncode == 0
    assert not any(path.exists() for path in rooms)
    assert (project / "app/websocket/manager.py").is_file(), "ping keeps the core"
    assert run_wsgen("check", cwd=project).returncode == 0


def test_upgrade_marks_conflicts_and_exits_non_zero(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    assert run_wsgen("chat", "--yes", "--no-verify", cwd=project).returncode == 0
    route = project / "app/routers/chat.py"
    text = route.read_text()
    guest_line = next(
        line for line in text.splitlines() if "admit_guest(websocket" in line
    )
    route.write_text(text.replace(guest_line, guest_line + "  # our own guest rules"))
    result = run_wsgen("upgrade", "chat", "--auth", "--no-verify", cwd=project)
    assert result.returncode == 1
    assert "conflicts marked in app/routers/chat.py" in result.stderr
    merged = route.read_text()
    assert "<<<<<<< yours" in merged and "# our own guest rules" in merged
    assert "authenticate(websocket" in merged


APP_PACKAGE_DEPS = '[\n    "fastapi>=0.115",\n    "uvicorn[standard]>=0.30",\n]'
DEPENDENCY_FILES = {
    "one-line-list": (
        "app_package", "pyproject.toml",
        lambda t: t.replace(APP_PACKAGE_DEPS, '["fastapi>=0.115", "uvicorn[standard]>=0.30"]'),
        [],
    ),
    "comma-introduced": (
        "app_package", "pyproject.toml",
        lambda t: t.replace(APP_PACKAGE_DEPS, APP_PACKAGE_DEPS.replace('0",\n]', '0"\n]')),
        [],
    ),
    "fastapi-in-an-extra": (
        "app_package", "pyproject.toml",
        lambda t: t.replace(
            f"dependencies = {APP_PACKAGE_DEPS}", 'dependencies = ["pydantic>=2"]'
        ).replace("[project.optional-dependencies]\n",
                  f"[project.optional-dependencies]\nserver = {APP_PACKAGE_DEPS}\n"),
        [],
    ),
    "crlf-requirements": (
        "single_file", "requirements.txt", lambda t: t.replace("\n", "\r\n"), [],
    ),
    "crlf-pyproject": (
        "app_package", "pyproject.toml", lambda t: t.replace("\n", "\r\n"), [],
    ),
    "redis-backend": ("app_package", "pyproject.toml", lambda t: t, ["--backend", "redis"]),
}  # fmt: skip


@pytest.mark.parametrize("case", DEPENDENCY_FILES.values(), ids=DEPENDENCY_FILES.keys())
def test_destroy_restores_the_dependency_file_byte_for_byte(
    case: tuple[str, str, Any, list[str]], tmp_path: Path
) -> None:
    example, dep_file, change, args = case
    project = copy_example(example, tmp_path)
    path = project / dep_file
    changed = change(path.read_bytes().decode())
    assert changed != path.read_bytes().decode() or args, "the case changes the file"
    path.write_bytes(changed.encode())
    original = snapshot(project)

    result = run_wsgen("chat", "--auth", *args, "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    edited = path.read_bytes().decode()
    assert "structlog>=24.1" in edited
    if "\r\n" in changed:
        assert "\n" not in edited.replace("\r\n", ""), "line endings kept"
    if dep_file == "pyproject.toml":
        project_table = tomllib.loads(edited)["project"]
        if "server" in project_table.get("optional-dependencies", {}):
            assert project_table["dependencies"] == ["pydantic>=2"], "not into core"
            assert "pyjwt>=2.8" in project_table["optional-dependencies"]["server"]

    result = run_wsgen("destroy", "chat", "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot(project) == original


def test_destroy_leaves_nothing_of_its_own(tmp_path: Path) -> None:
    """A generated file the user deleted leaves no pristine copy behind."""
    project = copy_example("app_package", tmp_path)
    original = snapshot(project)
    result = run_wsgen("chat", "--rooms", "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    client = next(p for p in snapshot(project) if p.endswith("chat_client.js"))
    (project / client).unlink()
    result = run_wsgen("destroy", "chat", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert snapshot(project) == original
    assert not (project / ".wsgen").exists()


def _as_if_an_earlier_version_wrote(project: Path, rel: str) -> str:
    """Rewrite a generated file (and its manifest record) the way a different
    wsgen version would have generated it: this version re-renders otherwise."""
    from wsgen.build.manifest import content_hash, git_blob_id

    path = project / rel
    now = path.read_text()
    earlier = now.replace(
        '"""WebSocket endpoint', '"""An earlier WebSocket endpoint', 1
    )
    assert earlier != now
    manifest = project / ".wsgen.toml"
    text = manifest.read_text()
    for old, new in ((content_hash(now), content_hash(earlier)),
                     (git_blob_id(now), git_blob_id(earlier))):  # fmt: skip
        assert old in text
        text = text.replace(old, new)
    manifest.write_text(text)
    path.write_text(earlier)
    return earlier


def _git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=project, check=True, capture_output=True,
    )  # fmt: skip


def test_nothing_but_the_manifest_under_dot_wsgen(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    assert run_wsgen("chat", "--yes", "--no-verify", cwd=project).returncode == 0
    assert not (project / ".wsgen").exists()
    assert (project / ".wsgen.toml").is_file()


@pytest.mark.parametrize("with_git", [True, False], ids=["git", "no-git"])
def test_upgrade_takes_the_base_from_git_after_a_version_change(
    with_git: bool, tmp_path: Path
) -> None:
    project = copy_example("app_package", tmp_path)
    assert run_wsgen("chat", "--yes", "--no-verify", cwd=project).returncode == 0
    route = "app/routers/chat.py"
    earlier = _as_if_an_earlier_version_wrote(project, route)
    if with_git:
        _git(project, "init", "-q")
        _git(project, "add", "-A")
        _git(project, "commit", "-q", "-m", "generated")
    (project / route).write_text(earlier + "# team note\n")

    result = run_wsgen("upgrade", "chat", "--auth", "--no-verify", cwd=project)
    merged = (project / route).read_text()
    if with_git:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "<<<<<<<" not in merged
        assert merged.endswith("# team note\n")
        assert "authenticate(websocket" in merged
        assert "An earlier WebSocket endpoint" not in merged, "theirs took the change"
    else:
        # No base anywhere: yours against wsgen's, the whole file marked.
        assert result.returncode == 1
        assert "<<<<<<< yours" in merged and "# team note" in merged
        assert "authenticate(websocket" in merged


def test_upgrade_from_a_project_with_base_copies(tmp_path: Path) -> None:
    """Projects generated before kept pristine copies in .wsgen/base/: they
    serve as merge bases once and are removed."""
    project = copy_example("app_package", tmp_path)
    assert run_wsgen("chat", "--yes", "--no-verify", cwd=project).returncode == 0
    route = "app/routers/chat.py"
    earlier = _as_if_an_earlier_version_wrote(project, route)
    manifest = project / ".wsgen.toml"
    # Manifests of that layout had no blob ids.
    text = manifest.read_text()
    manifest.write_text(text[: text.index("[blobs]")].rstrip("\n") + "\n")
    copies = project / ".wsgen/base"
    for rel in ("app/routers/chat.py", "app/websocket/manager.py"):
        copy = copies / f"{rel}.base"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text((project / rel).read_text())
    (project / route).write_text(earlier + "# team note\n")

    result = run_wsgen("upgrade", "chat", "--auth", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    merged = (project / route).read_text()
    assert "<<<<<<<" not in merged and merged.endswith("# team note\n")
    assert "authenticate(websocket" in merged
    assert not (project / ".wsgen").exists(), "the copies are gone"
    assert "[blobs]" in manifest.read_text()
    # The route module is the user's: its edits never fail check.
    assert run_wsgen("check", cwd=project).returncode == 0
