"""What each feature puts into a project: pure data, read by every command.

Generation renders the modules and templates of the features an endpoint
has on; upgrade, destroy and check recompute the same set from the options
the manifest records; the dependency edits add (and undo) exactly the
requirements of that set. A feature that is off writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


# Compared and hashed by identity: each feature is one of the objects below.
@dataclass(frozen=True, eq=False)
class Feature:
    name: str
    # Modules of src/wsgen/runtime copied into the project's runtime package
    # (a template of the same name under templates/runtime/ is rendered instead).
    runtime_modules: tuple[str, ...] = ()
    # Per-endpoint templates, relative to templates/.
    templates: tuple[str, ...] = ()
    # Templates written once per project (tests/ and client/ folders), like the
    # runtime modules: kept while any endpoint needs them.
    project_templates: tuple[str, ...] = ()
    # Distribution name -> requirement wsgen adds where the host lists its own.
    requirements: Mapping[str, str] = field(default_factory=dict)
    # Distribution name -> the module it is imported as.
    import_names: Mapping[str, str] = field(default_factory=dict)
    # What a generated test module covers of it (documentation for readers).
    tests: str = ""


CORE = Feature(
    "core",
    runtime_modules=(
        "__init__",
        "connection",
        "manager",
        "protocol",
        "session",
        "settings",
    ),
    templates=("endpoint/{{name}}.py.jinja", "tests/test_{{name}}_ws.py.jinja"),
    project_templates=("tests/test_ws_runtime.py.jinja",),
    requirements={"fastapi": "fastapi>=0.115", "structlog": "structlog>=24.1"},
    # fastapi is never taken out again: the host is a FastAPI app.
    import_names={"structlog": "structlog"},
    tests="frames, limits, slow readers, shutdown",
)
AUTH = Feature(
    "auth",
    # host.py: the host's JWT settings; logs.py: tokens out of server logs.
    runtime_modules=("auth", "host", "keys", "logs"),
    project_templates=("tests/test_ws_auth.py.jinja",),
    requirements={"pyjwt": "pyjwt>=2.8"},
    import_names={"pyjwt": "jwt"},
    tests="refusal codes, token transports, refresh",
)
ROOMS = Feature(
    "rooms",
    runtime_modules=("rooms",),
    project_templates=("tests/test_ws_rooms.py.jinja",),
    tests="join, leave, presence, typing",
)
# Broadcast and custom message types shape the endpoint's own files only.
BROADCAST = Feature("broadcast", tests="messages to every connection")
MESSAGE_TYPES = Feature("message_types", tests="the stubs answer not_implemented")
REDIS = Feature(
    "redis",
    # Through redis-py (hiredis parses replies when installed). Without it an
    # endpoint has no backend object at all; its smoke test (two workers
    # sharing a room's presence) drives a RoomManager, hence rooms.
    runtime_modules=(
        "backend",
        "redis_backend",
        "redis_presence",
        "redis_session",
        "rooms",
    ),
    project_templates=("tests/test_ws_redis.py.jinja",),
    requirements={"redis": "redis>=5"},
    import_names={"redis": "redis"},
    tests="two workers sharing rooms and presence, on WS_TEST_REDIS_URL",
)
# Room history for clients that rejoin with `since` (--recover, with --rooms):
# a ring buffer per room in this process, or a Redis Stream per room.
RECOVERY = Feature(
    "recovery",
    runtime_modules=("history",),
    tests="missed room messages replayed on rejoin",
)
RECOVERY_REDIS = Feature(
    "recovery_redis",
    # With what it builds on, which the two features above bring.
    runtime_modules=(
        *RECOVERY.runtime_modules,
        *REDIS.runtime_modules,
        "redis_history",
    ),
)
# The client's core is shared (once per project); each endpoint adds its frames.
CLIENT_JS = Feature(
    "client_js",
    templates=("client/{{name}}_client.js.jinja",),
    project_templates=tuple(
        f"client/ws_{part}.js.jinja" for part in ("client", "outbox", "policy")
    ),
)
CLIENT_TS = Feature(
    "client_ts",
    templates=("client/{{name}}_client.d.ts.jinja",),
    project_templates=("client/ws_client.d.ts.jinja",),
)
# The document is a file beside the route module, rendered by wsgen (no
# runtime code builds it); `wsgen check` reports it stale when it would change.
ASYNCAPI = Feature("asyncapi", templates=("endpoint/{{name}}.asyncapi.json.jinja",))
UVICORN_ACCELERATOR = Feature(
    "uvicorn_accelerator",
    runtime_modules=("uvicorn_protocol",),
    # 0.52.1: the oldest release whose protocol the accelerator knows.
    requirements={"uvicorn": "uvicorn>=0.52.1"},
    import_names={"uvicorn": "uvicorn"},
)
# Not an option: added when the host's ASGI server has no WebSocket library
# (plain `uvicorn`); the host keeps it, as it keeps its other dependencies.
WEBSOCKET_SERVER = Feature(
    "websocket_server",
    requirements={"websockets": "websockets>=10.4"},
    import_names={"websockets": "websockets"},
)

ALL = (
    CORE,
    AUTH,
    ROOMS,
    BROADCAST,
    MESSAGE_TYPES,
    REDIS,
    RECOVERY,
    RECOVERY_REDIS,
    CLIENT_JS,
    CLIENT_TS,
    ASYNCAPI,
    UVICORN_ACCELERATOR,
)


def features_of(options: Mapping[str, Any]) -> tuple[Feature, ...]:
    """The features an endpoint's options (as the manifest records them) turn on."""
    # A copier template brings the endpoint's own files: no built-in client.
    client = "none" if options.get("template") else options.get("client", "none")
    on = {
        CORE: True,
        AUTH: bool(options.get("auth")),
        ROOMS: bool(options.get("rooms")),
        BROADCAST: bool(options.get("broadcast")),
        MESSAGE_TYPES: bool(options.get("message_types")),
        REDIS: options.get("backend", "memory") == "redis",
        RECOVERY: bool(options.get("recover")),
        RECOVERY_REDIS: bool(options.get("recover"))
        and options.get("backend", "memory") == "redis",
        CLIENT_JS: client in ("js", "ts"),
        CLIENT_TS: client == "ts",
        ASYNCAPI: bool(options.get("asyncapi")),
        UVICORN_ACCELERATOR: options.get("accelerator", "none") == "uvicorn",
    }
    return tuple(feature for feature in ALL if on[feature])


def union(option_sets: Iterable[Mapping[str, Any]]) -> tuple[Feature, ...]:
    """The features any of several endpoints needs: what the shared runtime holds."""
    wanted = {feature for options in option_sets for feature in features_of(options)}
    return tuple(feature for feature in ALL if feature in wanted)


def runtime_modules(features: Iterable[Feature]) -> list[str]:
    return sorted({m for feature in features for m in feature.runtime_modules})


def project_templates(features: Iterable[Feature]) -> list[str]:
    return sorted({t for feature in features for t in feature.project_templates})


def project_file_names(features: Iterable[Feature]) -> set[str]:
    """The file names the project templates of ``features`` render to."""
    return {t.rsplit("/", 1)[-1][: -len(".jinja")] for t in project_templates(features)}


def requirements(features: Iterable[Feature]) -> dict[str, str]:
    """Name -> requirement, sorted by name: the order they are added in."""
    out: dict[str, str] = {}
    for feature in features:
        out.update(feature.requirements)
    return dict(sorted(out.items()))


def import_names() -> dict[str, str]:
    """Every distribution wsgen may add, with the module it is imported as."""
    out: dict[str, str] = {}
    for feature in ALL:
        out.update(feature.import_names)
    return out
