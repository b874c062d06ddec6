"""`wsgen destroy NAME`: undo a generation, from the manifest alone.

Generated files unchanged since generation are removed; edited ones are kept
and listed (removed with --force). The registration lines come out of the
host file, and with the last endpoint go the shared runtime, the manifest
and the exact text wsgen inserted into dependency lists. A file that stays
and still imports a module destroy would remove stops it: that would leave
an app that no longer imports.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from wsgen.build import features
from wsgen.build.deps import import_name
from wsgen.build.manifest import (
    MANIFEST_NAME,
    DependencyInsert,
    Manifest,
    content_hash,
    dumps,
    read_manifest,
)
from wsgen.build.plan import Action, FileChange, Group, Plan
from wsgen.commands.generate import BASE_DIR, base_path
from wsgen.errors import RefusedError
from wsgen.host.projectconfig import canonical, requirement_name
from wsgen.host.sources import ProjectFiles, read_text, scan_project


def remove_registration(
    text: str, import_line: str, include_line: str, blank: bool
) -> str:
    """The host file without the two lines wsgen added (and its blank line)."""
    lines = text.splitlines(keepends=True)
    for wanted in (include_line, import_line):
        for index, line in enumerate(lines):
            # In a late import block the import carries ruff's E402 marker.
            if line.split("  # noqa", 1)[0].strip() == wanted:
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


def undo_insert(text: str, edit: DependencyInsert) -> str | None:
    """`text` without what `edit` inserted; None when it is no longer there
    once (edited since, or ambiguous)."""
    end = edit.at + len(edit.text)
    if text[edit.at : end] == edit.text:
        return text[: edit.at] + text[end:]
    if text.count(edit.text) == 1:
        at = text.index(edit.text)
        return text[:at] + text[at + len(edit.text) :]
    return None


def _importers(files: ProjectFiles, module: str, skip: set[str]) -> list[str]:
    """Files outside `skip` that import `module` (a top-level name)."""
    pattern = re.compile(rf"^\s*(import|from)\s+{re.escape(module)}\b", re.MULTILINE)
    return [
        rel
        for rel, text in sorted(files.texts.items())
        if rel not in skip and pattern.search(text)
    ]


def _module_of(path: str, base: str) -> str | None:
    """The dotted module a .py file is imported as, from the import root `base`."""
    if not path.endswith(".py") or not path.startswith(base):
        return None
    parts = path[len(base) : -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) if parts else None


def _imported_modules(
    tree: ast.Module, module: str | None, is_package: bool
) -> set[str]:
    """Every module name an import in `tree` may refer to (absolute)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if module is None:
                    continue
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                if keep < 0:
                    continue
                prefix = ".".join(parts[:keep])
                source = ".".join(p for p in (prefix, node.module or "") if p)
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def refuse_dangling_imports(
    texts: dict[str, str], removed: set[str], base: str, kept_generated: set[str]
) -> None:
    """Refuse when a file that stays imports a module that goes."""
    stem = {m.rsplit(".", 1)[-1] for m in removed}
    for path, text in sorted(texts.items()):
        if not any(name in text for name in stem):
            continue  # cheap: no file imports a module without naming it
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        module = _module_of(path, base)
        imported = _imported_modules(tree, module, path.endswith("__init__.py"))
        hit = sorted(
            name
            for name in imported
            if any(name == m or name.startswith(m + ".") for m in removed)
        )
        if hit:
            how = (
                "Re-run with --force to remove it too, or take that import out"
                if path in kept_generated
                else "Take that import out first"
            )
            raise RefusedError(
                f"{path} imports {hit[0]}, which destroy would remove.",
                hint=f"{how}; nothing was changed.",
            )


def _file_change(
    root: Path, path: str, recorded: str, force: bool, group: Group
) -> FileChange | None:
    target = root / path
    if not target.is_file():
        return None
    data = target.read_bytes()
    if content_hash(data) == recorded:
        return FileChange(path, Action.DELETE, group, b"", data)
    if force:
        return FileChange(
            path, Action.DELETE, group, b"", data, "edited since generation; --force"
        )
    return FileChange(
        path,
        Action.KEEP,
        group,
        data,
        data,
        "edited since generation; kept (--force removes it)",
    )


def _import_root(manifest: Manifest) -> str:
    """The folder modules are imported from (`src/` in a src layout)."""
    tail = str(manifest.runtime_context.get("runtime_module", "")).replace(".", "/")
    folder = manifest.runtime_dir
    return folder[: len(folder) - len(tail)] if tail and folder.endswith(tail) else ""


def _refuse_if_still_imported(
    root: Path,
    manifest: Manifest,
    plan: Plan,
    files: ProjectFiles,
    new_host: tuple[str, str] | None,
) -> None:
    deleted = {c.path for c in plan.changes if c.action == Action.DELETE}
    base = _import_root(manifest)
    # A package whose folder keeps modules of yours still imports (as a
    # namespace package): only modules that really go count.
    removed = {
        m
        for path in deleted
        if (m := _module_of(path, base))
        and not (
            path.endswith("/__init__.py")
            and any(
                other.relative_to(root).as_posix() not in deleted
                for other in (root / path).parent.rglob("*.py")
            )
        )
    }
    if not removed:
        return
    kept = {c.path for c in plan.changes if c.action == Action.KEEP}
    texts = {p: t for p, t in files.texts.items() if p not in deleted}
    for path in kept:
        if path.endswith(".py"):
            texts[path] = read_text(root / path)
    if new_host is not None:
        texts[new_host[0]] = new_host[1]
    refuse_dangling_imports(texts, removed, base, kept)


def _base_copies(
    root: Path, endpoint_files: dict[str, str], last: bool
) -> list[FileChange]:
    """upgrade's pristine copies: the endpoint's, and all of them with the last."""
    if last:
        folder = root / BASE_DIR
        paths = (
            sorted(
                p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_file()
            )
            if folder.is_dir()
            else []
        )
    else:
        paths = [base_path(p) for p in sorted(endpoint_files)]
    return [
        FileChange(path, Action.DELETE, Group.BASE, b"", (root / path).read_bytes())
        for path in paths
        if (root / path).is_file()
    ]


def _dependency_changes(
    root: Path,
    manifest: Manifest,
    files: ProjectFiles,
    generated: set[str],
    plan: Plan,
    still_required: set[str],
) -> tuple[list[FileChange], list[str], list[DependencyInsert]]:
    """Take out, newest first, exactly what generation inserted that no
    endpoint left needs: the changes, the requirements removed, and the
    insertions still recorded (shrunk where part of one went)."""
    if not manifest.dependency_edits:
        return _legacy_dependency_changes(
            root, manifest, files, generated, plan, still_required
        )
    texts: dict[str, tuple[bytes, str]] = {}
    removed: list[str] = []
    kept: list[DependencyInsert] = []
    for edit in reversed(manifest.dependency_edits):
        freed = [
            r for r in edit.requirements if requirement_name(r) not in still_required
        ]
        path = root / edit.file
        if not freed or (edit.file not in texts and not path.is_file()):
            kept.append(edit)
            continue
        if edit.file not in texts:
            old = path.read_bytes()
            texts[edit.file] = (old, old.decode("utf-8"))
        old, text = texts[edit.file]
        users = [
            f"{req} ({', '.join(found)} imports {module})"
            for req in freed
            if (module := import_name(req))
            and (found := _importers(files, module, generated))
        ]
        if users:
            plan.warnings.append(
                f"kept the dependency lines wsgen added to {edit.file}: "
                + "; ".join(users)
            )
            kept.append(edit)
            continue
        # What stays of the insertion is recorded, so that undoing the rest
        # later still gives back the original bytes.
        rest = tuple(r for r in edit.requirements if r not in freed)
        shrunk = DependencyInsert(
            edit.file, edit.at, remove_dependencies(edit.text, freed), rest
        )
        new_text = undo_insert(text, edit)
        if new_text is not None and rest:
            at = (
                shrunk.at
                if text[edit.at :].startswith(edit.text)
                else text.index(edit.text)
            )
            new_text = new_text[:at] + shrunk.text + new_text[at:]
        if new_text is None or (rest and shrunk.text == edit.text):
            plan.warnings.append(
                f"the dependency lines wsgen added to {edit.file} were changed; "
                "left as they are: " + ", ".join(freed)
            )
            kept.append(edit)
            continue
        texts[edit.file] = (old, new_text)
        removed.extend(freed)
        if rest:
            kept.append(shrunk)
    if removed:
        plan.notes.append("dependencies removed: " + ", ".join(sorted(removed)))
    changes = [
        FileChange(file, Action.EDIT, Group.DEPENDENCIES, text.encode("utf-8"), old)
        for file, (old, text) in sorted(texts.items())
        if text.encode("utf-8") != old
    ]
    return changes, removed, list(reversed(kept))


def _legacy_dependency_changes(
    root: Path,
    manifest: Manifest,
    files: ProjectFiles,
    generated: set[str],
    plan: Plan,
    still_required: set[str],
) -> tuple[list[FileChange], list[str], list[DependencyInsert]]:
    """Manifests written before edits were recorded: drop the lines by name."""
    removable = [
        spec
        for spec in manifest.dependencies
        if requirement_name(spec) not in still_required
        and (
            not (module := import_name(spec))
            or not _importers(files, module, generated)
        )
    ]
    for dep_file in ("pyproject.toml", "requirements.txt"):
        dep_path = root / dep_file
        if removable and dep_path.is_file():
            old = dep_path.read_bytes()
            new_text = remove_dependencies(old.decode("utf-8"), removable)
            if new_text.encode("utf-8") != old:
                plan.notes.append("dependencies removed: " + ", ".join(removable))
                change = FileChange(dep_file, Action.EDIT, Group.DEPENDENCIES,
                                    new_text.encode("utf-8"), old)  # fmt: skip
                return [change], removable, []
    return [], [], list(manifest.dependency_edits)


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
    # What the other endpoints still need of the shared runtime stays.
    still = features.union(
        r.options for n, r in manifest.endpoints.items() if n != record.name
    )
    needed = {
        f"{manifest.runtime_dir}/{module}.py"
        for module in features.runtime_modules(still)
    }
    kept_names = features.project_file_names(still)
    needed |= {p for p in manifest.runtime_files if p.rsplit("/", 1)[-1] in kept_names}
    owned = dict(record.files)
    owned.update({p: h for p, h in manifest.runtime_files.items() if p not in needed})
    if last:
        owned.update(manifest.package_files)
    for path, recorded in sorted(owned.items()):
        group = Group.ENDPOINT if path in record.files else Group.RUNTIME
        change = _file_change(root, path, recorded, force, group)
        if change is not None:
            plan.changes.append(change)

    reg = record.registration
    host = root / reg.get("file", "")
    new_host: str | None = None
    if host.is_file():
        old = host.read_bytes()
        text = old.decode("utf-8")
        new_host = remove_registration(
            text,
            reg.get("import", ""),
            reg.get("include", ""),
            bool(reg.get("added_blank_line")),
        )
        if new_host != text:
            plan.changes.append(
                FileChange(
                    reg["file"],
                    Action.EDIT,
                    Group.REGISTRATION,
                    new_host.encode("utf-8"),
                    old,
                )
            )

    files = scan_project(root)
    host_after = (reg["file"], new_host) if new_host is not None else None
    _refuse_if_still_imported(root, manifest, plan, files, host_after)
    plan.changes.extend(_base_copies(root, record.files, last))
    # Dependencies go with the last endpoint whose features need them.
    generated = set(owned) | set(manifest.owned_files())
    still_required = set(features.requirements(still))
    dep_changes, removed, edits_left = _dependency_changes(
        root, manifest, files, generated, plan, still_required
    )
    plan.changes.extend(dep_changes)

    manifest_path = root / MANIFEST_NAME
    old_manifest = manifest_path.read_bytes()
    kept = [c for c in plan.changes if c.action == Action.KEEP]
    if last:  # edited files that stay are the user's now, no longer wsgen's
        plan.changes.append(
            FileChange(MANIFEST_NAME, Action.DELETE, Group.MANIFEST, b"", old_manifest)
        )
    else:
        remaining = Manifest(
            version=manifest.version,
            runtime_dir=manifest.runtime_dir,
            runtime_files={
                p: h for p, h in manifest.runtime_files.items() if p not in owned
            },
            runtime_context=manifest.runtime_context,
            package_files=dict(manifest.package_files),
            dependencies=[d for d in manifest.dependencies if d not in removed],
            dependency_edits=edits_left,
            blobs={p: b for p, b in manifest.blobs.items() if p not in owned},
            endpoints={k: v for k, v in manifest.endpoints.items() if k != record.name},
        )
        staying = remaining.all_hashes()  # accepted edits of files that remain
        remaining.accepted = {
            p: h for p, h in manifest.accepted.items() if p in staying
        }
        new_manifest = dumps(remaining).encode("utf-8")
        plan.changes.append(
            FileChange(
                MANIFEST_NAME, Action.EDIT, Group.MANIFEST, new_manifest, old_manifest
            )
        )
    if kept:
        plan.warnings.append("kept edited files: " + ", ".join(c.path for c in kept))
    return plan
