"""How the endpoint fits what the host already has: its FastAPI, its own
token checks and secret, its ASGI server. Pure functions of what discovery
and the configuration files found; each gives plan notes or warnings, or
refuses before anything is written."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from wsgen.build import features
from wsgen.build.render import ROUTER_LIFESPANS_SINCE
from wsgen.errors import RefusedError
from wsgen.host.discover import Layout, referenced_module
from wsgen.host.projectconfig import ProjectConfig, requirement_name
from wsgen.host.sources import ProjectFiles

UPGRADE_FASTAPI = "fastapi>=0.115"
MIN_SECRET_BYTES = 32  # as the runtime's keys.py requires of an HS256 secret


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join("x" if part == 999 else str(part) for part in version)


def fastapi_notes(layout: Layout) -> list[str]:
    """Notes on a FastAPI older than router lifespans; refuses when the
    endpoint could not start and stop with the app."""
    ceiling = layout.fastapi_ceiling
    if ceiling is None or ceiling >= ROUTER_LIFESPANS_SINCE:
        return []
    version = _dotted(ceiling)
    if layout.app_lifespan:
        raise RefusedError(
            f"FastAPI {version} does not run a router's lifespan, and the app"
            f" ({layout.app.file}) has a lifespan of its own: the endpoint would"
            " never start its backend or close its sockets on shutdown.",
            hint=f"Upgrade FastAPI to 0.112.2 or later ({UPGRADE_FASTAPI}) and re-run.",
            code="fastapi_too_old",
        )
    note = (
        f"FastAPI {version} does not run a router's lifespan (0.112.2 does):"
        " the endpoint starts and stops with the app as router events"
        " (on_startup/on_shutdown)"
    )
    return [note]


def check_auth_with(files: ProjectFiles, ref: str) -> None:
    """`--auth-with MODULE:FUNC` must name a function of the host."""
    func = ref.partition(":")[2]
    hint = "Give your token check as MODULE:FUNC, e.g. app.core.security:verify_token."
    rel, tree = referenced_module(files, "--auth-with", ref, hint)
    defined = any(
        isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == func
        for s in tree.body
    )
    if not defined:
        raise RefusedError(
            f"--auth-with {ref}: {rel} defines no function {func}.",
            hint=hint,
            code="bad_app_ref",
        )


def auth_notes(layout: Layout, auth_with: str | None) -> list[str]:
    notes = []
    if auth_with is not None:
        notes.append(
            f"tokens are checked by your {auth_with}(token): what it returns is"
            " the user (its id, or the id/user_id/sub of a dict or object);"
            " refresh tokens are still refused"
        )
    elif layout.auth_functions:
        checks = [
            f
            for f in layout.auth_functions
            if f.rpartition(":")[2]
            in ("verify_token", "decode_token", "decode_access_token")
        ]
        if checks:
            rel, _, func = checks[0].partition(":")
            module = rel.removesuffix(".py").removesuffix("/__init__")
            if layout.import_root != "." and module.startswith(
                layout.import_root + "/"
            ):
                module = module[len(layout.import_root) + 1 :]
            notes.append(
                "to check tokens with your own function instead:"
                f" --auth-with {module.replace('/', '.')}:{func}"
            )
    if layout.user_claim and layout.user_claim != "sub" and auth_with is None:
        notes.append(
            f"the user id is the {layout.user_claim!r} claim, as your"
            " create_access_token writes it (WS_JWT_USER_CLAIM overrides)"
        )
    return notes


# Any case: pydantic settings match env names to fields whatever their case.
_ENV_LINE = r"(?mi)^\s*(?:export\s+)?{name}\s*=\s*['\"]?([^'\"\r\n#]*)"


def short_secret_warning(layout: Layout, env_texts: Mapping[str, str]) -> str | None:
    """A host secret too short for HS256 makes every connection close 1011."""
    jwt = layout.jwt
    if jwt is None:
        return None
    found = [(f"{jwt.file} ({jwt.secret} default)", jwt.default)] if jwt.default else []
    for file, text in env_texts.items():
        match = re.search(_ENV_LINE.format(name=re.escape(jwt.secret)), text)
        if match:
            found.append((file, match.group(1).strip()))
    for where, value in found:
        if len(value.encode()) < MIN_SECRET_BYTES:
            return (
                f"{jwt.secret} in {where} is {len(value.encode())} bytes; HS256"
                f" needs {MIN_SECRET_BYTES} or more, so every connection would"
                f" close 1011: set {jwt.secret} (or WS_JWT_SECRET) to e.g. the"
                " output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
    return None


WEBSOCKET_LIBRARIES = ("websockets", "wsproto")


def serving_requirements(config: ProjectConfig) -> dict[str, str]:
    """What the host's server needs to speak WebSocket: plain `uvicorn`
    has no WebSocket library of its own (`uvicorn[standard]` has)."""
    raw = _all_specs(config)
    names = {requirement_name(spec) for spec in raw}
    if "uvicorn" not in names or any(n in names for n in WEBSOCKET_LIBRARIES):
        return {}
    if any(config.locked(n) for n in WEBSOCKET_LIBRARIES):
        return {}
    standard = re.compile(r"^\s*(uvicorn|fastapi)\s*\[[^\]]*\bstandard\b")
    if any(standard.match(spec) for spec in raw):
        return {}
    return dict(features.WEBSOCKET_SERVER.requirements)


def _all_specs(config: ProjectConfig) -> list[str]:
    """Every requirement the host declares, in any list."""
    specs: list[str] = []
    project = config.pyproject.get("project", {})
    specs += [str(s) for s in project.get("dependencies") or []]
    for extra in (project.get("optional-dependencies") or {}).values():
        specs += [str(s) for s in extra]
    for group in (config.pyproject.get("dependency-groups") or {}).values():
        specs += [s for s in group if isinstance(s, str)]
    poetry = config.pyproject.get("tool", {}).get("poetry", {})
    tables = [poetry.get("dependencies") or {}]
    tables += [
        g.get("dependencies") or {} for g in (poetry.get("group") or {}).values()
    ]
    for table in tables:
        for name, value in table.items():
            extras = value.get("extras", []) if isinstance(value, dict) else []
            specs.append(f"{name}[{','.join(extras)}]" if extras else str(name))
    if config.requirements_text:
        specs += config.requirements_text.splitlines()
    return specs
