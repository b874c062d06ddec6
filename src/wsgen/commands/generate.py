"""One generation run: read the project, compute the Plan and the new manifest.

Reading happens here once; everything it calls is pure. Writing is left to
`plan.apply`, so `--dry-run` and `--json` share every step but the last.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsgen import __version__
from wsgen.build import features
from wsgen.build.deps import plan_dependencies
from wsgen.build.manifest import (
    MANIFEST_NAME,
    DependencyInsert,
    EndpointRecord,
    Manifest,
    content_hash,
    dumps,
    git_blob_id,
    read_manifest,
    route_module,
)
from wsgen.build.plan import Action, FileChange, Group, Plan, classify
from wsgen.build.registration import Registration
from wsgen.build.render import (
    Renderer,
    endpoint_context,
    endpoint_templates,
    package_inits,
    previous_rendering,
    relative_module,
    runtime_context,
)
from wsgen.build.spec import Spec
from wsgen.errors import RefusedError, UsageError, require_folder
from wsgen.host import fit
from wsgen.host.discover import Layout, discover, layout_summary
from wsgen.host.projectconfig import load_config
from wsgen.host.sources import ProjectFiles, scan_project

if TYPE_CHECKING:
    from wsgen.build.render import RenderedFile


@dataclass
class Generation:
    plan: Plan
    layout: Layout
    manifest_text: str


def project_root(project: Path | None) -> Path:
    root = (project or Path.cwd()).resolve()
    require_folder(
        root,
        f"--project {project}",
        missing="Give the folder of your FastAPI project.",
        is_file="Give the project's folder.",
        code="no_project",
    )
    return root


def _read(root: Path, rel: str) -> bytes | None:
    path = root / rel
    if path.is_dir():
        raise RefusedError(
            f"{rel} is a folder where wsgen would write a file.",
            hint="Move it or use another name.",
            code="conflict",
        )
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def first_party_names(paths: Iterable[str]) -> frozenset[str]:
    """Top-level modules and packages of the project, at its root or under
    src/: what ruff's isort counts as first-party by default."""
    names = set()
    for path in paths:
        parts = path.split("/")
        if parts[0] == "src" and len(parts) > 1:
            parts = parts[1:]
        head = parts[0].removesuffix(".py")
        if head.isidentifier():
            names.add(head)
    return frozenset(names)


def registration_for(
    spec: Spec, layout: Layout, first_party: frozenset[str] = frozenset()
) -> Registration:
    target = layout.target
    route_module = f"{layout.routes_module}.{spec.name}"
    import_module = route_module
    if target.relative_imports and "." in target.module:
        package = (
            target.module
            if target.file.endswith("__init__.py")
            else target.module.rsplit(".", 1)[0]
        )
        # Relative only within the app's package: a `..` above it would climb
        # out of the top-level package when the app is run from inside src/.
        inside = layout.package + "."
        if route_module.startswith(inside) and (package + ".").startswith(inside):
            import_module = relative_module(package, route_module)
    line = layout.app.line if target.kind != "aggregator" else 1
    return Registration(
        import_module,
        f"{spec.name}_ws_router",
        target.receiver,
        target.scope,
        target.file,
        line,
        first_party,
    )


def _registered_verbatim(source: bytes, reg: Registration) -> bool:
    text = source.decode("utf-8", "replace")
    lines = {line.split("  # noqa", 1)[0].strip() for line in text.splitlines()}
    return reg.import_line in lines and reg.include_line in lines


def _check_name_is_free(
    spec: Spec, layout: Layout, files: ProjectFiles, owned: frozenset[str]
) -> None:
    module_file = f"{layout.routes_dir}/{spec.name}.py"
    if module_file not in owned and (
        files.exists(module_file) or files.exists(f"{layout.routes_dir}/{spec.name}")
    ):
        raise UsageError(
            f"The name {spec.name!r} would shadow the existing module {module_file}.",
            hint=f"Choose another name, for example `{spec.name}_ws`.",
            code="name_taken",
        )
    if spec.name == layout.package:
        raise UsageError(
            f"The name {spec.name!r} is the name of your package.",
            hint=f"Choose another name, for example `{spec.name}_ws`.",
            code="name_taken",
        )


def build_generation(
    root: Path,
    spec: Spec,
    *,
    app_ref: str | None = None,
    force: bool = False,
    merge: bool = False,
) -> Generation:
    """The plan of a run; with `merge` (upgrade), edited files are merged."""
    config = load_config(root)
    manifest = read_manifest(root) or Manifest()
    owned = manifest.owned_files()
    files = scan_project(root)
    # The runtime is shared: a choice made by flag sticks for later runs.
    jwt_choice = spec.jwt_settings or manifest.runtime_context.get("jwt_settings")
    # Tests stay where earlier runs put them: a re-run never moves them.
    tests_dirs = (e.context.get("tests_dir") for e in manifest.endpoints.values())
    recorded_tests = next((d for d in tests_dirs if d), None)
    layout = discover(
        root,
        files,
        config,
        app_ref=app_ref,
        owned_files=owned,
        runtime_dir=manifest.runtime_dir or None,
        jwt_settings=jwt_choice,
        tests_dir=recorded_tests,
    )
    if layout.pydantic_major == 1:
        raise RefusedError(
            "This project uses pydantic v1; the generated code needs pydantic v2.",
            hint="Upgrade to pydantic>=2 (FastAPI supports it since 0.100) and re-run.",
            code="pydantic_v1",
        )
    fit_notes = fit.fastapi_notes(layout)
    if spec.auth_with is not None:
        fit.check_auth_with(files, spec.auth_with)
    _check_name_is_free(spec, layout, files, owned)
    for other, record in manifest.endpoints.items():
        if other != spec.name and record.options.get("path") == spec.path:
            raise RefusedError(
                f"The path {spec.path} is already used by the endpoint {other!r}.",
                hint="Choose another with --path.",
                code="path_taken",
            )
    if spec.path in layout.route_paths:
        raise RefusedError(
            f"A route at {spec.path} already exists ({layout.route_paths[spec.path]}).",
            hint=f"Choose another path with --path, e.g. --path {spec.path}-ws.",
            code="path_taken",
        )

    renderer = Renderer(root)
    rt_context = runtime_context(layout)
    if jwt_choice:
        rt_context["jwt_settings"] = jwt_choice
    ep_context = endpoint_context(spec, layout)
    options = spec_options(spec)
    # The runtime holds what any endpoint needs: this one and the others.
    wanted = features.union(
        [options] + [r.options for n, r in manifest.endpoints.items() if n != spec.name]
    )
    shared = package_inits(layout, lambda p: p not in owned and files.exists(p))
    shared += renderer.runtime(
        rt_context, layout.runtime_dir, features.runtime_modules(wanted)
    )
    shared += renderer.project(ep_context, wanted)
    serving = fit.serving_requirements(config)
    deps = plan_dependencies(config, {**features.requirements(wanted), **serving})
    template_notes: list[str] = []
    # A copier template replaces the endpoint's own files only: the runtime
    # is shared by every endpoint, so it stays wsgen's.
    if spec.template is None:
        endpoint_files = renderer.endpoint(
            ep_context, endpoint_templates(features.features_of(options))
        )
    else:
        endpoint_files, template_notes = _from_template(
            spec, ep_context, shared, manifest, layout, deps.file
        )
    rendered = shared + endpoint_files

    all_hashes = manifest.all_hashes()
    bases = Bases(root, manifest, renderer)
    changes: list[FileChange] = []
    for item in rendered:
        new = item.content.encode("utf-8")
        old = _read(root, item.path)
        change = classify(
            item.path, item.group, new, old,
            owned_hash=all_hashes.get(item.path), force=force,
            old_hash=content_hash(old) if old is not None else None,
        )  # fmt: skip
        if merge and change.action == Action.CONFLICT and item.path in all_hashes:
            change = _merged(change, bases.get(item.path, all_hashes[item.path]))
        changes.append(_kept_if_expected(change, all_hashes, manifest))
    rendered_paths = {item.path for item in rendered}
    dropped = dict(manifest.runtime_files)
    if merge and spec.name in manifest.endpoints:
        dropped.update(manifest.endpoints[spec.name].files)
    for path, recorded in sorted(dropped.items()):
        group = Group.RUNTIME if path in manifest.runtime_files else Group.ENDPOINT
        gone = _no_longer_generated(root, path, recorded, rendered_paths, group)
        if gone is not None:
            changes.append(gone)
    changes.extend(_legacy_base_removal(root))

    registration = registration_for(spec, layout, first_party_names(files.texts))
    host_source = _read(root, layout.target.file)
    assert host_source is not None
    if _registered_verbatim(host_source, registration):
        changed = False  # a re-run: no need to load libcst (a third of a run)
    else:
        from wsgen import edit_worker

        edit = edit_worker.register(host_source, registration)
        changed = edit.changed
    added_blank = False
    if changed:
        # A new import section brings a blank line; destroy removes it too.
        added = edit.new_source.count(b"\n") - host_source.count(b"\n")
        added_blank = added > int(edit.added_import) + int(edit.added_include)
        changes.append(
            FileChange(
                layout.target.file,
                Action.EDIT,
                Group.REGISTRATION,
                edit.new_source,
                host_source,
            )
        )

    if deps.file and deps.new_text is not None:
        old = _read(root, deps.file)
        changes.append(
            FileChange(
                deps.file,
                Action.EDIT,
                Group.DEPENDENCIES,
                deps.new_text.encode("utf-8"),
                old,
            )
        )

    inserted = (
        DependencyInsert(deps.file, deps.at, deps.inserted, deps.missing)
        if deps.file and deps.new_text is not None
        else None
    )
    new_manifest = _updated_manifest(
        manifest,
        spec,
        layout,
        rendered,
        registration,
        rt_context,
        ep_context,
        deps.missing if deps.file else (),
        added_blank,
        inserted,
    )
    new_manifest.accepted = _still_accepted(manifest.accepted, changes)
    manifest_text = dumps(new_manifest)
    old_manifest = _read(root, MANIFEST_NAME)
    manifest_bytes = manifest_text.encode("utf-8")
    action = (
        Action.CREATE
        if old_manifest is None
        else (Action.IDENTICAL if old_manifest == manifest_bytes else Action.EDIT)
    )
    changes.append(
        FileChange(MANIFEST_NAME, action, Group.MANIFEST, manifest_bytes, old_manifest)
    )

    plan = Plan(
        endpoint=spec.name,
        options=spec_options(spec),
        url_path=_url_path(layout, spec),
        layout=layout_summary(layout),
        changes=changes,
        dependencies_added=list(deps.missing) if deps.file else [],
        dependencies_manual=[] if deps.file else list(deps.missing),
    )
    plan.notes.extend(spec.notes)
    plan.notes.extend(layout.notes)
    plan.notes.extend(template_notes)
    if inserted is not None:
        in_file = "" if deps.where == deps.file else f" in {deps.file}"
        plan.notes.append(f"dependencies go into {deps.where}{in_file}")
    if layout.jwt is not None and spec.auth:
        plan.notes.append(
            f"JWT secret and algorithm come from your settings: {layout.jwt.module}:{layout.jwt.attr}"
            + ("()" if layout.jwt.call else "")
            + f".{layout.jwt.secret}"
            + (f" / .{layout.jwt.algorithm}" if layout.jwt.algorithm else "")
        )
    elif spec.auth:
        plan.notes.append(
            "JWT secret comes from the WS_JWT_SECRET environment variable (32 bytes or more)"
            + (" (--no-host-jwt)" if jwt_choice == "none" else "")
        )
    if layout.auth_functions and spec.auth:
        plan.notes.append("your auth helpers: " + ", ".join(layout.auth_functions))
    plan.notes.extend(fit_notes)
    if spec.auth:
        plan.notes.extend(fit.auth_notes(layout, spec.auth_with))
        short = fit.short_secret_warning(layout, _env_texts(root, layout))
        if short and spec.auth_with is None:
            plan.warnings.append(short)
    if set(serving.values()) & set(deps.missing):
        plan.notes.append(
            "your server (uvicorn) has no WebSocket library of its own:"
            f" {', '.join(serving.values())} is added (as uvicorn[standard] would)"
        )
    if layout.target.mount_line is not None:
        plan.notes.append(
            f"the include goes before the catch-all mount at {layout.target.file} line {layout.target.mount_line}"
        )
    if not changed:
        plan.notes.append(f"router already registered in {layout.target.file}")
    if spec.backend == "redis":
        plan.notes.append(
            "frames and presence go through Redis: set WS_REDIS_URL"
            " (default redis://localhost:6379/0) on every worker"
        )
    if not spec.auth:
        plan.warnings.append(
            "the endpoint is unauthenticated: every client gets a random guest id (use --auth)"
        )
    if plan.dependencies_manual:
        plan.warnings.append(
            "no dependency list found (pyproject.toml or requirements.txt); add yourself: "
            + ", ".join(plan.dependencies_manual)
        )
    return Generation(plan, layout, manifest_text)


def _env_texts(root: Path, layout: Layout) -> dict[str, str]:
    """The `.env` files the host's settings read (the project's own, or the
    one above it when the settings point there)."""
    candidates = [".env"]
    if layout.jwt is not None:
        settings = root / layout.jwt.file
        text = settings.read_text("utf-8", "replace") if settings.is_file() else ""
        if "../.env" in text:
            candidates.append("../.env")
    texts = {}
    for rel in candidates:
        path = root / rel
        if path.is_file():
            texts[rel] = path.read_text("utf-8", "replace")
    return texts


def _from_template(
    spec: Spec,
    context: dict[str, Any],
    shared: list[RenderedFile],
    manifest: Manifest,
    layout: Layout,
    deps_file: str | None,
) -> tuple[list[RenderedFile], list[str]]:
    """The endpoint's files from a copier template, kept off wsgen's own paths."""
    from wsgen.build import copier_source

    assert spec.template is not None
    output = copier_source.render(spec.template, spec.template_ref, context)
    reserved = {
        path: "part of the shared runtime"
        for path in [item.path for item in shared]
        + [*manifest.runtime_files, *manifest.package_files]
    }
    for other, record in manifest.endpoints.items():
        if other != spec.name:
            reserved.update(
                {p: f"a file of the endpoint {other!r}" for p in record.files}
            )
    reserved[layout.target.file] = "where wsgen registers the router"
    if deps_file:
        reserved[deps_file] = "the dependency list wsgen edits"
    copier_source.refuse_collisions(output.files, reserved, spec.template)
    return output.files, output.notes


# Earlier wsgen versions kept pristine copies of what they generated here;
# a run of this version uses them once (as merge bases) and removes them.
BASE_DIR = ".wsgen/base"
BASE_SUFFIX = ".base"


def base_path(path: str) -> str:
    return f"{BASE_DIR}/{path}{BASE_SUFFIX}"


def _template_commit(spec: Spec, rendered: list[RenderedFile]) -> dict[str, str]:
    """The copier template's commit, from its answers file: upgrade renders
    that commit again for the base of its merges."""
    if spec.template is None:
        return {}
    import re

    from wsgen.build.copier_source import answers_file

    answers = answers_file(spec.name)
    for item in rendered:
        if item.path.endswith(answers):
            found = re.search(r"(?m)^_commit:\s*['\"]?([^\s'\"]+)", item.content)
            if found:
                return {"template_commit": found.group(1)}
    return {}


def _legacy_base_removal(root: Path) -> list[FileChange]:
    folder = root / BASE_DIR
    if not folder.is_dir():
        return []
    changes = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            changes.append(
                FileChange(rel, Action.DELETE, Group.BASE, b"", path.read_bytes())
            )
    return changes


class Bases:
    """What wsgen generated before, for upgrade's merges; never kept in the tree.

    Tried in order, each accepted only if its hash is the one recorded: the
    copy an earlier version left in `.wsgen/base/`; a re-rendering of the
    recorded options with this version (right when the version is the same);
    the blob in the project's git repository, by the id the manifest recorded.
    """

    def __init__(self, root: Path, manifest: Manifest, renderer: Renderer) -> None:
        self.root = root
        self.manifest = manifest
        self.renderer = renderer
        self._rendered: dict[str, str] | None = None
        self._templates: dict[str, dict[str, str]] = {}

    def get(self, path: str, recorded: str) -> bytes | None:
        for source in (self._legacy_copy, self._rerendered, self._git_blob):
            data = source(path)
            if data is not None and content_hash(data) == recorded:
                return data
        return None

    def _legacy_copy(self, path: str) -> bytes | None:
        candidate = self.root / base_path(path)
        return candidate.read_bytes() if candidate.is_file() else None

    def _rerendered(self, path: str) -> bytes | None:
        for record in self.manifest.endpoints.values():
            if path in record.files and record.options.get("template"):
                return self._from_template(record, path)
        if self._rendered is None:
            import jinja2

            try:
                previous = previous_rendering(self.manifest, self.renderer)
            except jinja2.TemplateError:
                previous = []  # a context recorded by another version: not this way
            self._rendered = {item.path: item.content for item in previous}
        text = self._rendered.get(path)
        return text.encode("utf-8") if text is not None else None

    def _from_template(self, record: EndpointRecord, path: str) -> bytes | None:
        """The copier template at the recorded commit, rendered once per endpoint."""
        if record.name not in self._templates:
            from wsgen.build import copier_source
            from wsgen.errors import WsgenError

            try:
                output = copier_source.render(
                    str(record.options["template"]),
                    record.options.get("template_commit"),
                    record.context,
                )
                files = {item.path: item.content for item in output.files}
            except WsgenError:
                files = {}  # gone or unreadable: another source, or no base
            self._templates[record.name] = files
        text = self._templates[record.name].get(path)
        return text.encode("utf-8") if text is not None else None

    def _git_blob(self, path: str) -> bytes | None:
        import subprocess

        blob = self.manifest.blobs.get(path)
        if blob is None:
            return None
        try:
            proc = subprocess.run(
                ["git", "cat-file", "blob", blob],
                cwd=self.root, capture_output=True, timeout=30, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None  # no git here
        return proc.stdout if proc.returncode == 0 else None


def _merged(change: FileChange, base: bytes | None) -> FileChange:
    from wsgen.build.merge import merge3

    if change.old is None:
        return change
    # Without the base, the whole file is one conflict: yours against wsgen's.
    text, conflicts = merge3(
        (base or b"").decode("utf-8"),
        change.old.decode("utf-8"),
        change.new.decode("utf-8"),
    )
    action, reason = (
        (Action.MERGE, "your edits kept")
        if not conflicts
        else (Action.MERGE_CONFLICT, f"{conflicts} conflict(s) marked in the file")
    )
    return FileChange(
        change.path, action, change.group, text.encode("utf-8"), change.old, reason
    )


def _kept_if_expected(
    change: FileChange, generated: dict[str, str], manifest: Manifest
) -> FileChange:
    """An edit that needs no decision: the templates render what was generated
    before, and the file is the user's, or its edit was accepted."""
    if change.action != Action.CONFLICT or change.old is None:
        return change
    if generated.get(change.path) != content_hash(change.new):
        return change  # the templates changed: a real conflict (upgrade merges)
    if change.path in manifest.user_files():
        reason = "your edit kept"
    elif manifest.accepted.get(change.path) == content_hash(change.old):
        reason = "your accepted edit kept"
    else:
        return change
    return FileChange(
        change.path, Action.KEEP, change.group, change.old, change.old, reason
    )


def _still_accepted(
    accepted: dict[str, str], changes: list[FileChange]
) -> dict[str, str]:
    """Accepted edits that survive this run: a clean merge carries the
    acceptance to the merged file; an overwrite or a removal ends it."""
    kept = dict(accepted)
    for change in changes:
        if change.path not in kept:
            continue
        if change.action == Action.MERGE:
            kept[change.path] = content_hash(change.new)
        elif change.action in (
            Action.CREATE,
            Action.IDENTICAL,
            Action.UPDATE,
            Action.OVERWRITE,
            Action.DELETE,
        ):
            del kept[change.path]
    return kept


def _no_longer_generated(
    root: Path, path: str, recorded: str, rendered: set[str], group: Group
) -> FileChange | None:
    if path in rendered:
        return None
    old = _read(root, path)
    if old is None:
        return None
    if content_hash(old) == recorded:
        return FileChange(path, Action.DELETE, group, b"", old, "no longer generated")
    return FileChange(
        path, Action.KEEP, group, old, old, "no longer generated; edited, kept"
    )


def spec_options(spec: Spec) -> dict[str, Any]:
    """The options of a run, as the plan shows and the manifest records them."""
    return {
        "auth": spec.auth,
        "rooms": spec.rooms,
        "broadcast": spec.broadcast,
        "message_types": [t.name for t in spec.message_types],
        "path": spec.path,
        "client": spec.client,
        "backend": spec.backend,
        # Only when given: plans and manifests of built-in endpoints stay as they were.
        **({"template": spec.template} if spec.template else {}),
        **({"accelerator": spec.accelerator} if spec.accelerator != "none" else {}),
        **({"asyncapi": True} if spec.asyncapi else {}),
        **({"auth_with": spec.auth_with} if spec.auth_with else {}),
        **({"recover": True} if spec.recover else {}),
    }


def _url_path(layout: Layout, spec: Spec) -> str:
    prefix = layout.target.prefix
    return (prefix.rstrip("/") + spec.path) if prefix else spec.path


def _updated_manifest(
    manifest: Manifest,
    spec: Spec,
    layout: Layout,
    rendered: list[RenderedFile],
    registration: Registration,
    rt_context: dict[str, Any],
    ep_context: dict[str, Any],
    deps_added: tuple[str, ...],
    added_blank: bool,
    dependency_edit: DependencyInsert | None = None,
) -> Manifest:
    updated = Manifest(
        version=__version__,
        runtime_dir=layout.runtime_dir,
        runtime_files={},
        runtime_context=rt_context,
        package_files=dict(manifest.package_files),
        dependencies=sorted(set(manifest.dependencies) | set(deps_added)),
        dependency_edits=[
            *manifest.dependency_edits,
            *([dependency_edit] if dependency_edit else []),
        ],
        endpoints=dict(manifest.endpoints),
        blobs=dict(manifest.blobs),
    )
    previous = manifest.endpoints.get(spec.name)
    endpoint_files: dict[str, str] = {}
    for item in rendered:
        digest = content_hash(item.content)
        if item.group == Group.RUNTIME:
            updated.runtime_files[item.path] = digest
        elif item.group == Group.PACKAGE:
            updated.package_files[item.path] = digest
        else:
            endpoint_files[item.path] = digest
    updated.blobs.update({item.path: git_blob_id(item.content) for item in rendered})
    owned = updated.owned_files() | set(endpoint_files)
    updated.blobs = {p: b for p, b in updated.blobs.items() if p in owned}
    updated.endpoints[spec.name] = EndpointRecord(
        name=spec.name,
        options={
            **spec_options(spec),
            "app": f"{layout.app.module}:{layout.app.export}",
            **_template_commit(spec, rendered),
            # The route's full path, router prefixes included (`wsgen list`).
            "url_path": _url_path(layout, spec),
        },
        files=endpoint_files,
        user_files=[
            p for p in [route_module(spec.name, ep_context)] if p in endpoint_files
        ],
        registration={
            "file": registration.file,
            "import": registration.import_line,
            "include": registration.include_line,
            "added_blank_line": added_blank
            or bool(previous and previous.registration.get("added_blank_line")),
        },
        context=ep_context,
    )
    return updated
