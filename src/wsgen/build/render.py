"""Templates and runtime source -> file contents: a pure function of (spec, layout).

The runtime is plain Python in `wsgen/runtime/`, copied verbatim; only
`templates/runtime/host.py.jinja` (what the runtime reads from this project)
is rendered. `templates/endpoint/`, `tests/` and `client/` are rendered once
per endpoint. Which files a project gets is the feature table's answer
(`wsgen.build.features`). A project-local `.wsgen/templates/` shadows any built-in
template of the same relative path (`runtime/<module>.py.jinja` replaces a
runtime module).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsgen import __version__
from wsgen.build import features
from wsgen.build.manifest import Manifest
from wsgen.build.plan import Group
from wsgen.build.spec import Spec
from wsgen.host.discover import Layout

OVERRIDE_DIR = ".wsgen/templates"


@dataclass(frozen=True)
class RenderedFile:
    path: str  # POSIX, relative to the project root
    content: str
    group: Group  # package, runtime, endpoint, tests or client


def runtime_source_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "runtime"


def builtin_templates_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    # Installed: wsgen/templates; from a checkout: the repository's templates/.
    for candidate in (package / "templates", package.parent.parent / "templates"):
        if (candidate / "endpoint").is_dir():
            return candidate
    raise RuntimeError("wsgen's templates are missing from this installation")


def relative_module(from_package: str, target: str) -> str:
    """`..websocket` for target `shop.websocket` seen from package `shop.api`."""
    here = from_package.split(".")
    there = target.split(".")
    common = 0
    while common < min(len(here), len(there)) and here[common] == there[common]:
        common += 1
    dots = "." * (len(here) - common + 1)
    return dots + ".".join(there[common:])


def runtime_context(layout: Layout) -> dict[str, Any]:
    jwt = None
    if layout.jwt is not None:
        module = layout.jwt.module
        if layout.target.relative_imports and module.startswith(layout.package + "."):
            # as the host imports: the package may be run from inside `src/`
            module = relative_module(layout.runtime_module, module)
        jwt = {
            "module": module,
            "attr": layout.jwt.attr,
            "secret": layout.jwt.secret,
            "algorithm": layout.jwt.algorithm,
            "call": layout.jwt.call,
        }
    return {
        "runtime_module": layout.runtime_module,
        "jwt": jwt,
        # The claim naming the user when the host's own tokens use another.
        "user_claim": layout.user_claim or "sub",
        "wsgen_version": __version__,
    }


ROUTER_LIFESPANS_SINCE = (0, 112, 2)


def _auth_with(spec: Spec, layout: Layout) -> dict[str, Any] | None:
    """The host's token check, imported as the host imports its modules."""
    if spec.auth_with is None:
        return None
    module, _, func = spec.auth_with.partition(":")
    if layout.target.relative_imports and module.startswith(layout.package + "."):
        module = relative_module(layout.routes_module, module)
    runtime = _runtime_import(layout)
    first = _isort_key(module) < _isort_key(runtime)
    return {"module": module, "func": func, "ref": spec.auth_with, "first": first}


def _isort_key(module: str) -> tuple[int, int, str]:
    """Where ruff's isort puts `from MODULE import ...` among first-party
    imports: absolute ones first, then relative ones, furthest first."""
    dots = len(module) - len(module.lstrip("."))
    return (1 if dots else 0, -dots, module.lstrip(".").lower())


def _runtime_import(layout: Layout) -> str:
    if layout.target.relative_imports:
        return relative_module(layout.routes_module, layout.runtime_module)
    return layout.runtime_module


def endpoint_context(spec: Spec, layout: Layout) -> dict[str, Any]:
    route_module = f"{layout.routes_module}.{spec.name}"
    return {
        **runtime_context(layout),
        "name": spec.name,
        "class_name": spec.class_name,
        "path": spec.path,
        "auth": spec.auth,
        "client": spec.client,
        "backend": spec.backend,
        "rooms": spec.rooms,
        "broadcast": spec.broadcast,
        "recover": spec.recover,
        "message_types": [
            {"name": t.name, "class_name": t.class_name} for t in spec.message_types
        ],
        "runtime_import": _runtime_import(layout),
        "route_module": route_module,
        "auth_with": _auth_with(spec, layout),
        # FastAPI before 0.112.2 does not run a router's lifespan.
        "router_events": layout.fastapi_ceiling is not None
        and layout.fastapi_ceiling < ROUTER_LIFESPANS_SINCE,
        "app_module": layout.app.module,
        "app_attr": layout.app.export,
        "app_factory": layout.app.export_is_factory,
        "routes_dir": layout.routes_dir,
        "tests_dir": layout.tests_dir,
        "client_dir": layout.client_dir,
    }


def _bytecode_cache(jinja2: Any) -> Any:
    """Compiled templates cached per user: compiling costs more than rendering.

    Jinja keys each entry on the template's source checksum, so an edited or
    overriding template is recompiled, never served stale.
    """
    from wsgen.cachedir import user_cache_dir

    directory = user_cache_dir("jinja")
    if directory is None:
        return None
    return jinja2.FileSystemBytecodeCache(directory)


class Renderer:
    """Jinja2 environment over the built-in templates and the project's overrides."""

    def __init__(self, project_root: Path, builtin: Path | None = None) -> None:
        import jinja2  # imported here: only commands that render pay for it

        self.builtin = builtin or builtin_templates_dir()
        self.override = project_root / OVERRIDE_DIR
        self.source = runtime_source_dir()
        search = [str(self.override), str(self.builtin)]
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            bytecode_cache=_bytecode_cache(jinja2),
        )

        @jinja2.pass_context
        def asyncapi_json(context: Any) -> str:
            from wsgen.build import asyncapi

            return asyncapi.document_json(dict(context))

        @jinja2.pass_context
        def frame_declarations(context: Any) -> str:
            from wsgen.build import typescript

            return typescript.declarations(dict(context))

        @jinja2.pass_context
        def server_frame_types(context: Any) -> list[str]:
            from wsgen.build import asyncapi

            kinds = asyncapi.frames(dict(context))[1]
            # `connected` first: every connection starts with it.
            return sorted(kinds, key=lambda kind: kind != "connected")

        self.env.globals["asyncapi_json"] = asyncapi_json
        self.env.globals["server_frame_types"] = server_frame_types
        self.env.globals["frame_declarations"] = frame_declarations

    def _render(self, template: str, context: dict[str, Any]) -> str:
        return str(self.env.get_template(template).render(**context))

    def _has_template(self, template: str) -> bool:
        return (self.override / template).is_file() or (
            self.builtin / template
        ).is_file()

    def runtime(
        self, context: dict[str, Any], runtime_dir: str, modules: list[str]
    ) -> list[RenderedFile]:
        """The runtime package: each module copied, or rendered from a template."""
        out = []
        for module in modules:
            template = f"runtime/{module}.py.jinja"
            if self._has_template(template):
                content = self._render(template, context)
            else:
                content = (self.source / f"{module}.py").read_text(encoding="utf-8")
            out.append(
                RenderedFile(f"{runtime_dir}/{module}.py", content, Group.RUNTIME)
            )
        return out

    def project(
        self, context: dict[str, Any], wanted: tuple[features.Feature, ...]
    ) -> list[RenderedFile]:
        """The files written once per project beside the runtime (its tests,
        the client's core), for the features any endpoint has on. They read
        only the project's folders and module names from ``context``."""
        files = self.endpoint(context, features.project_templates(wanted))
        return [RenderedFile(f.path, f.content, Group.RUNTIME) for f in files]

    def endpoint(
        self, context: dict[str, Any], templates: list[str]
    ) -> list[RenderedFile]:
        """Route module, tests and client, into the folders the context names."""
        folders = {
            "endpoint": context["routes_dir"],
            "tests": context["tests_dir"],
            "client": context["client_dir"],
        }
        out = []
        for template in templates:
            folder, _, name = template.partition("/")
            name = name[: -len(".jinja")].replace("{{name}}", str(context["name"]))
            content = self._render(template, context)
            if not content.strip():
                continue  # a template that renders empty is off for these options
            path = f"{folders[folder]}/{name}"
            out.append(RenderedFile(path, content, Group(folder)))
        return out


def package_inits(layout: Layout, exists: Any) -> list[RenderedFile]:
    """Empty __init__.py files for generated packages the host lacks."""
    out = []
    dirs = [layout.package_dir] if layout.new_package else []
    parts = layout.routes_dir.split("/")
    for depth in range(len(layout.package_dir.split("/")) + 1, len(parts) + 1):
        dirs.append("/".join(parts[:depth]))
    for directory in dirs:
        init = f"{directory}/__init__.py"
        if not exists(init):
            out.append(RenderedFile(init, "", Group.PACKAGE))
    return out


def endpoint_templates(on: tuple[features.Feature, ...]) -> list[str]:
    return [template for feature in on for template in feature.templates]


def previous_rendering(manifest: Manifest, renderer: Renderer) -> list[RenderedFile]:
    """What this version renders for the manifest's recorded options."""
    wanted = features.union(r.options for r in manifest.endpoints.values())
    out = renderer.runtime(
        manifest.runtime_context,
        manifest.runtime_dir,
        features.runtime_modules(wanted),
    )
    contexts = [r.context for r in manifest.endpoints.values() if r.context]
    if contexts:  # any endpoint's folders: they are the project's
        out += renderer.project(contexts[-1], wanted)
    for record in manifest.endpoints.values():
        # A copier template's files would need the template fetched again.
        if record.context and not record.options.get("template"):
            templates = endpoint_templates(features.features_of(record.options))
            out += renderer.endpoint(record.context, templates)
    return out
