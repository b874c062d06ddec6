"""The Plan: classify each file, then apply all of it or nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wsgen.build.manifest import content_hash
from wsgen.build.plan import FileChange, Plan, apply, classify
from wsgen.errors import RefusedError


def tree_state(root: Path) -> tuple[dict[str, bytes], set[str], dict[str, int]]:
    files, dirs, modes = {}, set(), {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            dirs.add(rel)
        else:
            files[rel] = path.read_bytes()
            modes[rel] = stat.S_IMODE(path.stat().st_mode)
    return files, dirs, modes


def make_plan(*changes: FileChange) -> Plan:
    return Plan(
        endpoint="chat",
        options={},
        url_path="/ws/chat",
        layout={},
        changes=list(changes),
    )


@pytest.fixture
def host(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_bytes(b"app = FastAPI()\r\n")
    (tmp_path / "pyproject.toml").write_bytes(b"[project]\n")
    (tmp_path / "run.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(tmp_path / "run.sh", 0o750)
    return tmp_path


def full_plan(root: Path) -> Plan:
    return make_plan(
        FileChange("app/websocket/__init__.py", "create", "runtime", b""),
        FileChange(
            "app/websocket/manager.py", "create", "runtime", b"class Manager: ...\n"
        ),
        FileChange(
            "app/main.py",
            "edit",
            "registration",
            b"app = FastAPI()\r\nx = 1\r\n",
            (root / "app/main.py").read_bytes(),
        ),
        FileChange("app/routers/deep/chat.py", "create", "endpoint", b"router = 1\n"),
        FileChange(
            "run.sh", "overwrite", "endpoint", b"#!/bin/sh\necho\n", b"#!/bin/sh\n"
        ),
        FileChange(
            "pyproject.toml",
            "identical",
            "dependencies",
            b"[project]\n",
            b"[project]\n",
        ),
        FileChange("skipped.py", "conflict", "endpoint", b"new\n", b"old\n"),
        FileChange(".wsgen.toml", "create", "manifest", b"# manifest\n"),
    )


def test_apply_writes_everything(host: Path) -> None:
    apply(host, full_plan(host))
    files, dirs, _modes = tree_state(host)
    assert files["app/main.py"] == b"app = FastAPI()\r\nx = 1\r\n"
    assert files["app/routers/deep/chat.py"] == b"router = 1\n"
    assert files["app/websocket/__init__.py"] == b""
    assert files["run.sh"] == b"#!/bin/sh\necho\n"
    assert files[".wsgen.toml"] == b"# manifest\n"
    assert "skipped.py" not in files  # conflicts and identical files are not written
    assert {"app/routers", "app/routers/deep", "app/websocket"} <= dirs
    assert not [f for f in files if "wsgen-tmp" in f or "wsgen-bak" in f]


def test_apply_keeps_modes_of_existing_files(host: Path) -> None:
    os.chmod(host / "app/main.py", 0o640)
    apply(host, full_plan(host))
    _, _, modes = tree_state(host)
    assert modes["run.sh"] == 0o750
    assert modes["app/main.py"] == 0o640


def test_new_files_follow_the_umask(host: Path) -> None:
    old = os.umask(0o027)
    try:
        apply(host, full_plan(host))
    finally:
        os.umask(old)
    _, _, modes = tree_state(host)
    assert modes["app/routers/deep/chat.py"] == 0o640


@pytest.mark.parametrize("failing_call", [1, 2, 3, 4, 6], ids=lambda n: f"replace-{n}")
def test_apply_is_atomic(
    host: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    before = tree_state(host)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] == failing_call:
            raise OSError("disk full")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        apply(host, full_plan(host))
    monkeypatch.undo()
    assert tree_state(host) == before


def test_apply_is_atomic_when_a_write_fails(
    host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree_state(host)
    real_fdopen = os.fdopen
    calls = {"n": 0}

    def flaky_fdopen(*args: object, **kwargs: object):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("no space")
        return real_fdopen(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fdopen", flaky_fdopen)
    with pytest.raises(OSError, match="no space"):
        apply(host, full_plan(host))
    monkeypatch.undo()
    assert tree_state(host) == before


def test_read_only_file_is_refused_before_any_write(
    host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree_state(host)
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode: False if str(p).endswith("main.py") else real_access(p, mode),
    )
    with pytest.raises(RefusedError, match="app/main.py is read-only"):
        apply(host, full_plan(host))
    assert tree_state(host) == before


def test_read_only_folder_is_refused_before_any_write(
    host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree_state(host)
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode: False if Path(p) == host / "app" else real_access(p, mode),
    )
    with pytest.raises(RefusedError, match="Cannot write into app"):
        apply(host, full_plan(host))
    assert tree_state(host) == before


def test_empty_plan_writes_nothing(host: Path) -> None:
    before = tree_state(host)
    apply(
        host,
        make_plan(
            FileChange(
                "pyproject.toml", "identical", "x", b"[project]\n", b"[project]\n"
            )
        ),
    )
    assert tree_state(host) == before


# --- classify -----------------------------------------------------------------


def cls(
    new: bytes, old: bytes | None, owned: bytes | None = None, force: bool = False
) -> FileChange:
    return classify(
        "app/websocket/manager.py", "runtime", new, old,
        owned_hash=content_hash(owned) if owned is not None else None,
        force=force, old_hash=content_hash(old) if old is not None else None,
    )  # fmt: skip


@pytest.mark.parametrize(
    "new, old, owned, force, action, writes",
    [
        (b"n", None, None, False, "create", True),
        (b"n", None, b"n", True, "create", True),
        (b"n", b"n", None, False, "identical", False),
        (b"n", b"n", b"x", True, "identical", False),
        (b"n", b"o", b"o", False, "update", True),
        (b"n", b"o", None, False, "conflict", False),
        (b"n", b"o", b"generated", False, "conflict", False),
        (b"n", b"o", None, True, "overwrite", True),
        (b"n", b"o", b"generated", True, "overwrite", True),
    ],
    ids=[
        "new",
        "new-forced",
        "same",
        "same-owned",
        "owned-unedited",
        "foreign",
        "owned-edited",
        "foreign-forced",
        "owned-edited-forced",
    ],
)
def test_classify(
    new: bytes,
    old: bytes | None,
    owned: bytes | None,
    force: bool,
    action: str,
    writes: bool,
) -> None:
    change = cls(new, old, owned, force)
    assert change.action == action
    assert change.writes is writes
    assert change.new == new


def test_conflict_reasons() -> None:
    assert cls(b"n", b"o").reason == "exists and differs"
    assert cls(b"n", b"o", b"g").reason == "edited since wsgen generated it"


def test_plan_json_lists_conflicts_and_diffs() -> None:
    plan = make_plan(
        FileChange(
            "a.py", "conflict", "endpoint", b"new\n", b"old\n", "exists and differs"
        ),
        FileChange("b.py", "create", "runtime", b"x\n"),
    )
    data = plan.to_json(applied=False)
    assert data["conflicts"] == ["a.py"]
    assert [f["action"] for f in data["files"]] == ["conflict", "create"]
    assert "-old\n+new\n" in data["files"][0]["diff"]
    assert "diff" not in data["files"][1]
    assert data["applied"] is False


def test_diff_of_file_without_final_newline_is_well_formed() -> None:
    diff = FileChange("a.py", "edit", "registration", b"a\nb", b"a\n").diff()
    assert diff.endswith("\n")
    assert "+b\n" in diff
