"""Bad input to the CLI: the documented exit code, one line on stderr, no
traceback, and not one byte of the project changed."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import copy_example, run_wsgen
from wsgen.errors import EXIT_REFUSED, EXIT_USAGE
from wsgen.manifest import content_hash

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
}


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
    import json

    root = copy_example("app_package", tmp_path)
    before = tree(root)
    result = run_wsgen("class", "--json", cwd=root)
    assert result.returncode == EXIT_USAGE
    assert_one_line_error(result.stderr, "Python keyword")
    assert json.loads(result.stdout) == {
        "error": result.stderr.strip()[len("wsgen: error: ") :],
        "exit_code": 2,
    }
    assert tree(root) == before


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
