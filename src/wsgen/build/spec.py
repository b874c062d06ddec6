"""What the user asked for, validated: pure data, no I/O."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

from wsgen.errors import UsageError

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_URL_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")

# Names wsgen itself uses in the generated package; an endpoint of the same
# name would shadow one of them.
RESERVED_NAMES = frozenset(
    {"websocket", "protocol", "manager", "settings", "auth", "backend", "limits"}
)


# Endpoint and message type names become file, module and class names: far
# below any file system's limit on a name (255 bytes), long class names
# included. Documented in the README.
MAX_NAME_LENGTH = 64

CLIENTS = ("js", "ts", "none")
BACKENDS = ("memory", "redis")
ACCELERATORS = ("none", "uvicorn")


@dataclass(frozen=True)
class MessageType:
    name: str
    class_name: str


@dataclass(frozen=True)
class Spec:
    name: str
    auth: bool = False
    rooms: bool = False
    broadcast: bool = False
    message_types: tuple[MessageType, ...] = ()
    path: str = ""
    client: str = "none"  # "js", "ts" or "none"
    # MODULE:ATTR of the host's JWT settings, "none" (WS_JWT_* only) or
    # None: as discovered, or as recorded by an earlier run.
    jwt_settings: str | None = None
    backend: str = "memory"  # "memory" or "redis"
    # "uvicorn": the runtime's uvicorn protocol (direct frame writes,
    # TCP_USER_TIMEOUT), written only when asked for.
    accelerator: str = "none"
    asyncapi: bool = False  # the endpoint's AsyncAPI 3.0 document, as a file
    # MODULE:FUNC of the host's token check the endpoint calls; None: JWTs
    # are checked by the runtime.
    auth_with: str | None = None
    # Room history: clients rejoining with `since` get what they missed.
    recover: bool = False
    # A copier template (folder or git URL, as copier_source.resolve_source
    # gives it) for the endpoint's files instead of the built-in ones.
    template: str | None = None
    template_ref: str | None = None  # its git tag or commit; None: the newest
    notes: tuple[str, ...] = field(default=())

    @property
    def class_name(self) -> str:
        return camel_case(self.name)


def camel_case(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_") if part)


def normalize_name(raw: str, *, what: str = "endpoint name") -> tuple[str, str | None]:
    """Return (snake_case name, note or None) or raise UsageError."""
    text = raw.strip()
    if not text:
        raise UsageError(
            f"The {what} is empty.", hint="Give a name such as `chat`.", code="bad_name"
        )
    if len(text) > MAX_NAME_LENGTH:
        raise UsageError(
            f"The {what} is {len(text)} characters long; the limit is {MAX_NAME_LENGTH}.",
            hint="Give a shorter name.",
            code="bad_name",
        )
    if any(sep in text for sep in ("/", "\\", ".")):
        raise UsageError(
            f"The {what} {raw!r} contains a path separator or a dot.",
            hint="Give a plain name such as `chat`; use --path to choose the URL.",
            code="bad_name",
        )
    snake = _CAMEL_BOUNDARY.sub("_", text).replace("-", "_").replace(" ", "_")
    snake = re.sub(r"_+", "_", snake).lower()
    if not _IDENTIFIER.match(snake):
        raise UsageError(
            f"The {what} {raw!r} is not a valid Python identifier.",
            hint="Use letters, digits and underscores, not starting with a digit.",
            code="bad_name",
        )
    if keyword.iskeyword(snake) or keyword.issoftkeyword(snake):
        raise UsageError(
            f"The {what} {raw!r} is a Python keyword.",
            hint=f"Choose another name, for example `{snake}_ws`.",
            code="bad_name",
        )
    note = None if snake == raw else f"{what} {raw!r} normalized to {snake!r}"
    return snake, note


def normalize_path(raw: str | None, name: str) -> str:
    path = raw if raw else f"/ws/{name}"
    if not _URL_PATH.match(path) or "//" in path:
        raise UsageError(
            f"The path {raw!r} is not a URL path.",
            hint="Give a path such as `/ws/chat` (starting with `/`).",
        )
    return path.rstrip("/") or "/"


_SETTINGS_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def normalize_jwt_settings(ref: str | None, host_jwt: bool = True) -> str | None:
    """`--jwt-settings MODULE:ATTR` / `--no-host-jwt` as one choice."""
    if ref is not None and not host_jwt:
        raise UsageError("--jwt-settings and --no-host-jwt contradict each other.")
    if not host_jwt:
        return "none"
    if ref is not None and not _SETTINGS_REF.match(ref.strip()):
        raise UsageError(
            f"--jwt-settings {ref!r} is not MODULE:ATTR.",
            hint="Give e.g. --jwt-settings app.core.config:settings.",
        )
    return ref.strip() if ref is not None else None


def build_spec(
    raw_name: str,
    *,
    auth: bool,
    rooms: bool,
    broadcast: bool,
    message_types: list[str] | tuple[str, ...] = (),
    path: str | None = None,
    client: str | None = None,
    jwt_settings: str | None = None,
    backend: str | None = None,
    template: str | None = None,
    template_ref: str | None = None,
    accelerator: str | None = None,
    asyncapi: bool = False,
    auth_with: str | None = None,
    recover: bool = False,
) -> Spec:
    name, note = normalize_name(raw_name)
    if name in RESERVED_NAMES:
        raise UsageError(
            f"The endpoint name {name!r} is used by the generated runtime package.",
            hint=f"Choose another name, for example `{name}_feed`.",
            code="name_taken",
        )
    notes = [note] if note else []
    builtin = {"join_room", "leave_room", "message", "ping", "typing", "auth"}
    types: list[MessageType] = []
    for raw_type in message_types:
        type_name, type_note = normalize_name(raw_type, what="message type")
        if type_name in builtin:
            raise UsageError(
                f"The message type {type_name!r} is built into the protocol.",
                hint="Choose another name for your own message type.",
                code="bad_name",
            )
        if any(t.name == type_name for t in types):
            raise UsageError(
                f"The message type {type_name!r} is given twice.", code="bad_name"
            )
        if type_note:
            notes.append(type_note)
        types.append(MessageType(type_name, camel_case(type_name)))
    if client is None:
        client = "js" if rooms or broadcast else "none"
    if client not in CLIENTS:
        raise UsageError(
            f"--client {client!r} is not one of {', '.join(CLIENTS)}.",
            hint="Use --client js, --client ts or --client none.",
        )
    backend = backend or "memory"
    if backend not in BACKENDS:
        raise UsageError(
            f"--backend {backend!r} is not one of {', '.join(BACKENDS)}.",
            hint="Use --backend memory (one process) or --backend redis (several).",
        )
    accelerator = accelerator or "none"
    if accelerator not in ACCELERATORS:
        raise UsageError(
            f"--accelerator {accelerator!r} is not one of {', '.join(ACCELERATORS)}.",
            hint="Use --accelerator uvicorn (served by uvicorn) or leave it out.",
        )
    if auth_with == "none":
        auth_with = None
    if auth_with is not None:
        auth_with = auth_with.strip()
        if not _SETTINGS_REF.match(auth_with):
            raise UsageError(
                f"--auth-with {auth_with!r} is not MODULE:FUNC.",
                hint="Give e.g. --auth-with app.core.security:verify_token"
                " (or none for wsgen's own JWT checks).",
            )
        if not auth:
            raise UsageError(
                "--auth-with checks tokens, and the endpoint has no --auth.",
                hint="Add --auth.",
            )
    if recover and not rooms:
        raise UsageError(
            "--recover replays room messages, and the endpoint has no --rooms.",
            hint="Add --rooms.",
        )
    return Spec(
        name=name,
        recover=recover,
        accelerator=accelerator,
        asyncapi=asyncapi,
        auth_with=auth_with,
        jwt_settings=jwt_settings,
        client=client,
        backend=backend,
        template=template,
        template_ref=template_ref if template else None,
        auth=auth,
        rooms=rooms,
        broadcast=broadcast,
        message_types=tuple(types),
        path=normalize_path(path, name),
        notes=tuple(notes),
    )
