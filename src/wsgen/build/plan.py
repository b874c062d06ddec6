"""The Plan: every change a run would make, computed before any write.

Per file, in the vocabulary of Rails and copier: create, identical, update
(ours, unedited, templates changed), conflict (exists and differs), edit
(the registration, dependencies, manifest). `apply` writes all of it
atomically or nothing.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from wsgen.errors import RefusedError

PLAN_SCHEMA_VERSION = 1


class Action(str, Enum):
    """What a run does to one file; the value is what `--json` prints."""

    CREATE = "create"
    IDENTICAL = "identical"
    UPDATE = "update"  # ours, unedited, and the templates changed
    CONFLICT = "conflict"  # exists and differs: nothing is written
    OVERWRITE = "overwrite"  # exists and differs; --force
    EDIT = "edit"  # registration, dependencies, manifest
    DELETE = "delete"
    KEEP = "keep"  # no longer generated, but edited: left alone
    MERGE = "merge"  # upgrade: the user's edits merged in
    MERGE_CONFLICT = "merge-conflict"  # upgrade: conflict markers written

    def __str__(self) -> str:
        return self.value


class Group(str, Enum):
    """Where a file belongs, for the plan's tree and `--json`."""

    PACKAGE = "package"  # an __init__.py making a folder a package
    RUNTIME = "runtime"
    ENDPOINT = "endpoint"
    TESTS = "tests"
    CLIENT = "client"
    REGISTRATION = "registration"
    DEPENDENCIES = "dependencies"
    MANIFEST = "manifest"
    AGENT = "agent"
    BASE = "base"  # copies under .wsgen/base/ from older versions, removed

    def __str__(self) -> str:
        return self.value


DIFFED = (
    Action.EDIT,
    Action.CONFLICT,
    Action.UPDATE,
    Action.OVERWRITE,
    Action.MERGE,
    Action.MERGE_CONFLICT,
)
WRITES = (
    Action.CREATE,
    Action.UPDATE,
    Action.OVERWRITE,
    Action.EDIT,
    Action.DELETE,
    Action.MERGE,
    Action.MERGE_CONFLICT,
)


@dataclass(frozen=True)
class FileChange:
    path: str
    action: Action
    group: Group
    new: bytes
    old: bytes | None = None
    reason: str = ""

    @property
    def writes(self) -> bool:
        return self.action in WRITES

    def diff(self) -> str:
        if self.old is None or self.old == self.new:
            return ""
        old = self.old.decode("utf-8", "replace").splitlines(keepends=True)
        new = self.new.decode("utf-8", "replace").splitlines(keepends=True)
        lines = difflib.unified_diff(old, new, f"a/{self.path}", f"b/{self.path}")
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass
class Plan:
    endpoint: str
    options: dict[str, Any]
    url_path: str
    layout: dict[str, Any]
    changes: list[FileChange] = field(default_factory=list)
    dependencies_added: list[str] = field(default_factory=list)
    dependencies_manual: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> list[FileChange]:
        return [c for c in self.changes if c.action == Action.CONFLICT]

    @property
    def writes(self) -> list[FileChange]:
        return [c for c in self.changes if c.writes]

    def plan_hash(self) -> str:
        """A digest of what applying would do: every path with its action,
        the bytes found and the bytes to write, and the dependency edits.

        Nothing else goes in (no times, no notes), so the same project and
        the same flags give the same hash, and `--expect-plan` refuses an
        apply whenever the project changed after the plan was shown.
        """
        digest = hashlib.sha256()
        for change in sorted(self.changes, key=lambda c: c.path):
            old = "-" if change.old is None else hashlib.sha256(change.old).hexdigest()
            new = hashlib.sha256(change.new).hexdigest()
            digest.update(f"{change.path}\0{change.action}\0{old}\0{new}\n".encode())
        for kind, specs in (
            ("added", self.dependencies_added),
            ("manual", self.dependencies_manual),
        ):
            digest.update(f"{kind}\0{chr(0).join(specs)}\n".encode())
        return digest.hexdigest()

    def to_json(
        self, *, applied: bool, verify: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "schema": PLAN_SCHEMA_VERSION,
            "plan_hash": self.plan_hash(),
            "endpoint": self.endpoint,
            "options": self.options,
            "url_path": self.url_path,
            "layout": self.layout,
            "files": [
                {
                    "path": c.path,
                    "action": c.action,
                    "group": c.group,
                    **({"reason": c.reason} if c.reason else {}),
                    **(
                        {"diff": c.diff()}
                        if c.action in DIFFED and c.group != Group.BASE
                        else {}
                    ),
                }
                for c in self.changes
            ],
            "dependencies": {
                "added": self.dependencies_added,
                "manual": self.dependencies_manual,
            },
            "notes": self.notes,
            "warnings": self.warnings,
            "conflicts": [c.path for c in self.conflicts],
            "applied": applied,
            "verify": verify,
        }


def classify(
    path: str,
    group: Group,
    new: bytes,
    old: bytes | None,
    *,
    owned_hash: str | None,
    force: bool,
    old_hash: str | None,
) -> FileChange:
    """Decide what to do with one generated file given what is on disk."""
    if old is None:
        return FileChange(path, Action.CREATE, group, new)
    if old == new:
        return FileChange(path, Action.IDENTICAL, group, new, old)
    if owned_hash is not None and owned_hash == old_hash:
        return FileChange(
            path, Action.UPDATE, group, new, old, "generated earlier, unedited"
        )
    if force:
        return FileChange(
            path, Action.OVERWRITE, group, new, old, "exists and differs; --force"
        )
    why = "edited since wsgen generated it" if owned_hash else "exists and differs"
    return FileChange(path, Action.CONFLICT, group, new, old, why)


# --- apply -------------------------------------------------------------------


def _check_writable(root: Path, changes: list[FileChange]) -> None:
    for change in changes:
        target = root / change.path
        if target.exists() and not os.access(target, os.W_OK):
            raise RefusedError(
                f"{change.path} is read-only.",
                hint="Make it writable (chmod u+w) and re-run; nothing was written.",
                code="read_only",
            )
        parent = target.parent
        while not parent.exists():
            parent = parent.parent
        if not os.access(parent, os.W_OK):
            raise RefusedError(
                f"Cannot write into {parent.relative_to(root) if parent != root else '.'}: permission denied.",
                hint="Make the folder writable and re-run; nothing was written.",
                code="read_only",
            )


def apply(root: Path, plan: Plan) -> None:
    """Write every change or none: temp files beside targets, then renames."""
    changes = plan.writes
    _check_writable(root, changes)
    created_dirs: list[Path] = []
    staged: list[tuple[Path, Path | None]] = []  # (target, temp file; None: delete)
    backups: list[tuple[Path, Path | None]] = []  # (target, backup or None if new)
    try:
        for change in changes:
            target = root / change.path
            if change.action == Action.DELETE:
                staged.append((target, None))
                continue
            missing = []
            parent = target.parent
            while not parent.exists():
                missing.append(parent)
                parent = parent.parent
            for directory in reversed(missing):
                directory.mkdir()
                created_dirs.append(directory)
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".wsgen-tmp", dir=target.parent
            )
            tmp = Path(tmp_name)
            staged.append(
                (target, tmp)
            )  # before writing: a failed write leaves it behind
            with os.fdopen(fd, "wb") as handle:
                handle.write(change.new)
            if target.exists():
                os.chmod(tmp, target.stat().st_mode & 0o7777)
            else:
                os.chmod(tmp, 0o666 & ~_umask())
        for target, staged_tmp in staged:
            backup = None
            if target.exists():
                fd, name = tempfile.mkstemp(
                    prefix=f".{target.name}.", suffix=".wsgen-bak", dir=target.parent
                )
                os.close(fd)
                backup = Path(name)
                try:
                    os.replace(target, backup)
                except BaseException:
                    backup.unlink()  # still the empty placeholder; target is intact
                    raise
            backups.append((target, backup))
            if staged_tmp is not None:
                os.replace(staged_tmp, target)
    except BaseException:
        for target, backup in reversed(backups):
            if backup is not None:
                os.replace(backup, target)
            elif target.exists():
                target.unlink()
        for _, leftover in staged:
            if leftover is not None:
                leftover.unlink(missing_ok=True)
        for directory in reversed(created_dirs):
            try:
                directory.rmdir()
            except OSError:
                pass
        raise
    for _, backup in backups:
        if backup is not None:
            backup.unlink(missing_ok=True)
    _remove_emptied_dirs(
        root, [root / c.path for c in changes if c.action == Action.DELETE]
    )


def _remove_emptied_dirs(root: Path, deleted: list[Path]) -> None:
    """Folders left empty by deletions go too, never the project root."""
    for path in sorted(deleted, key=lambda p: len(p.parts), reverse=True):
        parent = path.parent
        while parent != root and root in parent.parents:
            pycache = parent / "__pycache__"
            if pycache.is_dir() and len(list(parent.iterdir())) == 1:
                for item in pycache.iterdir():
                    item.unlink()
                pycache.rmdir()
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
