"""The registration edit: additions only, idempotent, refuses what it cannot do safely."""

from __future__ import annotations

import difflib

import pytest

from wsgen.build.registration_edit import (
    ManualRegistrationNeeded,
    Registration,
    register_router,
)
from wsgen.errors import RefusedError

IMPORT = "from app.routers.chat import router as chat_ws_router"
REL_IMPORT = "from .routers.chat import router as chat_ws_router"


def reg(
    receiver: str = "app",
    scope: str | None = None,
    module: str = "app.routers.chat",
    file: str = "app/main.py",
) -> Registration:
    return Registration(module, "chat_ws_router", receiver, scope, file, 3)


def added_lines(old: bytes, new: bytes) -> list[str]:
    """Lines the edit added; fails if any line of `old` was removed or changed."""
    # latin-1 maps every byte to one character, so this compares bytes exactly.
    a = old.decode("latin-1").splitlines(keepends=True)
    b = new.decode("latin-1").splitlines(keepends=True)
    added: list[str] = []
    removed = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        a=a, b=b, autojunk=False
    ).get_opcodes():
        if tag in ("replace", "delete"):
            removed += i2 - i1
        if tag in ("replace", "insert"):
            added.extend(b[j1:j2])
    assert removed == 0, "".join(difflib.unified_diff(a, b))
    return added


def code_added(old: bytes, new: bytes) -> list[str]:
    """Added lines without blank lines, stripped of line endings and indentation."""
    return [line.strip() for line in added_lines(old, new) if line.strip()]


def run_twice(source: bytes, registration: Registration) -> bytes:
    first = register_router(source, registration)
    assert first.changed
    second = register_router(first.new_source, registration)
    assert second.new_source == first.new_source
    assert not second.changed
    assert not second.added_import and not second.added_include
    return first.new_source


PRESERVED = {
    "crlf": (
        (
            b"from fastapi import FastAPI\r\n\r\napp = FastAPI()\r\n\r\n\r\n"
            b"@app.get('/')\r\ndef root():\r\n    return {}\r\n"
        ),
        reg(),
    ),
    "encoding_cookie": (
        "# -*- coding: latin-1 -*-\n# caf\xe9 cr\xe8me\nfrom fastapi import FastAPI\n\n"
        "app = FastAPI(title='Caf\xe9')\n".encode("latin-1"),
        reg(),
    ),
    "comments_quotes_trailing_commas": (
        (
            b"#!/usr/bin/env python\n"
            b"# top comment\n"
            b"from fastapi import (  # why\n"
            b"    FastAPI,\n"
            b"    APIRouter,\n"
            b")\n"
            b"\n"
            b"from app.routers import items  # the items\n"
            b"\n"
            b"app = FastAPI(\n"
            b"    title='It''s',\n"
            b'    description="""multi\n'
            b'line""",\n'
            b"    version=r'1.0',  # trailing comma next\n"
            b")\n"
            b"app.include_router(items.router, prefix='/items',)  # note\n"
            b"\n"
            b"# trailing comment\n"
        ),
        reg(),
    ),
    "tabs_in_factory": (
        (
            b"from fastapi import FastAPI\n\n\ndef create_app():\n"
            b"\t# build it\n\tapplication = FastAPI()\n\tif True:\n\t\tpass\n\treturn application\n"
        ),
        reg("application", "create_app"),
    ),
    "docstring_only_header": (b'"""The app."""\napp = FastAPI()\n', reg()),
    "no_imports": (b"app = make()\n\n\nprint(app)\n", reg()),
    "factory_app_underscore": (
        (
            b"from fastapi import FastAPI\n\n\ndef build() -> FastAPI:\n"
            b"    app_ = FastAPI()\n    return app_\n"
        ),
        reg("app_", "build"),
    ),
    "aggregator": (
        (
            b"from fastapi import APIRouter\n\nfrom app.api.routes import items, login\n\n"
            b"api_router = APIRouter()\napi_router.include_router(login.router)\n"
            b"api_router.include_router(items.router)\n"
        ),
        reg("api_router", module="app.api.routes.chat", file="app/api/main.py"),
    ),
}


@pytest.mark.parametrize(
    "source, registration", PRESERVED.values(), ids=PRESERVED.keys()
)
def test_edit_only_adds_the_two_lines(
    source: bytes, registration: Registration
) -> None:
    new = run_twice(source, registration)
    assert sorted(code_added(source, new)) == sorted(
        [registration.import_line, registration.include_line]
    )
    assert new.count(registration.include_line.encode()) == 1
    assert new.count(registration.import_line.encode()) == 1
    compile(new, "edited.py", "exec")


def test_crlf_is_kept_on_added_lines() -> None:
    source = PRESERVED["crlf"][0]
    new = register_router(source, reg()).new_source
    assert b"\n" not in new.replace(b"\r\n", b"")
    for line in added_lines(source, new):
        assert line.endswith("\r\n")


def test_encoding_cookie_file_stays_latin1() -> None:
    source = PRESERVED["encoding_cookie"][0]
    new = register_router(source, reg()).new_source
    assert new.startswith(b"# -*- coding: latin-1 -*-\n")
    assert "caf\xe9".encode("latin-1") in new
    with pytest.raises(UnicodeDecodeError):
        new.decode("utf-8")


def test_tabs_indent_the_include_inside_the_factory() -> None:
    source, registration = PRESERVED["tabs_in_factory"]
    new = register_router(source, registration).new_source
    assert (
        b"\tapplication = FastAPI()\n\tapplication.include_router(chat_ws_router)\n"
        in new
    )
    assert new.index(b"include_router") < new.index(b"return application")


def test_include_goes_after_existing_includes() -> None:
    source, registration = PRESERVED["aggregator"]
    new = register_router(source, registration).new_source
    assert new.endswith(
        b"api_router.include_router(items.router)\napi_router.include_router(chat_ws_router)\n"
    )


def test_import_joins_its_section_in_order() -> None:
    source = (
        b"from fastapi import FastAPI\n\nfrom app.core import config\nfrom app.schemas import Item\n"
        b"\napp = FastAPI()\n"
    )
    new = register_router(source, reg()).new_source
    lines = new.decode().splitlines()
    assert lines[2:5] == [
        "from app.core import config",
        IMPORT,
        "from app.schemas import Item",
    ]


def test_import_never_goes_above_code_that_must_run_before_fastapi() -> None:
    source = (
        b'"""Entry point."""\nimport os\n\n'
        b"# Must run before FastAPI is imported.\n"
        b'os.environ.setdefault("MODE", "api")\n\n'
        b"from fastapi import FastAPI  # noqa: E402\n\napp = FastAPI()\n"
    )
    new = register_router(source, reg()).new_source.decode()
    assert new.index("os.environ.setdefault") < new.index(IMPORT)
    assert f"{IMPORT}  # noqa: E402\n" in new
    assert new.index("from fastapi import FastAPI") < new.index(IMPORT)
    assert new.index(IMPORT) < new.index("app = FastAPI()")
    # destroy finds the line again, marker and all.
    from wsgen.commands.destroy import remove_registration

    removed = remove_registration(
        new, IMPORT, "app.include_router(chat_ws_router)", blank=True
    )
    assert removed == source.decode()


def test_import_joins_the_hosts_first_party_section_in_order() -> None:
    """`routers` and `app` are both the project's own (ruff's first-party
    section): the import goes between them, not into a section of its own."""
    source = (
        b"from fastapi import FastAPI\n\nfrom routers import items\n\napp = FastAPI()\n"
    )
    first_party = Registration(
        "app.routes.chat", "chat_ws_router", "app", None, "main.py", 3,
        frozenset({"routers", "app"}),
    )  # fmt: skip
    new = register_router(source, first_party).new_source.decode()
    assert new.splitlines()[:4] == [
        "from fastapi import FastAPI",
        "",
        "from app.routes.chat import router as chat_ws_router",
        "from routers import items",
    ]


def test_first_party_names_are_the_projects_top_level_modules() -> None:
    from wsgen.commands.generate import first_party_names

    paths = ["main.py", "routers/items.py", "src/shop/app.py", "tests/test_x.py"]
    assert first_party_names(paths) == {"main", "routers", "shop", "tests"}


def test_include_goes_before_a_catch_all_mount() -> None:
    source = (
        b"from fastapi import FastAPI\n\n\ndef create_app():\n"
        b"    application = FastAPI()\n"
        b"    # Must stay last.\n"
        b"    application.mount('/', StaticFiles(directory='s'), name='site')\n"
        b"    application.include_router(late.router)\n"
        b"    return application\n"
    )
    registration = reg("application", "create_app")
    new = run_twice(source, registration)
    assert sorted(code_added(source, new)) == sorted(
        [IMPORT, registration.include_line]
    )
    text = new.decode()
    assert text.index("include_router(chat_ws_router)") < text.index(
        "application.mount("
    )
    # the comment still sits right above the pair it belongs to
    assert "# Must stay last.\n    application.include_router(chat_ws_router)\n" in text


def test_module_level_mount_stays_last() -> None:
    source = b"from fastapi import FastAPI\n\napp = FastAPI()\napp.mount('/', site)\napp.include_router(x)\n"
    new = run_twice(source, reg())
    text = new.decode()
    assert text.index("app.include_router(chat_ws_router)") < text.index("app.mount(")


def test_relative_import_goes_into_the_relative_section() -> None:
    source = (
        b"from pathlib import Path\n\nfrom fastapi import FastAPI\n\n"
        b"from .api import products\nfrom .zed import z\n\n\n"
        b"def create_app():\n    application = FastAPI()\n    return application\n"
    )
    registration = reg(
        "application", "create_app", module=".routers.chat", file="src/shop/app.py"
    )
    new = run_twice(source, registration)
    lines = new.decode().splitlines()
    i = lines.index(REL_IMPORT)
    assert lines[i - 1] == "from .api import products"
    assert lines[i + 1] == "from .zed import z"


def test_present_import_missing_include_adds_only_the_include() -> None:
    source = f"from fastapi import FastAPI\n{IMPORT}\n\napp = FastAPI()\n".encode()
    edit = register_router(source, reg())
    assert not edit.added_import and edit.added_include
    assert code_added(source, edit.new_source) == ["app.include_router(chat_ws_router)"]


def test_present_include_missing_import_adds_only_the_import() -> None:
    source = b"from fastapi import FastAPI\n\napp = FastAPI()\napp.include_router(chat_ws_router)\n"
    edit = register_router(source, reg())
    assert edit.added_import and not edit.added_include
    assert code_added(source, edit.new_source) == [IMPORT]


def test_already_registered_returns_identical_bytes() -> None:
    source = f"from fastapi import FastAPI\n{IMPORT}\napp = FastAPI()\napp.include_router(chat_ws_router)\n"
    edit = register_router(source.encode(), reg())
    assert edit.new_source == source.encode()
    assert not edit.changed


UNSAFE = {
    "receiver_from_other_name_in_scope": (
        (
            b"from fastapi import FastAPI\n\n\ndef create_app():\n"
            b"    application = make()\n    return application\n"
        ),
        reg("app", "create_app"),
        "not assigned directly in create_app()",
    ),
    "one_line_function": (
        b"from fastapi import FastAPI\n\n\ndef create_app(): return FastAPI()\n",
        reg("app", "create_app"),
        "written on one line",
    ),
    "no_module_level_assignment": (
        b'"""Only a docstring."""\n',
        reg(),
        "no assignment to `app` at module level",
    ),
    "missing_function": (
        b"from fastapi import FastAPI\n\napp = FastAPI()\n",
        reg("app", "create_app"),
        "no top-level function create_app()",
    ),
}


@pytest.mark.parametrize(
    "source, registration, why", UNSAFE.values(), ids=UNSAFE.keys()
)
def test_unsafe_edits_ask_for_manual_registration(
    source: bytes, registration: Registration, why: str
) -> None:
    with pytest.raises(ManualRegistrationNeeded) as info:
        register_router(source, registration)
    message = info.value.one_line()
    assert why in message
    assert registration.file in message
    assert registration.import_line in message
    assert registration.include_line in message
    assert "\n" not in message
    assert info.value.exit_code == 1


def test_syntax_error_is_refused_with_the_file_name() -> None:
    with pytest.raises(RefusedError) as info:
        register_router(b"app = FastAPI(\n", reg())
    assert "app/main.py" in info.value.one_line()
    assert not isinstance(info.value, ManualRegistrationNeeded)
