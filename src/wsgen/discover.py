"""Find where things live in a host project: a pure function of its files.

Order for the app: `--app`, then `[tool.fastapi] entrypoint`, then a scan for
`FastAPI(...)` at module level or inside a factory function.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsgen.errors import RefusedError, UsageError
from wsgen.projectconfig import ProjectConfig
from wsgen.scan import (
    ProjectFiles,
    assigned_names,
    assigned_value,
    call_name,
    dotted,
    flat_statements,
    names_bound_to,
    string_value,
)

ROUTE_DIR_GUESSES = (
    "routers",
    "routes",
    "api/routes",
    "api/endpoints",
    "endpoints",
    "api",
)
SECRET_NAMES = ("SECRET_KEY", "JWT_SECRET", "JWT_SECRET_KEY", "AUTH_SECRET_KEY")
ALGORITHM_NAMES = ("ALGORITHM", "JWT_ALGORITHM")
AUTH_FUNCTION_NAMES = frozenset(
    {"decode_token", "decode_access_token", "verify_token", "get_current_user",
     "create_access_token"}
)  # fmt: skip
_ENTRYPOINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class AppCandidate:
    file: str
    module: str
    variable: str  # the name bound to FastAPI(...) where it is created
    factory: str | None  # function creating it, or None at module level
    export: str  # what tests and verify import: a variable or the factory
    export_is_factory: bool
    line: int

    @property
    def label(self) -> str:
        where = f"in {self.factory}()" if self.factory else "at module level"
        return f"{self.module}:{self.export} ({self.file} line {self.line}, {where})"


@dataclass(frozen=True)
class RegistrationTarget:
    file: str
    module: str
    receiver: str
    scope: str | None  # enclosing function, None at module level
    kind: str  # "app", "factory" or "aggregator"
    prefix: str  # URL prefix the router is mounted under, as far as known
    relative_imports: bool
    mount_line: int | None  # a catch-all mount("/") the include must precede


@dataclass(frozen=True)
class JwtSettings:
    module: str
    attr: str
    secret: str
    algorithm: str | None
    file: str


@dataclass(frozen=True)
class Layout:
    root: Path
    app: AppCandidate
    target: RegistrationTarget
    import_root: str  # "." or "src": the folder on sys.path
    package: str  # top-level package generated modules live under
    package_dir: str
    new_package: bool  # the package has to be created (single-file apps)
    runtime_dir: str
    runtime_module: str
    routes_dir: str
    routes_module: str
    tests_dir: str
    client_dir: str  # where the host serves or bundles front-end code
    jwt: JwtSettings | None
    auth_functions: tuple[str, ...]
    pydantic_major: int | None
    ruff_line_length: int | None
    route_paths: dict[str, str] = field(default_factory=dict)  # path -> "file:line"
    notes: tuple[str, ...] = ()

    def module_file(self, module: str) -> str:
        parts = module.split(".")
        base = "" if self.import_root == "." else self.import_root + "/"
        return base + "/".join(parts) + ".py"


# --- module names ------------------------------------------------------------


def module_of(files: ProjectFiles, rel: str) -> tuple[str, str]:
    """(import root, dotted module) for a file, following __init__.py files."""
    parts = rel.split("/")
    top = len(parts) - 1
    while top > 0 and files.exists("/".join(parts[:top]) + "/__init__.py"):
        top -= 1
    # A folder of modules without __init__.py is a namespace package: fall
    # back to the project root, or src/ for src layouts.
    if top > 0 and not (top == 1 and parts[0] == "src"):
        top = 1 if parts[0] == "src" else 0
    import_root = "/".join(parts[:top]) or "."
    names = parts[top:]
    names[-1] = names[-1][:-3]
    if names[-1] == "__init__":
        names = names[:-1]
    return import_root, ".".join(names)


def file_of_module(files: ProjectFiles, module: str) -> str | None:
    path = module.replace(".", "/")
    for base in ("", "src/"):
        for candidate in (f"{base}{path}.py", f"{base}{path}/__init__.py"):
            if candidate in files.texts:
                return candidate
    return None


def resolve_relative(
    module: str, is_package: bool, level: int, target: str | None
) -> str:
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    if target:
        parts = [*parts, *target.split(".")]
    return ".".join(parts)


def import_sources(
    files: ProjectFiles, rel: str, module: str
) -> dict[str, tuple[str, str | None]]:
    """Local name -> (absolute module, imported object or None for modules)."""
    tree = files.tree(rel)
    is_package = rel.endswith("__init__.py")
    found: dict[str, tuple[str, str | None]] = {}
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.ImportFrom):
            base = (
                resolve_relative(module, is_package, stmt.level, stmt.module)
                if stmt.level
                else (stmt.module or "")
            )
            for alias in stmt.names:
                found[alias.asname or alias.name] = (base, alias.name)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                found[alias.asname or alias.name.split(".")[0]] = (alias.name, None)
    return found


# --- finding the app -----------------------------------------------------------


def _fastapi_names(tree: ast.Module) -> set[str]:
    return names_bound_to(tree, "fastapi", "FastAPI") | {"fastapi.FastAPI"}


def _is_fastapi_call(node: ast.AST | None, names: set[str]) -> bool:
    return isinstance(node, ast.Call) and call_name(node) in names


def apps_in_file(files: ProjectFiles, rel: str) -> list[AppCandidate]:
    text = files.texts[rel]
    if "FastAPI" not in text:
        return []
    tree = files.tree(rel)
    names = _fastapi_names(tree)
    _, module = module_of(files, rel)
    found: list[AppCandidate] = []
    factories: dict[str, AppCandidate] = {}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in flat_statements(stmt.body):
                value = assigned_value(inner)
                if _is_fastapi_call(value, names) and assigned_names(inner):
                    var = assigned_names(inner)[0]
                    cand = AppCandidate(
                        rel, module, var, stmt.name, stmt.name, True, inner.lineno
                    )
                    factories[stmt.name] = cand
                    break
    for stmt in flat_statements(tree.body):
        value = assigned_value(stmt)
        targets = assigned_names(stmt)
        if not targets or value is None:
            continue
        if _is_fastapi_call(value, names):
            found.append(
                AppCandidate(
                    rel, module, targets[0], None, targets[0], False, stmt.lineno
                )
            )
        elif isinstance(value, ast.Call) and call_name(value) in factories:
            # `app = create_app()`: one app, registered inside the factory,
            # imported by the module-level name.
            fac = factories.pop(call_name(value) or "")
            found.append(
                AppCandidate(
                    rel, module, fac.variable, fac.factory, targets[0], False, fac.line
                )
            )
    found.extend(factories.values())
    return found


def _find_app_by_reference(files: ProjectFiles, ref: str, origin: str) -> AppCandidate:
    if not _ENTRYPOINT.match(ref):
        raise UsageError(
            f"{origin} {ref!r} is not of the form MODULE:ATTR.",
            hint="Write it like `app.main:app`.",
            code="bad_app_ref",
        )
    module, attr = ref.split(":")
    rel = file_of_module(files, module)
    if rel is None:
        raise UsageError(
            f"{origin} {ref!r}: no module {module!r} in this project.",
            hint="Check the module path (dotted, as you would import it).",
            code="bad_app_ref",
        )
    for cand in apps_in_file(files, rel):
        if attr in (cand.export, cand.variable, cand.factory):
            if attr == cand.factory:
                return AppCandidate(
                    cand.file,
                    cand.module,
                    cand.variable,
                    cand.factory,
                    attr,
                    True,
                    cand.line,
                )
            return cand
    raise UsageError(
        f"{origin} {ref!r}: {rel} has no FastAPI app or factory named {attr!r}.",
        hint="Point it at the variable holding FastAPI(...) or the function that returns it.",
        code="bad_app_ref",
    )


def find_app(
    files: ProjectFiles, config: ProjectConfig, app_ref: str | None
) -> AppCandidate:
    if app_ref:
        return _find_app_by_reference(files, app_ref, "--app")
    if config.fastapi_entrypoint:
        return _find_app_by_reference(
            files, config.fastapi_entrypoint, "[tool.fastapi] entrypoint"
        )
    candidates: list[AppCandidate] = []
    for rel, text in files.texts.items():
        if "FastAPI(" in text.replace(" (", "("):
            candidates.extend(apps_in_file(files, rel))
    if not candidates:
        raise RefusedError(
            f"No FastAPI application found under {files.root}.",
            hint="Run wsgen inside a FastAPI project, or pass --project DIR or --app MODULE:ATTR.",
            code="no_app",
        )
    if len(candidates) > 1:
        listed = "; ".join(c.label for c in candidates)
        first = candidates[0]
        raise RefusedError(
            f"Found {len(candidates)} FastAPI applications: {listed}.",
            hint=f"Choose one with --app, e.g. --app {first.module}:{first.export}.",
            code="several_apps",
        )
    return candidates[0]


# --- where the router is included ---------------------------------------------


def _scope_body(tree: ast.Module, scope: str | None) -> list[ast.stmt]:
    if scope is None:
        return flat_statements(tree.body)
    for stmt in tree.body:
        if (
            isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
            and stmt.name == scope
        ):
            return flat_statements(stmt.body)
    return []


def _method_calls(body: list[ast.stmt], receiver: str, method: str) -> list[ast.Call]:
    calls = []
    for stmt in body:
        is_call = isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
        if is_call and call_name(stmt.value) == f"{receiver}.{method}":  # type: ignore[attr-defined]
            calls.append(stmt.value)  # type: ignore[attr-defined]
    return calls


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def prefix_text(node: ast.expr | None) -> str:
    if node is None:
        return ""
    literal = string_value(node)
    if literal is not None:
        return literal
    return "{" + ast.unparse(node) + "}"


def _uses_relative_imports(tree: ast.Module) -> bool:
    return any(isinstance(s, ast.ImportFrom) and s.level for s in tree.body)


def find_target(files: ProjectFiles, app: AppCandidate) -> RegistrationTarget:
    tree = files.tree(app.file)
    body = _scope_body(tree, app.factory)
    includes = _method_calls(body, app.variable, "include_router")
    mounts = [
        c for c in _method_calls(body, app.variable, "mount")
        if c.args and string_value(c.args[0]) in ("/", "")
    ]  # fmt: skip
    sources = import_sources(files, app.file, app.module)
    for call in includes:
        if not call.args or not isinstance(call.args[0], ast.Name):
            continue
        local = call.args[0].id
        if local not in sources or sources[local][1] is None:
            continue
        module, obj = sources[local]
        rel = file_of_module(files, module)
        if rel is None or obj is None:
            continue
        agg_tree = files.try_tree(rel)
        if agg_tree is None:
            continue
        agg_body = flat_statements(agg_tree.body)
        if _method_calls(agg_body, obj, "include_router"):
            own_prefix = ""
            for stmt in agg_body:
                if obj in assigned_names(stmt) and isinstance(
                    assigned_value(stmt), ast.Call
                ):
                    own_prefix = prefix_text(_keyword(assigned_value(stmt), "prefix"))  # type: ignore[arg-type]
            return RegistrationTarget(
                file=rel,
                module=module,
                receiver=obj,
                scope=None,
                kind="aggregator",
                prefix=prefix_text(_keyword(call, "prefix")) + own_prefix,
                relative_imports=_uses_relative_imports(agg_tree),
                mount_line=None,
            )
    return RegistrationTarget(
        file=app.file,
        module=app.module,
        receiver=app.variable,
        scope=app.factory,
        kind="factory" if app.factory else "app",
        prefix="",
        relative_imports=_uses_relative_imports(tree),
        mount_line=mounts[0].lineno if mounts else None,
    )


def routes_package_in_use(
    files: ProjectFiles, target: RegistrationTarget
) -> str | None:
    """The package whose modules the target already includes routers from."""
    tree = files.tree(target.file)
    sources = import_sources(files, target.file, target.module)
    counts: dict[str, int] = {}
    for call in _method_calls(
        _scope_body(tree, target.scope), target.receiver, "include_router"
    ):
        if not call.args:
            continue
        name = dotted(call.args[0]) or ""
        head = name.split(".")[0]
        if head not in sources:
            continue
        module, obj = sources[head]
        if "." in name and obj is not None:
            package = module  # from app.routers import items -> items.router
        elif obj is not None:
            package = module.rsplit(".", 1)[0]  # from app.routers.items import router
        else:
            package = name.rsplit(".", 1)[0].rsplit(".", 1)[0]
        if "." in package or file_of_module(files, package):
            counts[package] = counts.get(package, 0) + 1
    if not counts:
        return None
    return max(counts, key=lambda k: counts[k])


# --- settings, auth helpers, routes --------------------------------------------


def find_jwt_settings(
    files: ProjectFiles, skip: frozenset[str] = frozenset()
) -> tuple[JwtSettings | None, tuple[str, ...]]:
    settings: JwtSettings | None = None
    functions: list[str] = []
    for rel, text in files.texts.items():
        if rel in skip:
            continue  # wsgen's own generated auth is not the host's
        if not any(n in text for n in SECRET_NAMES) and not any(
            f in text for f in AUTH_FUNCTION_NAMES
        ):
            continue
        tree = files.try_tree(rel)
        if tree is None:
            continue
        for stmt in tree.body:
            if (
                isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
                and stmt.name in AUTH_FUNCTION_NAMES
            ):
                functions.append(f"{rel}:{stmt.name}")
        if settings is not None:
            continue
        classes: dict[str, tuple[str, str | None]] = {}
        for stmt in tree.body:
            if not isinstance(stmt, ast.ClassDef):
                continue
            fields = {n for s in stmt.body for n in assigned_names(s)}
            secret = next((n for n in SECRET_NAMES if n in fields), None)
            if secret:
                algorithm = next((n for n in ALGORITHM_NAMES if n in fields), None)
                classes[stmt.name] = (secret, algorithm)
        for stmt in tree.body:
            value = assigned_value(stmt)
            if (
                isinstance(value, ast.Call)
                and call_name(value) in classes
                and assigned_names(stmt)
            ):
                secret, algorithm = classes[call_name(value) or ""]
                _, module = module_of(files, rel)
                settings = JwtSettings(
                    module, assigned_names(stmt)[0], secret, algorithm, rel
                )
                break
    return settings, tuple(functions)


def jwt_settings_at(files: ProjectFiles, ref: str) -> JwtSettings:
    """The host settings object named by `--jwt-settings MODULE:ATTR`."""
    module, _, attr = ref.partition(":")
    rel = file_of_module(files, module)
    tree = files.try_tree(rel) if rel else None
    hint = "Give the settings object as MODULE:ATTR, e.g. app.core.config:settings."
    if rel is None or tree is None:
        raise RefusedError(
            f"--jwt-settings {ref}: no module {module} here.",
            hint=hint,
            code="bad_app_ref",
        )
    classes = {s.name: s for s in tree.body if isinstance(s, ast.ClassDef)}
    owner = classes.get(attr)  # the class itself, or `attr = Class(...)`
    bound = [s for s in tree.body if attr in assigned_names(s)]
    if owner is None and not bound:
        raise RefusedError(
            f"--jwt-settings {ref}: {rel} binds no {attr}.",
            hint=hint,
            code="bad_app_ref",
        )
    if owner is None:
        value = assigned_value(bound[-1])
        if isinstance(value, ast.Call):
            owner = classes.get(call_name(value) or "")
    fields = {n for s in owner.body for n in assigned_names(s)} if owner else set()
    secret = next((n for n in SECRET_NAMES if n in fields), SECRET_NAMES[0])
    algorithm = next((n for n in ALGORITHM_NAMES if n in fields), None)
    return JwtSettings(module, attr, secret, algorithm, rel)


ROUTE_METHODS = frozenset(
    {"websocket", "websocket_route", "add_websocket_route", "get", "post", "put",
     "patch", "delete", "api_route", "add_api_route", "route"}
)  # fmt: skip


def existing_route_paths(files: ProjectFiles, skip: set[str]) -> dict[str, str]:
    paths: dict[str, str] = {}
    for rel, text in files.texts.items():
        # `@app.get(...)` names neither "route" nor "websocket": look for decorators too.
        if rel in skip or not any(word in text for word in ("route", "websocket", "@")):
            continue
        tree = files.try_tree(rel)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            ):
                continue
            if node.func.attr in ROUTE_METHODS and node.args:
                literal = string_value(node.args[0])
                if literal is not None:
                    where = f"{rel}:{node.lineno}"
                    paths.setdefault(literal.rstrip("/") or "/", where)
    return paths


# --- putting it together ------------------------------------------------------


def _package_for(files: ProjectFiles, app: AppCandidate) -> tuple[str, str, str, bool]:
    """(import root, package, package dir, must create) for generated modules."""
    import_root, module = module_of(files, app.file)
    base = "" if import_root == "." else import_root + "/"
    if "." in module:
        package = module.split(".")[0]
        return import_root, package, base + package, False
    # A single-file app: create a package beside it, as the seed layout does,
    # unless that name is taken by a module of the host.
    for package in ("app", "realtime", "wsgen_app"):
        if not files.exists(base + package + ".py") and not (
            files.exists(base + package)
            and not files.exists(base + package + "/__init__.py")
        ):
            return (
                import_root,
                package,
                base + package,
                not files.exists(base + package),
            )
    raise RefusedError("No free package name for the generated modules.")


def discover(
    root: Path,
    files: ProjectFiles,
    config: ProjectConfig,
    *,
    app_ref: str | None = None,
    owned_files: frozenset[str] = frozenset(),
    runtime_dir: str | None = None,
    jwt_settings: str | None = None,
) -> Layout:
    """`jwt_settings`: MODULE:ATTR of the host's JWT settings, or "none"
    for the WS_JWT_* variables only; None discovers them."""
    app = find_app(files, config, app_ref)
    target = find_target(files, app)
    import_root, package, package_dir, new_package = _package_for(files, app)
    notes: list[str] = []

    routes_module = routes_package_in_use(files, target)
    if routes_module is None or not routes_module.startswith(package):
        routes_module = None
        for guess in ROUTE_DIR_GUESSES:
            if files.exists(f"{package_dir}/{guess}/__init__.py"):
                routes_module = package + "." + guess.replace("/", ".")
                break
    if routes_module is None:
        routes_module = f"{package}.routes"
    base = "" if import_root == "." else import_root + "/"
    routes_dir = base + routes_module.replace(".", "/")

    if runtime_dir is None:
        runtime_dir = f"{package_dir}/websocket"
        if files.exists(runtime_dir + ".py") or (
            files.exists(runtime_dir)
            and f"{runtime_dir}/__init__.py" not in owned_files
        ):
            runtime_dir = f"{package_dir}/realtime"
            notes.append(
                f"{package_dir}/websocket is taken; the runtime goes to {runtime_dir}"
            )
    runtime_module = runtime_dir[len(base) :].replace("/", ".")

    tests_dir = next((d for d in ("tests", "test") if files.exists(d)), "tests")
    client_dir = find_client_dir(files, package_dir)
    jwt, auth_functions = find_jwt_settings(files, owned_files)
    if jwt_settings == "none":
        jwt = None
    elif jwt_settings is not None:
        jwt = jwt_settings_at(files, jwt_settings)
    return Layout(
        root=root,
        app=app,
        target=target,
        import_root=import_root,
        package=package,
        package_dir=package_dir,
        new_package=new_package,
        runtime_dir=runtime_dir,
        runtime_module=runtime_module,
        routes_dir=routes_dir,
        routes_module=routes_module,
        tests_dir=tests_dir,
        client_dir=client_dir,
        jwt=jwt,
        auth_functions=auth_functions,
        pydantic_major=config.pydantic_major(files.texts.values()),
        ruff_line_length=config.ruff_line_length,
        route_paths=existing_route_paths(files, set(owned_files)),
        notes=tuple(notes),
    )


CLIENT_DIR_GUESSES = ("frontend/src", "web/src", "static/js", "static")


def find_client_dir(files: ProjectFiles, package_dir: str) -> str:
    """The folder front-end code already lives in, else `static/`."""
    for base in ("", package_dir + "/"):
        for guess in CLIENT_DIR_GUESSES:
            if files.exists(base + guess):
                return base + guess
    return "static"


def layout_summary(layout: Layout) -> dict[str, Any]:
    return {
        "app": f"{layout.app.module}:{layout.app.export}",
        "app_file": layout.app.file,
        "register_file": layout.target.file,
        "register_kind": layout.target.kind,
        "receiver": layout.target.receiver,
        "package": layout.package,
        "runtime_dir": layout.runtime_dir,
        "routes_dir": layout.routes_dir,
        "tests_dir": layout.tests_dir,
        "client_dir": layout.client_dir,
        "import_style": "relative" if layout.target.relative_imports else "absolute",
        "jwt_settings": f"{layout.jwt.module}:{layout.jwt.attr}"
        if layout.jwt
        else None,
        "auth_functions": list(layout.auth_functions),
        "pydantic_major": layout.pydantic_major,
        "ruff_line_length": layout.ruff_line_length,
    }
