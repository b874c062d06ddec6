"""One generation run: read the project, compute the Plan and the new manifest.

Reading happens here once; everything it calls is pure. Writing is left to
`plan.apply`, so `--dry-run` and `--json` share every step but the last.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsgen import __version__
from wsgen.deps import plan_dependencies
from wsgen.discover import Layout, discover, layout_summary
from wsgen.errors import RefusedError, UsageError, require_folder
from wsgen.manifest import (
    MANIFEST_NAME,
    EndpointRecord,
    Manifest,
    content_hash,
    dumps,
    read_manifest,
)
from wsgen.plan import FileChange, Plan, classify
from wsgen.projectconfig import load_config
from wsgen.registration import Registration
from wsgen.render import (
    Renderer,
    endpoint_context,
    package_inits,
    relative_module,
    runtime_context,
)
from wsgen.scan import ProjectFiles, scan_project
from wsgen.spec import Spec

if TYPE_CHECKING:
    from wsgen.render import RenderedFile


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
    )
    return root


def _read(root: Path, rel: str) -> bytes | None:
    path = root / rel
    if path.is_dir():
        raise RefusedError(
            f"{rel} is a folder where wsgen would write a file.",
            hint="Move it or use another name.",
        )
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def registration_for(spec: Spec, layout: Layout) -> Registration:
    target = layout.target
    route_module = f"{layout.routes_module}.{spec.name}"
    import_module = route_module
    if target.relative_imports and "." in target.module:
        package = (
            target.module
            if target.file.endswith("__init__.py")
            else target.module.rsplit(".", 1)[0]
        )
        if route_module.startswith(package.split(".")[0] + "."):
            import_module = relative_module(package, route_module)
    line = layout.app.line if target.kind != "aggregator" else 1
    return Registration(
        import_module,
        f"{spec.name}_ws_router",
        target.receiver,
        target.scope,
        target.file,
        line,
    )


def _registered_verbatim(source: bytes, reg: Registration) -> bool:
    lines = {line.strip() for line in source.decode("utf-8", "replace").splitlines()}
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
        )
    if spec.name == layout.package:
        raise UsageError(
            f"The name {spec.name!r} is the name of your package.",
            hint=f"Choose another name, for example `{spec.name}_ws`.",
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
    layout = discover(
        root,
        files,
        config,
        app_ref=app_ref,
        owned_files=owned,
        runtime_dir=manifest.runtime_dir or None,
        jwt_settings=jwt_choice,
    )
    if layout.pydantic_major == 1:
        raise RefusedError(
            "This project uses pydantic v1; the generated code needs pydantic v2.",
            hint="Upgrade to pydantic>=2 (FastAPI supports it since 0.100) and re-run.",
        )
    _check_name_is_free(spec, layout, files, owned)
    for other, record in manifest.endpoints.items():
        if other != spec.name and record.options.get("path") == spec.path:
            raise RefusedError(
                f"The path {spec.path} is already used by the endpoint {other!r}.",
                hint="Choose another with --path.",
            )
    if spec.path in layout.route_paths:
        raise RefusedError(
            f"A route at {spec.path} already exists ({layout.route_paths[spec.path]}).",
            hint=f"Choose another path with --path, e.g. --path {spec.path}-ws.",
        )

    renderer = Renderer(root)
    rt_context = runtime_context(layout)
    if jwt_choice:
        rt_context["jwt_settings"] = jwt_choice
    ep_context = endpoint_context(spec, layout)
    shared = package_inits(layout, lambda p: p not in owned and files.exists(p))
    shared += renderer.runtime(rt_context, layout.runtime_dir)
    deps = plan_dependencies(config, spec.backend)
    template_notes: list[str] = []
    # A copier template replaces the endpoint's own files only: the runtime
    # is shared by every endpoint, so it stays wsgen's.
    if spec.template is None:
        endpoint_files = renderer.endpoint(ep_context)
    else:
        endpoint_files, template_notes = _from_template(
            spec, ep_context, shared, manifest, layout, deps.file
        )
    rendered = shared + endpoint_files

    all_hashes = manifest.all_hashes()
    changes: list[FileChange] = []
    for item in rendered:
        new = item.content.encode("utf-8")
        old = _read(root, item.path)
        change = classify(
            item.path, item.group, new, old,
            owned_hash=all_hashes.get(item.path), force=force,
            old_hash=content_hash(old) if old is not None else None,
        )  # fmt: skip
        if merge and change.action == "conflict" and item.path in all_hashes:
            change = _merged(root, change)
        changes.append(change)
    if merge and spec.name in manifest.endpoints:
        rendered_paths = {item.path for item in rendered}
        for path, recorded in sorted(manifest.endpoints[spec.name].files.items()):
            gone = _no_longer_generated(root, path, recorded, rendered_paths)
            if gone is not None:
                changes.append(gone)
    changes.extend(_base_copies(root, rendered))

    registration = registration_for(spec, layout)
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
                layout.target.file, "edit", "registration", edit.new_source, host_source
            )
        )

    if deps.file and deps.new_text is not None:
        old = _read(root, deps.file)
        changes.append(
            FileChange(
                deps.file, "edit", "dependencies", deps.new_text.encode("utf-8"), old
            )
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
    )
    manifest_text = dumps(new_manifest)
    old_manifest = _read(root, MANIFEST_NAME)
    manifest_bytes = manifest_text.encode("utf-8")
    action = (
        "create"
        if old_manifest is None
        else ("identical" if old_manifest == manifest_bytes else "edit")
    )
    changes.append(
        FileChange(MANIFEST_NAME, action, "manifest", manifest_bytes, old_manifest)
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
    if layout.jwt is not None and spec.auth:
        plan.notes.append(
            f"JWT secret and algorithm come from your settings: {layout.jwt.module}:{layout.jwt.attr}"
            f".{layout.jwt.secret}"
            + (f" / .{layout.jwt.algorithm}" if layout.jwt.algorithm else "")
        )
    elif spec.auth:
        plan.notes.append(
            "JWT secret comes from the WS_JWT_SECRET environment variable (32 bytes or more)"
            + (" (--no-host-jwt)" if jwt_choice == "none" else "")
        )
    if layout.auth_functions and spec.auth:
        plan.notes.append("your auth helpers: " + ", ".join(layout.auth_functions))
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


def _from_template(
    spec: Spec,
    context: dict[str, Any],
    shared: list[RenderedFile],
    manifest: Manifest,
    layout: Layout,
    deps_file: str | None,
) -> tuple[list[RenderedFile], list[str]]:
    """The endpoint's files from a copier template, kept off wsgen's own paths."""
    from wsgen import copier_source

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


BASE_DIR = ".wsgen/base"
# A suffix linters, type checkers and test runners ignore: the copies must
# not be mistaken for modules of the project.
BASE_SUFFIX = ".base"


def base_path(path: str) -> str:
    return f"{BASE_DIR}/{path}{BASE_SUFFIX}"


def _base_copies(root: Path, rendered: list[RenderedFile]) -> list[FileChange]:
    """Pristine copies of what was generated: the base of upgrade's merges."""
    changes = []
    for item in rendered:
        path = base_path(item.path)
        new = item.content.encode("utf-8")
        old = _read(root, path)
        action = "create" if old is None else ("identical" if old == new else "update")
        changes.append(FileChange(path, action, "base", new, old))
    return changes


def _merged(root: Path, change: FileChange) -> FileChange:
    from wsgen.merge import merge3

    base = _read(root, base_path(change.path))
    if base is None or change.old is None:
        return change  # no base to merge from: stays a conflict
    text, conflicts = merge3(
        base.decode("utf-8"), change.old.decode("utf-8"), change.new.decode("utf-8")
    )
    action, reason = (
        ("merge", "your edits kept")
        if not conflicts
        else ("merge-conflict", f"{conflicts} conflict(s) marked in the file")
    )
    return FileChange(
        change.path, action, change.group, text.encode("utf-8"), change.old, reason
    )


def _no_longer_generated(
    root: Path, path: str, recorded: str, rendered: set[str]
) -> FileChange | None:
    if path in rendered:
        return None
    old = _read(root, path)
    if old is None:
        return None
    if content_hash(old) == recorded:
        return FileChange(path, "delete", "endpoint", b"", old, "no longer generated")
    return FileChange(
        path, "keep", "endpoint", old, old, "no longer generated; edited, kept"
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
) -> Manifest:
    updated = Manifest(
        version=__version__,
        runtime_dir=layout.runtime_dir,
        runtime_files={},
        runtime_context=rt_context,
        package_files=dict(manifest.package_files),
        dependencies=sorted(set(manifest.dependencies) | set(deps_added)),
        endpoints=dict(manifest.endpoints),
    )
    previous = manifest.endpoints.get(spec.name)
    endpoint_files: dict[str, str] = {}
    for item in rendered:
        digest = content_hash(item.content)
        if item.group == "runtime":
            updated.runtime_files[item.path] = digest
        elif item.group == "package":
            updated.package_files[item.path] = digest
        else:
            endpoint_files[item.path] = digest
    updated.endpoints[spec.name] = EndpointRecord(
        name=spec.name,
        options={
            **spec_options(spec),
            "app": f"{layout.app.module}:{layout.app.export}",
            # The route's full path, router prefixes included (`wsgen list`).
            "url_path": _url_path(layout, spec),
        },
        files=endpoint_files,
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
