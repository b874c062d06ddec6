"""`wsgen destroy NAME`: undo a generation, from the manifest alone.

Generated files unchanged since generation are removed; edited ones are kept
and listed (removed with --force). The registration lines come out of the
host file, and with the last endpoint go the shared runtime, the manifest
and the dependencies wsgen added that nothing else imports.
"""

from __future__ import annotations

import re
from pathlib import Path

from wsgen.errors import RefusedError
from wsgen.generate import base_path
from wsgen.manifest import MANIFEST_NAME, Manifest, content_hash, dumps, read_manifest
from wsgen.plan import FileChange, Plan
from wsgen.projectconfig import canonical, requirement_name
from wsgen.scan import scan_project

# What each dependency wsgen may add is imported as, to tell if host code still uses it.
IMPORT_NAMES = {"pyjwt": "jwt", "structlog": "structlog"}


def remove_registration(
    text: str, import_line: str, include_line: str, blank: bool
) -> str:
    """The host file without the two lines wsgen added (and its blank line)."""
    lines = text.splitlines(keepends=True)
    for wanted in (include_line, import_line):
        for index, line in enumerate(lines):
            if line.strip() == wanted:
                del lines[index]
                if (
                    wanted == import_line
                    and blank
                    and index > 0
                    and not lines[index - 1].strip()
                ):
                    del lines[index - 1]
                break
    return "".join(lines)


def remove_dependencies(text: str, specs: list[str]) -> str:
    """Drop lines that hold exactly one of `specs` (as wsgen wrote them)."""
    wanted = {canonical(spec) for spec in specs}
    out = []
    for line in text.splitlines(keepends=True):
        bare = line.strip().rstrip(",").strip().strip('"').strip("'")
        if canonical(bare) in wanted:
            continue
        poetry = re.match(r'^\s*([A-Za-z0-9_.-]+)\s*=\s*">=([^"]+)"\s*$', line)
        if poetry and canonical(f"{poetry.group(1)}>={poetry.group(2)}") in wanted:
            continue
        out.append(line)
    return "".join(out)


def _still_imported(root: Path, module: str, generated: set[str]) -> bool:
    files = scan_project(root)
    pattern = re.compile(rf"^\s*(import|from)\s+{re.escape(module)}\b", re.MULTILINE)
    return any(
        pattern.search(text)
        for rel, text in files.texts.items()
        if rel not in generated
    )


def _file_change(
    root: Path, path: str, recorded: str, force: bool, group: str
) -> FileChange | None:
    target = root / path
    if not target.is_file():
        return None
    data = target.read_bytes()
    if content_hash(data) == recorded:
        return FileChange(path, "delete", group, b"", data)
    if force:
        return FileChange(
            path, "delete", group, b"", data, "edited since generation; --force"
        )
    return FileChange(
        path,
        "keep",
        group,
        data,
        data,
        "edited since generation; kept (--force removes it)",
    )


def build_destroy(root: Path, name: str, *, force: bool) -> Plan:
    manifest = read_manifest(root)
    if manifest is None:
        raise RefusedError(
            f"No {MANIFEST_NAME} in {root}: wsgen has generated nothing here.",
            hint="Pass --project DIR if the project is elsewhere.",
            code="no_manifest",
        )
    record = manifest.endpoints.get(name) or manifest.endpoints.get(
        name.replace("-", "_")
    )
    if record is None:
        known = ", ".join(sorted(manifest.endpoints)) or "none"
        raise RefusedError(
            f"No endpoint {name!r} in {MANIFEST_NAME} (endpoints: {known}).",
            hint="Run `wsgen list` to see them.",
            code="unknown_endpoint",
        )
    last = len(manifest.endpoints) == 1
    plan = Plan(
        endpoint=record.name,
        options=record.options,
        url_path=str(record.options.get("path", "")),
        layout={},
    )
    owned = dict(record.files)
    if last:
        owned.update(manifest.runtime_files)
        owned.update(manifest.package_files)
    for path, recorded in sorted(owned.items()):
        group = "endpoint" if path in record.files else "runtime"
        change = _file_change(root, path, recorded, force, group)
        if change is not None:
            plan.changes.append(change)

    for change in list(plan.changes):
        base = root / base_path(change.path)
        if change.action in ("delete", "keep") and base.is_file():
            data = base.read_bytes()
            plan.changes.append(
                FileChange(base_path(change.path), "delete", "base", b"", data)
            )

    reg = record.registration
    host = root / reg.get("file", "")
    if host.is_file():
        old = host.read_bytes()
        text = old.decode("utf-8")
        new = remove_registration(
            text,
            reg.get("import", ""),
            reg.get("include", ""),
            bool(reg.get("added_blank_line")),
        )
        if new != text:
            plan.changes.append(
                FileChange(
                    reg["file"], "edit", "registration", new.encode("utf-8"), old
                )
            )

    if last and manifest.dependencies:
        generated = set(owned)
        removable = [
            spec
            for spec in manifest.dependencies
            if (name_ := requirement_name(spec)) in IMPORT_NAMES
            and not _still_imported(root, IMPORT_NAMES[name_], generated)
        ]
        for dep_file in ("pyproject.toml", "requirements.txt"):
            dep_path = root / dep_file
            if removable and dep_path.is_file():
                old = dep_path.read_bytes()
                new_text = remove_dependencies(old.decode("utf-8"), removable)
                if new_text.encode("utf-8") != old:
                    plan.changes.append(
                        FileChange(
                            dep_file,
                            "edit",
                            "dependencies",
                            new_text.encode("utf-8"),
                            old,
                        )
                    )
                    plan.notes.append("dependencies removed: " + ", ".join(removable))
                    break

    manifest_path = root / MANIFEST_NAME
    old_manifest = manifest_path.read_bytes()
    kept = [c for c in plan.changes if c.action == "keep"]
    if last:  # edited files that stay are the user's now, no longer wsgen's
        plan.changes.append(
            FileChange(MANIFEST_NAME, "delete", "manifest", b"", old_manifest)
        )
    else:
        remaining = Manifest(
            version=manifest.version,
            runtime_dir=manifest.runtime_dir,
            runtime_files=dict(manifest.runtime_files),
            runtime_context=manifest.runtime_context,
            package_files=dict(manifest.package_files),
            dependencies=manifest.dependencies,
            endpoints={k: v for k, v in manifest.endpoints.items() if k != record.name},
        )
        new_manifest = dumps(remaining).encode("utf-8")
        plan.changes.append(
            FileChange(MANIFEST_NAME, "edit", "manifest", new_manifest, old_manifest)
        )
    if kept:
        plan.warnings.append("kept edited files: " + ", ".join(c.path for c in kept))
    return plan
