"""Find where things live in a host project: a pure function of its files.

Order for the app: `--app`, then `[tool.fastapi] entrypoint`, then a scan for
`FastAPI(...)` at module level or inside a factory function.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsgen.errors import RefusedError, UsageError
from wsgen.host.projectconfig import ProjectConfig
from wsgen.host.reach import reachable_files, route_paths
from wsgen.host.sources import (
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
# A class field or top-level function find_jwt_settings looks for: a cheap
# test before parsing (large modules mention these names without defining them).
# Any case and any prefix (`api_secret_key`): pydantic settings are
# usually lower case, and env names match them whatever their case.
_MAY_DEFINE_AUTH = re.compile(
    r"\n[ \t]+\w*(?:" + "|".join(SECRET_NAMES) + r")\s*[:=]"
    r"|(?:^|\n)(?:async[ \t]+)?def[ \t]+(?:"
    + "|".join(sorted(AUTH_FUNCTION_NAMES))
    + r")\(",
    re.IGNORECASE,
)
# Claims that name the user in the tokens a host creates.
USER_CLAIMS = (
    "sub",
    "user_id",
    "uid",
    "userId",
    "identifier",
    "id",
    "username",
    "email",
)
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
    default: str | None = None  # the secret's literal default in the class
    # `attr` is a function returning the settings (`get_settings()`, as
    # FastAPI's documentation caches them), not the settings object.
    call: bool = False


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
    app_lifespan: bool = False  # FastAPI(lifespan=...): the app has its own
    fastapi_ceiling: tuple[int, ...] | None = None  # the newest it may install
    user_claim: str | None = None  # from the host's token-creating code

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
            if any(c.export == targets[0] and c.factory is None for c in found):
                continue  # `app = FastAPI(...)` in each branch of an if/else
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


def instances_of_factory(
    files: ProjectFiles, factory: AppCandidate
) -> list[AppCandidate]:
    """`app = create_application(router=..., settings=...)` in other modules:
    the instance is the app, the factory only builds it."""
    found: list[AppCandidate] = []
    name = factory.factory or ""
    for rel, text in files.texts.items():
        if rel == factory.file or f"{name}(" not in text:
            continue
        tree = files.try_tree(rel)
        if tree is None:
            continue
        _, module = module_of(files, rel)
        sources = import_sources(files, rel, module)
        for stmt in flat_statements(tree.body):
            value = assigned_value(stmt)
            targets = assigned_names(stmt)
            if not targets or not isinstance(value, ast.Call):
                continue
            called = call_name(value) or ""
            if sources.get(called) != (factory.module, name):
                continue
            if any(c.file == rel and c.export == targets[0] for c in found):
                continue  # one app assigned in each branch
            found.append(
                AppCandidate(
                    rel, module, targets[0], None, targets[0], False, stmt.lineno
                )
            )
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
    in_file = apps_in_file(files, rel)
    if not in_file:
        # `app = create_application(...)` with the factory imported
        in_file = [
            instance
            for factory in _all_factories(files)
            for instance in instances_of_factory(files, factory)
            if instance.file == rel
        ]
    for cand in in_file:
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


def _all_candidates(files: ProjectFiles) -> list[AppCandidate]:
    candidates: list[AppCandidate] = []
    for rel, text in files.texts.items():
        if "FastAPI" in text and "FastAPI(" in text.replace(" (", "("):
            candidates.extend(apps_in_file(files, rel))
    return candidates


def _all_factories(files: ProjectFiles) -> list[AppCandidate]:
    return [c for c in _all_candidates(files) if c.export_is_factory]


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
    for cand in _all_candidates(files):
        instances = instances_of_factory(files, cand) if cand.export_is_factory else []
        candidates.extend(instances or [cand])
    if not candidates:
        raise RefusedError(
            f"No FastAPI application found under {files.root}.",
            hint="Run wsgen inside a FastAPI project, or pass --project DIR or --app MODULE:ATTR.",
            code="no_app",
        )
    if len(candidates) > 1:
        # An app of a sub-project with its own dependency list (a telemetry
        # service beside the main app) is not this project's app.
        own = [c for c in candidates if owning_project(files, c) is None]
        candidates = own or candidates
    if len(candidates) > 1:
        listed = "; ".join(c.label for c in candidates)
        first = candidates[0]
        raise RefusedError(
            f"Found {len(candidates)} FastAPI applications: {listed}.",
            hint=f"Choose one with --app, e.g. --app {first.module}:{first.export}.",
            code="several_apps",
        )
    return candidates[0]


# --- the project that owns the app ----------------------------------------------

OWNER_FILES = ("pyproject.toml", "requirements.txt", "setup.py", "setup.cfg", "Pipfile")


def _declares_fastapi(files: ProjectFiles, folder: str) -> str | None:
    """The dependency file in `folder` that names FastAPI, if any. A
    package (with __init__.py) is never a project root: its setup.py is a
    module."""
    if files.exists(f"{folder}/__init__.py"):
        return None
    for name in OWNER_FILES:
        rel = f"{folder}/{name}"
        if files.exists(rel):
            try:
                text = (files.root / rel).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if "fastapi" in text.lower():
                return rel
    return None


def _root_of_own_imports(files: ProjectFiles, app: AppCandidate) -> str | None:
    """The folder the app's own absolute imports resolve from, when that is
    a folder the app file sits in (`backend/app/main.py` importing
    `app.core.config` is run from `backend/`)."""
    parts = app.file.split("/")[:-1]
    modules = [
        module
        for module, _ in import_sources(files, app.file, app.module).values()
        if module.count(".") >= 1
    ]
    for depth in range(len(parts)):
        base = "/".join(parts[:depth])
        for module in modules:
            if module.split(".")[0] != parts[depth]:
                continue
            path = (base + "/" if base else "") + module.replace(".", "/")
            if files.exists(path + ".py") or files.exists(path + "/__init__.py"):
                return base or "."
    return None


def owning_project(files: ProjectFiles, app: AppCandidate) -> tuple[str, str] | None:
    """(folder, why) when the app belongs to a project below this one: a
    workspace member with its own dependency list, or a folder its own
    imports are resolved from. None when it is run from here."""
    parts = app.file.split("/")[:-1]
    for depth in range(len(parts), 0, -1):
        folder = "/".join(parts[:depth])
        declared = _declares_fastapi(files, folder)
        if declared:
            return folder, f"{declared} declares its dependencies"
    own = _root_of_own_imports(files, app)
    if own not in (None, ".", "src"):
        assert own is not None
        return own, f"its imports ({app.file}) resolve from {own}/"
    return None


def _refuse_foreign_root(files: ProjectFiles, app: AppCandidate) -> None:
    owner = owning_project(files, app)
    if owner is None:
        return
    folder, why = owner
    # as the user would type it: relative to where they are, unless that climbs
    try:
        shown = os.path.relpath(files.root / folder)
    except ValueError:  # another drive on Windows
        shown = ".."
    if shown.startswith(".."):
        shown = str(files.root / folder)
    if " " in shown:
        shown = f'"{shown}"'
    raise RefusedError(
        f"The app {app.module}:{app.export} belongs to the project in {folder}/ "
        f"({why}), not to {files.root.name}/.",
        hint=f"Run wsgen on that project: --project {shown}",
    )


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


def _factory_arguments(
    body: list[ast.stmt], app: AppCandidate
) -> list[tuple[str, ast.Call | None]]:
    """Names passed to the factory that builds the app (`router=api_router`):
    a router handed to the factory is one the app includes."""
    if app.factory is not None:
        return []
    for stmt in body:
        value = assigned_value(stmt)
        if app.variable in assigned_names(stmt) and isinstance(value, ast.Call):
            passed = [*value.args, *(kw.value for kw in value.keywords)]
            return [(node.id, None) for node in passed if isinstance(node, ast.Name)]
    return []


def find_target(files: ProjectFiles, app: AppCandidate) -> RegistrationTarget:
    tree = files.tree(app.file)
    body = _scope_body(tree, app.factory)
    includes = _method_calls(body, app.variable, "include_router")
    mounts = [
        c for c in _method_calls(body, app.variable, "mount")
        if c.args and string_value(c.args[0]) in ("/", "")
    ]  # fmt: skip
    sources = import_sources(files, app.file, app.module)
    included = [
        (call.args[0].id, call)
        for call in includes
        if call.args and isinstance(call.args[0], ast.Name)
    ]
    for local, call in included + _factory_arguments(body, app):
        if local not in sources or sources[local][1] is None:
            continue
        module, obj = sources[local]
        rel = file_of_module(files, module)
        if (
            rel is None
            or obj is None
            or f"{obj}.include_router" not in files.texts[rel]
        ):
            continue  # not an aggregator: no need to parse it
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
                prefix=(prefix_text(_keyword(call, "prefix")) if call else "")
                + own_prefix,
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


# Modules named for their role, not a feature: in an app organised by
# feature packages (`case/views.py`, `auth/views.py`) no one of them is the
# folder of routers.
ROLE_MODULE_NAMES = frozenset(
    {"views", "view", "router", "routers", "routes", "api", "endpoints",
     "controller", "controllers", "urls"}
)  # fmt: skip


def _included_modules(
    files: ProjectFiles, target: RegistrationTarget, receiver: str | None
) -> dict[str, set[str]]:
    """package -> module names whose routers `receiver` (any when None) includes."""
    tree = files.tree(target.file)
    sources = import_sources(files, target.file, target.module)
    modules: dict[str, set[str]] = {}
    for stmt in ast.walk(tree):
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not isinstance(call, ast.Call) or not call.args:
            continue
        method = call_name(call) or ""
        if not method.endswith(".include_router") or (
            receiver is not None and method != f"{receiver}.include_router"
        ):
            continue
        name = dotted(call.args[0]) or ""
        head = name.split(".")[0]
        if head not in sources:
            continue
        module, obj = sources[head]
        if "." in name and obj is not None:
            full = f"{module}.{obj}"  # from app.routers import items -> items.router
        elif obj is not None:
            full = module  # from app.routers.items import router
        else:
            full = name.rsplit(".", 1)[0]  # import app.routers.items
        package, _, leaf = full.rpartition(".")
        if package and ("." in package or file_of_module(files, package)):
            modules.setdefault(package, set()).add(leaf)
    return modules


def routes_package_in_use(
    files: ProjectFiles, target: RegistrationTarget
) -> str | None:
    """The package whose modules the target already includes routers from:
    a folder of routers, never one feature's package."""
    everywhere = _included_modules(files, target, None)
    features = {p for p, leaves in everywhere.items() if leaves <= ROLE_MODULE_NAMES}
    counts = {
        package: len(leaves)
        for package, leaves in _included_modules(files, target, target.receiver).items()
        if len(features) < 2 or package not in features
    }
    if not counts:
        return None
    return max(counts, key=lambda k: counts[k])


# --- settings, auth helpers, routes --------------------------------------------


def find_tests_dir(files: ProjectFiles, config: ProjectConfig, package_dir: str) -> str:
    """Where the host's tests live: pytest's `testpaths`, a top-level
    `tests`, or one inside the package (`svc/tests`); `tests` otherwise."""
    configured = [p.strip("/").removeprefix("./") for p in config.pytest_testpaths]
    inside = [f"{package_dir}/{name}" for name in ("tests", "test")]
    for candidate in (*configured, "tests", "test", *inside):
        if candidate not in ("", ".") and (files.root / candidate).is_dir():
            return candidate
    return "tests"


def find_jwt_settings(
    files: ProjectFiles, skip: frozenset[str] = frozenset()
) -> tuple[JwtSettings | None, tuple[str, ...]]:
    settings: JwtSettings | None = None
    functions: list[str] = []
    for rel, text in files.texts.items():
        if rel in skip:
            continue  # wsgen's own generated auth is not the host's
        if not _MAY_DEFINE_AUTH.search(text):
            continue  # parse only files that define a secret field or helper
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
        classes: dict[str, tuple[str, str | None, str | None]] = {}
        for stmt in tree.body:
            if not isinstance(stmt, ast.ClassDef):
                continue
            fields = {n for s in stmt.body for n in assigned_names(s)}
            secret, algorithm = jwt_fields(fields)
            default = _literal_default(stmt, secret) if secret else None
            # `class Settings(AppSettings, CryptSettings)`: a mixin's fields count
            for base in (dotted(b) for b in stmt.bases):
                inherited = classes.get(base or "")
                if inherited and secret is None:
                    secret, algorithm = inherited[0], algorithm or inherited[1]
                    default = inherited[2]
            if secret:
                classes[stmt.name] = (secret, algorithm, default)
        for stmt in tree.body:
            value = assigned_value(stmt)
            if (
                isinstance(value, ast.Call)
                and call_name(value) in classes
                and assigned_names(stmt)
            ):
                secret, algorithm, default = classes[call_name(value) or ""]
                _, module = module_of(files, rel)
                settings = JwtSettings(
                    module, assigned_names(stmt)[0], secret, algorithm, rel, default
                )
                break
        if settings is None:  # no module-level object: a getter function
            getters = (s for s in tree.body if isinstance(s, ast.FunctionDef))
            for stmt in getters:
                owner = _returned_class(stmt, classes)
                if owner is not None:
                    _, module = module_of(files, rel)
                    secret, algorithm, default = classes[owner]
                    settings = JwtSettings(
                        module, stmt.name, secret, algorithm, rel, default, call=True
                    )
                    break
    return settings, tuple(functions)


def jwt_fields(fields: set[str]) -> tuple[str | None, str | None]:
    """The fields holding a JWT secret and its algorithm: `SECRET_KEY` and
    `ALGORITHM` in any case, or a pair sharing a prefix (`api_secret_key`
    and `api_algorithm`); a lone `stripe_secret_key` is not a JWT's."""
    upper = {name.upper(): name for name in sorted(fields)}
    secret = next((upper[n] for n in SECRET_NAMES if n in upper), None)
    algorithm = next((upper[n] for n in ALGORITHM_NAMES if n in upper), None)
    if secret is None:
        for name, field_name in upper.items():
            for suffix in SECRET_NAMES:
                paired = f"{name[: -len(suffix)]}ALGORITHM"
                if name.endswith(f"_{suffix}") and paired in upper:
                    return field_name, upper[paired]
    return secret, algorithm


def _returned_class(stmt: ast.FunctionDef, classes: Container[str]) -> str | None:
    """`def get_settings() -> Settings: return Settings()`: the settings
    class a plain function (a coroutine cannot be called at connect time)
    without required arguments returns, if known."""
    required = len(stmt.args.args) - len(stmt.args.defaults)
    if required or stmt.args.kwonlyargs and None in stmt.args.kw_defaults:
        return None
    for node in ast.walk(stmt):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
            name = call_name(node.value)
            if name in classes:
                return name
    return None


def _literal_default(cls: ast.ClassDef, name: str) -> str | None:
    """`SECRET_KEY: str = "changethis"`: the string a settings field defaults to."""
    for stmt in cls.body:
        if name in assigned_names(stmt):
            return string_value(assigned_value(stmt))
    return None


def token_user_claim(
    files: ProjectFiles, auth_functions: tuple[str, ...]
) -> str | None:
    """The claim the host's `create_access_token` puts the user in, when one
    is certain: dict literals in its body and in the calls to it name exactly
    one of USER_CLAIMS."""
    creators = [f for f in auth_functions if f.endswith(":create_access_token")]
    if not creators:
        return None
    found: set[str] = set()

    def keys_of(node: ast.AST) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Dict):
                found.update(k for k in map(string_value, sub.keys) if k in USER_CLAIMS)
            elif isinstance(sub, ast.Call) and call_name(sub) == "dict":
                found.update(k.arg for k in sub.keywords if k.arg in USER_CLAIMS)

    for ref in creators:
        tree = files.try_tree(ref.split(":")[0])
        for stmt in tree.body if tree else []:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                stmt.name == "create_access_token"
            ):
                keys_of(stmt)
    for rel, text in files.texts.items():
        if "create_access_token(" not in text or (tree := files.try_tree(rel)) is None:
            continue
        for node in ast.walk(tree):
            name = call_name(node) if isinstance(node, ast.Call) else None
            if name and name.rpartition(".")[2] == "create_access_token":
                keys_of(node)
    return found.pop() if len(found) == 1 else None


def app_has_lifespan(files: ProjectFiles, app: AppCandidate) -> bool:
    """Whether the app is created with a `lifespan=` of its own."""
    tree = files.try_tree(app.file)
    for node in ast.walk(tree) if tree else []:
        if (
            isinstance(node, ast.Call)
            and node.lineno == app.line
            and (call_name(node) or "").rpartition(".")[2] == "FastAPI"
        ):
            return any(k.arg == "lifespan" for k in node.keywords)
    return False


def referenced_module(
    files: ProjectFiles, flag: str, ref: str, hint: str
) -> tuple[str, ast.Module]:
    """The file and parsed module of a `--flag MODULE:NAME` reference, or a
    refusal naming the flag."""
    module = ref.partition(":")[0]
    rel = file_of_module(files, module)
    tree = files.try_tree(rel) if rel else None
    if rel is None or tree is None:
        raise RefusedError(
            f"{flag} {ref}: no module {module} here.", hint=hint, code="bad_app_ref"
        )
    return rel, tree


def jwt_settings_at(files: ProjectFiles, ref: str) -> JwtSettings:
    """The host settings object named by `--jwt-settings MODULE:ATTR`."""
    module, _, attr = ref.partition(":")
    hint = "Give the settings object as MODULE:ATTR, e.g. app.core.config:settings."
    rel, tree = referenced_module(files, "--jwt-settings", ref, hint)
    classes = {s.name: s for s in tree.body if isinstance(s, ast.ClassDef)}
    owner = classes.get(attr)  # the class itself, or `attr = Class(...)`
    bound = [s for s in tree.body if attr in assigned_names(s)]
    getter = next(
        (s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == attr),
        None,
    )  # or `def attr(): return Class()`
    if getter is not None and owner is None and not bound:
        returned = _returned_class(getter, classes)
        owner = classes.get(returned or "")
    if owner is None and not bound and getter is None:
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
    found, algorithm = jwt_fields(fields)
    secret = found or SECRET_NAMES[0]
    default = _literal_default(owner, secret) if owner else None
    call = getter is not None and not bound
    return JwtSettings(module, attr, secret, algorithm, rel, default, call=call)


def existing_route_paths(
    files: ProjectFiles, skip: set[str], app: AppCandidate, target: RegistrationTarget
) -> dict[str, str]:
    """Literal route paths of the modules the app loads, read from their text."""
    reachable: set[str] = set()
    for rel, module in ((app.file, app.module), (target.file, target.module)):
        if rel in reachable:
            continue
        import_root, _ = module_of(files, rel)
        reachable |= reachable_files(files, rel, import_root, module)
    paths: dict[str, str] = {}
    for rel in sorted(reachable - skip):
        for literal, line in route_paths(files.texts[rel]):
            paths.setdefault(literal.rstrip("/") or "/", f"{rel}:{line}")
    return paths


# --- putting it together ------------------------------------------------------


def _package_for(files: ProjectFiles, app: AppCandidate) -> tuple[str, str, str, bool]:
    """(import root, package, package dir, must create) for generated modules."""
    import_root, module = module_of(files, app.file)
    base = "" if import_root == "." else import_root + "/"
    parts = module.split(".")
    if len(parts) > 2 and parts[0] == "src":
        # `src/` with an __init__.py is a layout folder, not the app's
        # package: the app is also run from inside it (`app.main:app`).
        return import_root, ".".join(parts[:2]), base + "/".join(parts[:2]), False
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
    tests_dir: str | None = None,
) -> Layout:
    """`jwt_settings`: MODULE:ATTR of the host's JWT settings, or "none"
    for the WS_JWT_* variables only; None discovers them."""
    app = find_app(files, config, app_ref)
    _refuse_foreign_root(files, app)
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

    tests_dir = tests_dir or find_tests_dir(files, config, package_dir)
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
        route_paths=existing_route_paths(files, set(owned_files), app, target),
        notes=tuple(notes),
        app_lifespan=app_has_lifespan(files, app),
        fastapi_ceiling=config.fastapi_ceiling(),
        user_claim=token_user_claim(files, auth_functions),
    )


# Where a browser can load a file as it is. A bundler's source tree
# (frontend/src) is not one: a file there changes the front end's build.
CLIENT_DIR_GUESSES = ("static/js", "static", "frontend/public", "web/public", "public")


def find_client_dir(files: ProjectFiles, package_dir: str) -> str:
    """The folder the host serves front-end files from, else `static/`."""
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
