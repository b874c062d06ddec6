"""Bad input to the CLI: the documented exit code, one line on stderr, no
traceback, and not one byte of the project changed."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import copy_example, run_on_terminal, run_wsgen, validated_json
from wsgen.build.manifest import content_hash
from wsgen.cli import COMMANDS
from wsgen.errors import (
    ERROR_CODES,
    EXIT_CHECK_EDITED,
    EXIT_CHECK_MISSING,
    EXIT_CHECK_STALE,
    EXIT_CHECK_UNREGISTERED,
    EXIT_REFUSED,
    EXIT_USAGE,
)

APP = "from fastapi import FastAPI\n\napp = FastAPI()\n"


def write(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


@dataclass
class Case:
    args: list[str]
    code: int
    fragment: str  # part of the one-line error message
    example: str | None = "app_package"  # None: an empty folder, filled by `files`
    files: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None


def owned_runtime_init(root: Path) -> None:
    """A manifest saying wsgen generated app/websocket/__init__.py, plus a
    foreign manager.py in the same folder: that file is a conflict."""
    init = root / "app/websocket/__init__.py"
    write(
        root, {"app/websocket/__init__.py": "", "app/websocket/manager.py": "# mine\n"}
    )
    (root / ".wsgen.toml").write_text(
        '[wsgen]\nversion = "0.1.0"\n\n[runtime]\ndir = "app/websocket"\n\n'
        f'[runtime.files]\n"app/websocket/__init__.py" = "{content_hash(init.read_bytes())}"\n',
        encoding="utf-8",
    )


# --- copier templates (--template), kept beside the project -------------------
ROUTE_JINJA = "{{ routes_dir }}/{{ name }}.py.jinja"
ANSWERS_JINJA = "{{ _copier_conf.answers_file }}.jinja"
GOOD_TEMPLATE = {
    "copier.yml": "name: {type: str}\nroutes_dir: {type: str}\n",
    ANSWERS_JINJA: "{{ _copier_answers|to_nice_yaml }}",
    ROUTE_JINJA: "from fastapi import APIRouter\n\nrouter = APIRouter()\n",
}


def copier_template(
    files: dict[str, str], *, drop: tuple[str, ...] = (), git_tag: str | None = None
) -> Callable[[Path], None]:
    """A setup writing a template to ../tpl: the good one, changed by `files`."""

    def setup(root: Path) -> None:
        folder = root.parent / "tpl"
        content = {k: v for k, v in {**GOOD_TEMPLATE, **files}.items() if k not in drop}
        write(folder, content)
        if git_tag:
            import subprocess

            env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_COMMITTER_NAME": "t",
                   "GIT_AUTHOR_EMAIL": "t@example.invalid",
                   "GIT_COMMITTER_EMAIL": "t@example.invalid"}  # fmt: skip
            for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "t"],
                         ["tag", git_tag]):  # fmt: skip
                subprocess.run(["git", *args], cwd=folder, env=env, check=True,
                               capture_output=True)  # fmt: skip

    return setup


TEMPLATE = ["chat", "--template", "../tpl", "--yes", "--no-verify"]


def generated(old: str = "", new: str = "", file: str = "app/main.py"):
    """A setup generating `chat`, then replacing `old` by `new` in `file`."""

    def setup(root: Path) -> None:
        result = run_wsgen("chat", "--yes", "--no-verify", cwd=root)
        assert result.returncode == 0, result.stderr
        if old:
            path = root / file
            text = path.read_text(encoding="utf-8")
            assert old in text
            path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return setup


def chat_with_rooms(root: Path) -> None:
    """The endpoint `chat` generated earlier."""
    result = run_wsgen("chat", "--rooms", "--yes", "--no-verify", cwd=root)
    assert result.returncode == 0, result.stderr


def skill_installed(*flags: str, edit: str) -> Callable[[Path], None]:
    """The /ws skill installed, then `edit` (a file) changed by hand."""

    def setup(root: Path) -> None:
        assert run_wsgen("install-command", *flags, cwd=root).returncode == 0
        target = root / edit
        target.write_text(target.read_text().replace("Gather", "Collect"))

    return setup


INCLUDE = "app.include_router(chat_ws_router)"
CHECK_EXIT_CODES = {
    EXIT_CHECK_MISSING,
    EXIT_CHECK_UNREGISTERED,
    EXIT_CHECK_EDITED,
    EXIT_CHECK_STALE,
}
ANY_HASH = "0" * 64


CASES: dict[str, Case] = {
    # --- names -----------------------------------------------------------------
    "empty-name": Case(["", "--yes"], EXIT_USAGE, "is empty"),
    "blank-name": Case(["   ", "--yes"], EXIT_USAGE, "is empty"),
    "keyword-name": Case(["class", "--yes"], EXIT_USAGE, "Python keyword"),
    "slash-in-name": Case(["a/b", "--yes"], EXIT_USAGE, "path separator"),
    "dot-in-name": Case(["chat.room", "--yes"], EXIT_USAGE, "path separator"),
    "leading-digit": Case(
        ["1abc", "--yes"], EXIT_USAGE, "not a valid Python identifier"
    ),
    "bad-characters": Case(
        ["na-me!", "--yes"], EXIT_USAGE, "not a valid Python identifier"
    ),
    "reserved-name": Case(
        ["websocket", "--yes"], EXIT_USAGE, "generated runtime package"
    ),
    "shadows-routes-module": Case(
        ["items", "--yes"],
        EXIT_USAGE,
        "would shadow the existing module app/routers/items.py",
    ),
    "name-is-the-package": Case(
        ["app", "--yes"], EXIT_USAGE, "is the name of your package"
    ),
    "missing-name": Case(["--auth", "--yes"], EXIT_USAGE, "Missing the endpoint name"),
    "unknown-accelerator": Case(
        ["chat", "--accelerator", "nginx", "--yes"], EXIT_USAGE, "--accelerator 'nginx'"
    ),
    "recover-without-rooms": Case(
        ["chat", "--recover", "--yes"], EXIT_USAGE, "--recover replays room messages"
    ),
    "name-too-long": Case(["a" * 300, "--yes"], EXIT_USAGE, "the limit is 64"),
    "message-type-too-long": Case(
        ["chat", "-m", "b" * 65, "--yes"], EXIT_USAGE, "the limit is 64"
    ),
    # --- message types and path ----------------------------------------------------
    "builtin-message-type": Case(
        ["chat", "-m", "ping", "--yes"], EXIT_USAGE, "built into the protocol"
    ),
    "duplicate-message-type": Case(
        ["chat", "-m", "order-placed", "-m", "order_placed", "--yes"],
        EXIT_USAGE,
        "given twice",
    ),
    "keyword-message-type": Case(
        ["chat", "-m", "class", "--yes"], EXIT_USAGE, "message type 'class'"
    ),
    "relative-path": Case(
        ["chat", "--path", "ws/chat", "--yes"], EXIT_USAGE, "is not a URL path"
    ),
    "path-with-template": Case(
        ["chat", "--path", "/ws/{room}", "--yes"], EXIT_USAGE, "is not a URL path"
    ),
    # --- the project ---------------------------------------------------------------
    "project-missing": Case(
        ["chat", "--project", "nowhere", "--yes"], EXIT_USAGE, "no such folder"
    ),
    "project-is-a-file": Case(
        ["chat", "--project", "pyproject.toml", "--yes"], EXIT_USAGE, "is a file"
    ),
    "no-fastapi-app": Case(
        ["chat", "--yes"],
        EXIT_REFUSED,
        "No FastAPI application found",
        example=None,
        files={
            "README.md": "# not python\n",
            "tool.py": "# FastAPI()\nprint('hi')\n",
            "tests/test_app.py": APP,
        },
    ),
    "several-apps": Case(
        ["chat", "--yes"],
        EXIT_REFUSED,
        "Found 2 FastAPI applications",
        example=None,
        files={"one.py": APP, "two.py": APP},
    ),
    "app-bad-form": Case(
        ["chat", "--app", "app/main.py", "--yes"],
        EXIT_USAGE,
        "is not of the form MODULE:ATTR",
    ),
    "app-missing-module": Case(
        ["chat", "--app", "app.nope:app", "--yes"], EXIT_USAGE, "no module 'app.nope'"
    ),
    "app-missing-attr": Case(
        ["chat", "--app", "app.main:application", "--yes"],
        EXIT_USAGE,
        "has no FastAPI app or factory named 'application'",
    ),
    "syntax-error-in-app": Case(
        ["chat", "--yes"],
        EXIT_REFUSED,
        "main.py line 3: syntax error",
        example=None,
        files={"main.py": "from fastapi import FastAPI\n\napp = FastAPI(\n"},
    ),
    "invalid-pyproject": Case(
        ["chat", "--yes"],
        EXIT_REFUSED,
        "pyproject.toml is not valid TOML",
        files={"pyproject.toml": "[project\nname = 'x'\n"},
    ),
    "invalid-manifest": Case(
        ["chat", "--yes"],
        EXIT_REFUSED,
        ".wsgen.toml is not a valid wsgen manifest",
        files={".wsgen.toml": "[wsgen\n"},
    ),
    "pydantic-v1": Case(
        ["chat", "--yes"],
        EXIT_REFUSED,
        "uses pydantic v1",
        example="single_file",
        files={"requirements.txt": "fastapi==0.99\npydantic<2\n"},
    ),
    "fastapi-too-old-with-app-lifespan": Case(
        ["chat", "--yes"],
        EXIT_REFUSED,
        "does not run a router's lifespan",
        example=None,
        files={
            "requirements.txt": "fastapi==0.110.0\n",
            "main.py": "from contextlib import asynccontextmanager\n\n"
            "from fastapi import FastAPI\n\n\n@asynccontextmanager\n"
            "async def lifespan(app):\n    yield\n\n\n"
            "app = FastAPI(lifespan=lifespan)\n",
        },
    ),
    "pydantic-v1-poetry-table": Case(
        ["chat", "--yes"],
        EXIT_REFUSED,
        "uses pydantic v1",
        example=None,
        files={
            "main.py": APP,
            "pyproject.toml": "[tool.poetry.dependencies]\n"
            'pydantic = { version = "^1.9", extras = ["email"] }\n',
        },
    ),
    "workspace-root": Case(
        ["chat", "--yes"],
        EXIT_REFUSED,
        "Run wsgen on that project: --project backend",
        example=None,
        files={
            "pyproject.toml": '[tool.uv.workspace]\nmembers = ["backend"]\n',
            "backend/pyproject.toml": '[project]\nname = "b"\ndependencies = ["fastapi"]\n',
            "backend/app/__init__.py": "",
            "backend/app/main.py": APP,
        },
    ),
    "unsafe-registration": Case(
        ["chat", "--yes"],
        EXIT_REFUSED,
        "Cannot register the router in main.py safely",
        example=None,
        files={
            "main.py": "from fastapi import FastAPI\n\n\n"
            "def create_app(): app = FastAPI(); return app\n"
        },
    ),
    # --- conflicts with what is on disk --------------------------------------------
    "path-taken-by-route": Case(
        ["chat", "--path", "/notes", "--yes"],
        EXIT_REFUSED,
        "A route at /notes already exists (main.py:",
        example="single_file",
    ),
    "conflicting-test-file": Case(
        ["chat", "--yes", "--no-verify"],
        EXIT_REFUSED,
        "exist and differ",
        files={"tests/test_chat_ws.py": "# my own test\n"},
    ),
    "conflicting-runtime-file": Case(
        ["chat", "--yes", "--no-verify"],
        EXIT_REFUSED,
        "app/websocket/manager.py",
        setup=owned_runtime_init,
    ),
    "folder-at-file-path": Case(
        ["chat", "--yes", "--no-verify"],
        EXIT_REFUSED,
        "tests/test_chat_ws.py is a folder",
        files={"tests/test_chat_ws.py/keep.txt": "x\n"},
    ),
    # --- the command line itself ---------------------------------------------------
    "unknown-option": Case(["chat", "--bogus"], EXIT_USAGE, "--bogus"),
    "flag-given-a-value": Case(["chat", "--auth=yes"], EXIT_USAGE, "--auth"),
    "option-without-value": Case(["chat", "--yes", "-m"], EXIT_USAGE, "-m"),
    "misspelled-option": Case(["chat", "--room", "--yes"], EXIT_USAGE, "--room"),
    "extra-argument": Case(["chat", "extra", "--yes"], EXIT_USAGE, "extra"),
    "destroy-without-name": Case(["destroy"], EXIT_USAGE, "Missing the endpoint name"),
    "upgrade-without-name": Case(["upgrade"], EXIT_USAGE, "Missing the endpoint name"),
    "check-without-manifest": Case(["check"], EXIT_REFUSED, "No .wsgen.toml"),
    "check-unknown-option": Case(["check", "--bogus"], EXIT_USAGE, "--bogus"),
    "check-invalid-manifest": Case(
        ["check"],
        EXIT_REFUSED,
        "not a valid wsgen manifest",
        files={".wsgen.toml": "endpoints = 3\n[endpoints.x]\n"},
    ),
    "check-include-commented-out": Case(
        ["check"],
        EXIT_CHECK_UNREGISTERED,
        "check found 1 problem(s). Fix app/main.py (missing: " + INCLUDE,
        setup=generated(INCLUDE, "# " + INCLUDE),
    ),
    "check-include-deleted": Case(
        ["check"],
        EXIT_CHECK_UNREGISTERED,
        "or remove the endpoint with `wsgen destroy chat`",
        setup=generated(INCLUDE + "\n", ""),
    ),
    "check-accept-unknown-file": Case(
        ["check", "--accept", "app/main.py"],
        EXIT_USAGE,
        "--accept app/main.py: not a file wsgen generated here",
        setup=generated(),
    ),
    "check-accept-the-route-module": Case(
        ["check", "--accept", "app/routers/chat.py"],
        EXIT_USAGE,
        "the route module is yours; its edits never fail check",
        setup=generated(),
    ),
    "check-accept-outside-the-project": Case(
        ["check", "--accept", "../elsewhere.py"],
        EXIT_USAGE,
        "not a file of the project",
        setup=generated(),
    ),
    "install-with-no-verify": Case(
        ["chat", "--yes", "--install", "--no-verify"],
        EXIT_USAGE,
        "--install installs what verifying finds missing",
    ),
    # --- --template: a copier template -------------------------------------------
    "template-missing-folder": Case(
        TEMPLATE, EXIT_USAGE, "--template ../tpl: no such folder"
    ),
    "template-not-a-copier-template": Case(
        TEMPLATE,
        EXIT_USAGE,
        "is not a copier template (no copier.yml or copier.yaml)",
        setup=copier_template({}, drop=("copier.yml",)),
    ),
    "template-git-url-cannot-be-cloned": Case(
        ["chat", "--template", "file:///nonexistent/wsgen-template", "--yes"],
        EXIT_USAGE,
        "git cannot fetch it",
    ),
    "template-unknown-vcs-ref": Case(
        [*TEMPLATE, "--vcs-ref", "v9"],
        EXIT_USAGE,
        "Unknown revision",
        setup=copier_template({}, git_tag="v1"),
    ),
    "vcs-ref-without-template": Case(
        ["chat", "--vcs-ref", "v1", "--yes"], EXIT_USAGE, "--vcs-ref needs --template"
    ),
    "template-renders-outside-the-project": Case(
        TEMPLATE,
        EXIT_REFUSED,
        "renders a path outside the project",
        setup=copier_template({"{{ '..' }}/evil.py": "x = 1\n"}),
    ),
    "template-over-an-existing-file": Case(
        TEMPLATE,
        EXIT_REFUSED,
        "1 file(s) exist and differ: app/schemas.py",
        setup=copier_template({"app/schemas.py.jinja": "# ours now\n"}),
    ),
    "template-over-the-runtime": Case(
        TEMPLATE,
        EXIT_REFUSED,
        "writes app/websocket/manager.py, which is part of the shared runtime",
        setup=copier_template({"app/websocket/manager.py": "# ours\n"}),
    ),
    "template-over-the-manifest": Case(
        TEMPLATE,
        EXIT_REFUSED,
        "writes .wsgen.toml, which belongs to wsgen or git",
        setup=copier_template({".wsgen.toml": "# ours\n"}),
    ),
    "template-with-tasks": Case(
        TEMPLATE,
        EXIT_USAGE,
        "needs copier's unsafe features (tasks), which wsgen never runs",
        setup=copier_template(
            {"copier.yml": GOOD_TEMPLATE["copier.yml"] + "_tasks: [touch pwned]\n"}
        ),
    ),
    "template-with-jinja-extensions": Case(
        TEMPLATE,
        EXIT_USAGE,
        "unsafe features (jinja_extensions)",
        setup=copier_template(
            {
                "copier.yml": GOOD_TEMPLATE["copier.yml"]
                + "_jinja_extensions: [jinja2.ext.do]\n"
            }
        ),
    ),
    "template-without-answers-file": Case(
        TEMPLATE,
        EXIT_USAGE,
        "writes no copier answers file",
        setup=copier_template({}, drop=(ANSWERS_JINJA,)),
    ),
    "template-without-route-module": Case(
        TEMPLATE,
        EXIT_USAGE,
        "does not render app/routers/chat.py, the route module wsgen registers",
        setup=copier_template({}, drop=(ROUTE_JINJA,)),
    ),
    "template-asks-an-unknown-question": Case(
        TEMPLATE,
        EXIT_USAGE,
        "asks 'team', which wsgen does not answer",
        setup=copier_template(
            {"copier.yml": GOOD_TEMPLATE["copier.yml"] + "team: {type: str}\n"}
        ),
    ),
    "template-syntax-error": Case(
        TEMPLATE,
        EXIT_USAGE,
        "template error",
        setup=copier_template({ROUTE_JINJA: "router = {{ name \n"}),
    ),
    # --- plans bound to applies, endpoints by name, the agent skill ---------------
    "stale-plan-new": Case(
        ["chat", "--yes", "--no-verify", "--expect-plan", ANY_HASH],
        EXIT_REFUSED,
        "The plan changed since it was shown",
    ),
    "stale-plan-upgrade": Case(
        ["upgrade", "chat", "--broadcast", "--no-verify", "--expect-plan", ANY_HASH],
        EXIT_REFUSED,
        "The plan changed since it was shown",
        setup=chat_with_rooms,
    ),
    "stale-plan-destroy": Case(
        ["destroy", "chat", "--expect-plan", ANY_HASH],
        EXIT_REFUSED,
        "The plan changed since it was shown",
        setup=chat_with_rooms,
    ),
    "upgrade-unknown-endpoint": Case(
        ["upgrade", "nope"],
        EXIT_USAGE,
        "No endpoint 'nope' to upgrade (endpoints: chat)",
        setup=chat_with_rooms,
    ),
    "upgrade-without-manifest": Case(
        ["upgrade", "chat"], EXIT_USAGE, "No endpoint 'chat' to upgrade"
    ),
    "destroy-unknown-endpoint": Case(
        ["destroy", "nope"],
        EXIT_REFUSED,
        "No endpoint 'nope' in .wsgen.toml (endpoints: chat)",
        setup=chat_with_rooms,
    ),
    "destroy-without-manifest": Case(
        ["destroy", "chat"], EXIT_REFUSED, "No .wsgen.toml"
    ),
    "skill-edited-by-hand": Case(
        ["install-command"],
        EXIT_REFUSED,
        ".claude/skills/ws/SKILL.md (edited by hand) differs",
        setup=skill_installed(edit=".claude/skills/ws/SKILL.md"),
    ),
    "agents-md-section-edited-by-hand": Case(
        ["install-command", "--agents-md"],
        EXIT_REFUSED,
        "AGENTS.md (wsgen's section was edited by hand) differs",
        setup=skill_installed("--agents-md", edit="AGENTS.md"),
    ),
    "flag-error-with-json": Case(["chat", "--json", "--bogus"], EXIT_USAGE, "--bogus"),
}

# The `code` each refusal carries with --json (every case carries one).
CODES = {
    "empty-name": "bad_name",
    "keyword-name": "bad_name",
    "reserved-name": "name_taken",
    "shadows-routes-module": "name_taken",
    "project-missing": "no_project",
    "no-fastapi-app": "no_app",
    "several-apps": "several_apps",
    "app-bad-form": "bad_app_ref",
    "syntax-error-in-app": "syntax_error",
    "invalid-pyproject": "invalid_config",
    "invalid-manifest": "invalid_manifest",
    "pydantic-v1": "pydantic_v1",
    "fastapi-too-old-with-app-lifespan": "fastapi_too_old",
    "unsafe-registration": "unsafe_edit",
    "path-taken-by-route": "path_taken",
    "conflicting-test-file": "conflict",
    "folder-at-file-path": "conflict",
    "unknown-option": "usage",
    "option-without-value": "usage",
    "check-without-manifest": "no_manifest",
    "template-missing-folder": "template",
    "template-renders-outside-the-project": "template",
    "stale-plan-new": "stale_plan",
    "stale-plan-upgrade": "stale_plan",
    "stale-plan-destroy": "stale_plan",
    "upgrade-unknown-endpoint": "unknown_endpoint",
    "upgrade-without-manifest": "unknown_endpoint",
    "destroy-unknown-endpoint": "unknown_endpoint",
    "destroy-without-manifest": "no_manifest",
    "skill-edited-by-hand": "conflict",
    "agents-md-section-edited-by-hand": "conflict",
    "flag-error-with-json": "usage",
}


# --- re-runs and destroy --------------------------------------------------------
def generated(*args: str, then: dict[str, str] | None = None) -> Callable[[Path], None]:
    """A setup generating an endpoint, then appending `then` to files."""

    def setup(root: Path) -> None:
        result = run_wsgen(*args, "--yes", "--no-verify", cwd=root)
        assert result.returncode == 0, result.stdout + result.stderr
        for rel, text in (then or {}).items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(text)

    return setup


AUTH_ROOMS = generated("chat", "--auth", "--rooms")
NO_AUTH = "removes authentication from the endpoint 'chat'"
CASES.update(
    {
        "rerun-takes-auth-away-without-a-terminal": Case(
            ["chat", "--no-auth", "--no-verify"], EXIT_REFUSED, NO_AUTH,
            setup=AUTH_ROOMS,
        ),
        "rerun-takes-auth-away-with-yes": Case(
            ["chat", "--no-auth", "--yes", "--no-verify"], EXIT_REFUSED, NO_AUTH,
            setup=AUTH_ROOMS,
        ),
        "upgrade-takes-auth-away-without-force": Case(
            ["upgrade", "chat", "--no-auth", "--no-verify"], EXIT_REFUSED, NO_AUTH,
            setup=AUTH_ROOMS,
        ),
        "destroy-keeps-an-edited-module-importing-the-runtime": Case(
            ["destroy", "chat", "--yes"], EXIT_REFUSED,
            "app/routers/chat.py imports app.websocket",
            setup=generated("chat", then={"app/routers/chat.py": "# mine\n"}),
        ),
        "destroy-while-host-code-imports-the-runtime": Case(
            ["destroy", "chat", "--yes"], EXIT_REFUSED,
            "app/notify.py imports app.websocket.manager, which destroy would remove",
            setup=generated("chat", then={
                "app/notify.py": "from app.websocket.manager import ConnectionManager\n"
            }),
        ),
        "destroy-while-host-code-imports-the-runtime-relatively": Case(
            ["destroy", "chat", "--yes"], EXIT_REFUSED,
            "app/notify.py imports app.websocket, which destroy would remove",
            setup=generated("chat", then={"app/notify.py": "from .websocket import manager\n"}),
        ),
        "destroy-while-host-code-imports-the-route-module": Case(
            ["destroy", "chat", "--yes"], EXIT_REFUSED,
            "app/main.py imports app.routers.chat",
            setup=generated("chat", then={
                "app/main.py": "from app.routers.chat import manager as chat_manager\n"
            }),
        ),
    }
)  # fmt: skip


def tree(root: Path) -> tuple[dict[str, bytes], frozenset[str]]:
    """Every file's bytes and the set of folders."""
    files: dict[str, bytes] = {}
    dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in dirnames:
            dirs.add((here / name).relative_to(root).as_posix())
        for name in filenames:
            files[(here / name).relative_to(root).as_posix()] = (
                here / name
            ).read_bytes()
    return files, frozenset(dirs)


def make_project(tmp_path: Path, case: Case) -> Path:
    if case.example is None:
        root = tmp_path / "project"
        root.mkdir()
    else:
        root = copy_example(case.example, tmp_path)
    write(root, case.files)
    if case.setup is not None:
        case.setup(root)
    return root


def assert_one_line_error(stderr: str, fragment: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("wsgen: error: "), stderr
    assert fragment in lines[0], stderr


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_cleanly(tmp_path: Path, case: Case) -> None:
    root = make_project(tmp_path, case)
    before = tree(root)
    result = run_wsgen(*case.args, cwd=root)
    assert result.returncode == case.code, (result.stdout, result.stderr)
    assert_one_line_error(result.stderr, case.fragment)
    assert tree(root) == before


def test_json_mode_reports_the_error_on_both_streams(tmp_path: Path) -> None:
    root = copy_example("app_package", tmp_path)
    before = tree(root)
    result = run_wsgen("class", "--json", cwd=root)
    assert result.returncode == EXIT_USAGE
    assert_one_line_error(result.stderr, "Python keyword")
    assert validated_json(result.stdout, "error") == {
        "error": result.stderr.strip()[len("wsgen: error: ") :],
        "code": "bad_name",
        "exit_code": 2,
    }
    assert tree(root) == before


# A failing `check` is a report (schema: check), not an error object.
@pytest.mark.parametrize(
    "case_id", [k for k, c in CASES.items() if c.code not in CHECK_EXIT_CODES]
)
def test_every_refusal_is_a_json_error_with_a_code(
    tmp_path: Path, case_id: str
) -> None:
    """The same bad input with --json: one JSON object on stdout, valid
    against `wsgen schema`, with the stable code and the stderr line."""
    case = CASES[case_id]
    root = make_project(tmp_path, case)
    before = tree(root)
    # Before the other options: `-m` with no value would take it as its own.
    at = 1 if case.args[0] in COMMANDS else 0
    args = (
        case.args
        if "--json" in case.args
        else [*case.args[:at], "--json", *case.args[at:]]
    )
    result = run_wsgen(*args, cwd=root)
    assert result.returncode == case.code, (result.stdout, result.stderr)
    assert_one_line_error(result.stderr, case.fragment)
    report = validated_json(result.stdout, "error")
    assert report["exit_code"] == case.code
    assert report["error"] == result.stderr.strip()[len("wsgen: error: ") :]
    assert report["code"] == CODES.get(case_id, report["code"])
    assert report["code"] in ERROR_CODES
    assert tree(root) == before


def test_every_case_with_a_code_exists() -> None:
    assert set(CODES) <= set(CASES)


def test_read_only_host_file_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tests may run as root, for whom no mode bit makes a file read-only, so
    the check is exercised in-process by having os.access deny app/main.py."""
    from wsgen.cli import main

    root = copy_example("app_package", tmp_path)
    before = tree(root)
    real_access = os.access
    host_file = root / "app" / "main.py"

    def access(path: object, mode: int, **kwargs: object) -> bool:
        if Path(path) == host_file and mode == os.W_OK:  # type: ignore[arg-type]
            return False
        return real_access(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115
    with pytest.raises(SystemExit) as info:
        main(["chat", "--yes", "--no-verify"])
    sys.stdin.close()
    assert info.value.code == EXIT_REFUSED
    assert_one_line_error(capsys.readouterr().err, "app/main.py is read-only")
    assert tree(root) == before


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 25


def test_template_without_copier_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """copier is an optional dependency: without it, one line says how to add it."""
    from wsgen.cli import main

    root = copy_example("app_package", tmp_path)
    copier_template({})(root)
    before = tree(root)
    monkeypatch.setitem(sys.modules, "copier", None)  # `import copier` fails
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115
    with pytest.raises(SystemExit) as info:
        main(TEMPLATE)
    sys.stdin.close()
    assert info.value.code == EXIT_USAGE
    assert_one_line_error(capsys.readouterr().err, "pip install 'wsgen[copier]'")
    assert tree(root) == before


def test_a_rerun_without_flags_keeps_what_was_chosen(tmp_path: Path) -> None:
    root = copy_example("app_package", tmp_path)
    AUTH_ROOMS(root)
    before = tree(root)
    runs = {
        ("chat",): "--auth --rooms",
        ("chat", "--yes"): "--auth --rooms",
        ("chat", "--rooms", "--yes"): "--auth",  # fewer flags than before
    }
    for args, kept in runs.items():
        result = run_wsgen(*args, "--no-verify", cwd=root)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Nothing to change" in result.stdout
        assert "unauthenticated" not in result.stdout
        # The run says what it kept and how to turn it off, on one line.
        note = f"note: 'chat' keeps {kept} from .wsgen.toml (not given; to turn off:"
        assert note in result.stdout.replace("\n", " ")
        assert tree(root) == before, "auth and rooms kept, not one byte changed"


def test_taking_auth_away_with_force_warns_and_keeps_the_rest(tmp_path: Path) -> None:
    root = copy_example("app_package", tmp_path)
    AUTH_ROOMS(root)
    result = run_wsgen("chat", "--no-auth", "--force", "--no-verify", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: this removes authentication from 'chat'" in result.stdout
    manifest = (root / ".wsgen.toml").read_text()
    assert "auth = false" in manifest and "rooms = true" in manifest


def test_destroy_on_a_terminal_asks_and_no_changes_nothing(tmp_path: Path) -> None:
    root = copy_example("app_package", tmp_path)
    generated("chat")(root)
    before = tree(root)
    code, output = run_on_terminal(
        "destroy", "chat", cwd=root, answers=[("Remove chat?", "n")]
    )
    assert code == 0, output
    assert "delete" in output and "Nothing changed." in output
    assert tree(root) == before


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "no-terminal"])
def test_destroy_yes_removes_without_a_question(tmp_path: Path, terminal: bool) -> None:
    root = copy_example("app_package", tmp_path)
    original = tree(root)
    generated("chat", "--auth", "--rooms")(root)
    if terminal:
        code, output = run_on_terminal("destroy", "chat", "--yes", cwd=root)
    else:
        result = run_wsgen("destroy", "chat", "--yes", cwd=root)
        code, output = result.returncode, result.stdout + result.stderr
    assert code == 0, output
    assert "Remove chat?" not in output
    assert tree(root) == original, "every byte back, no .wsgen folder left"


def test_on_a_terminal_each_question_defaults_to_the_recorded_option(
    tmp_path: Path,
) -> None:
    root = copy_example("app_package", tmp_path)
    generated("chat", "--auth", "--broadcast", "-m", "ack")(root)
    before = tree(root)
    questions = ["Require a JWT", "Support rooms", "Broadcast", "Extra message types"]
    code, output = run_on_terminal(
        "chat", "--no-verify", cwd=root, answers=[(q, "") for q in questions]
    )
    assert code == 0, output
    assert "Nothing to change" in output
    assert tree(root) == before
