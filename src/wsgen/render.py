"""Templates -> file contents: a pure function of (spec, layout).

`templates/` mirrors what lands in the host: `runtime/` once per project,
`endpoint/` and `tests/` once per endpoint. A project-local
`.wsgen/templates/` shadows any built-in file of the same relative path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsgen import __version__
from wsgen.discover import Layout
from wsgen.spec import Spec

OVERRIDE_DIR = ".wsgen/templates"


@dataclass(frozen=True)
class RenderedFile:
    path: str  # POSIX, relative to the project root
    content: str
    group: str  # "package", "runtime", "endpoint" or "tests"


def builtin_templates_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent.parent / "templates"):
        if (candidate / "runtime").is_dir():
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
        }
    return {
        "runtime_module": layout.runtime_module,
        "jwt": jwt,
        "wsgen_version": __version__,
    }


def endpoint_context(spec: Spec, layout: Layout) -> dict[str, Any]:
    relative = layout.target.relative_imports
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
        "message_types": [
            {"name": t.name, "class_name": t.class_name} for t in spec.message_types
        ],
        "runtime_import": (
            relative_module(layout.routes_module, layout.runtime_module)
            if relative
            else layout.runtime_module
        ),
        "route_module": route_module,
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
        search = [str(project_root / OVERRIDE_DIR), str(self.builtin)]
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            bytecode_cache=_bytecode_cache(jinja2),
        )

    def _group(
        self, group: str, dest_dir: str, context: dict[str, Any]
    ) -> list[RenderedFile]:
        out: list[RenderedFile] = []
        folder = self.builtin / group
        if not folder.is_dir():
            return out
        for template in sorted(folder.rglob("*.jinja")):
            rel = template.relative_to(self.builtin).as_posix()
            name = template.relative_to(folder).as_posix()[: -len(".jinja")]
            for key in ("name",):
                if key in context:
                    name = name.replace("{{" + key + "}}", str(context[key]))
            content = self.env.get_template(rel).render(**context)
            if not content.strip():
                continue  # a template that renders empty is off for these options
            out.append(RenderedFile(f"{dest_dir}/{name}", content, group))
        return out

    def runtime(self, context: dict[str, Any], runtime_dir: str) -> list[RenderedFile]:
        return self._group("runtime", runtime_dir, context)

    def endpoint(self, context: dict[str, Any]) -> list[RenderedFile]:
        """Route module, tests and client, into the folders the context names."""
        files = self._group("endpoint", context["routes_dir"], context)
        files += self._group("tests", context["tests_dir"], context)
        files += self._group("client", context["client_dir"], context)
        return files


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
            out.append(RenderedFile(init, "", "package"))
    return out
