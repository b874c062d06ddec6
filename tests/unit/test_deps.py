"""Adding the runtime's dependencies where the host declares its own."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

from wsgen.build import features
from wsgen.build.deps import import_name, plan_dependencies
from wsgen.build.manifest import DependencyInsert
from wsgen.commands.destroy import undo_insert
from wsgen.host.projectconfig import load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# An endpoint with --auth: fastapi, pyjwt, structlog.
REQUIREMENTS = features.requirements(features.features_of({"auth": True}))
ALL = list(REQUIREMENTS.values())
WANTED = ["pyjwt>=2.8", "structlog>=24.1"]


def project(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return tmp_path


def plan(root: Path):
    return plan_dependencies(load_config(root), REQUIREMENTS)


def only_additions(old: str, new: str) -> list[str]:
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    added = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        a=a, b=b, autojunk=False
    ).get_opcodes():
        assert tag in ("equal", "insert"), "".join(difflib.unified_diff(a, b))
        if tag == "insert":
            added.extend(b[j1:j2])
    return added


def declared(text: str) -> list[str]:
    return tomllib.loads(text)["project"]["dependencies"]


def test_pep621_multi_line(tmp_path: Path) -> None:
    text = '[project]\nname = "x"\ndependencies = [\n    "fastapi>=0.115",\n    "httpx",\n]\n\n[tool.ruff]\nline-length = 88\n'
    edit = plan(project(tmp_path, {"pyproject.toml": text}))
    assert edit.file == "pyproject.toml"
    assert list(edit.missing) == WANTED
    assert edit.new_text is not None
    assert only_additions(text, edit.new_text) == [
        '    "pyjwt>=2.8",\n',
        '    "structlog>=24.1",\n',
    ]
    assert declared(edit.new_text) == ["fastapi>=0.115", "httpx", *WANTED]


def test_pep621_multi_line_with_extras_in_brackets(tmp_path: Path) -> None:
    text = '[project]\nname = "x"\ndependencies = [\n    "fastapi>=0.115",\n    "uvicorn[standard]>=0.30",\n]\n'
    edit = plan(project(tmp_path, {"pyproject.toml": text}))
    assert edit.new_text is not None
    assert declared(edit.new_text) == [
        "fastapi>=0.115",
        "uvicorn[standard]>=0.30",
        *WANTED,
    ]
    only_additions(text, edit.new_text)


def test_pep621_multi_line_without_trailing_comma(tmp_path: Path) -> None:
    text = '[project]\nname = "x"\ndependencies = [\n\t"fastapi",\n\t"uvicorn[standard]"\n]\n'
    edit = plan(project(tmp_path, {"pyproject.toml": text}))
    assert edit.new_text is not None
    assert declared(edit.new_text) == ["fastapi", "uvicorn[standard]", *WANTED]
    assert '\t"pyjwt>=2.8",\n' in edit.new_text


def test_pep621_multi_line_with_comments(tmp_path: Path) -> None:
    text = '[project]\nname = "x"\ndependencies = [\n    "fastapi",  # the web framework [core]\n]\n'
    edit = plan(project(tmp_path, {"pyproject.toml": text}))
    assert edit.new_text is not None
    assert declared(edit.new_text) == ["fastapi", *WANTED]
    only_additions(text, edit.new_text)


@pytest.mark.parametrize(
    "array, expected",
    [
        ('["fastapi"]', ["fastapi", *WANTED]),
        (
            '["fastapi", "uvicorn[standard]>=0.30",]',
            ["fastapi", "uvicorn[standard]>=0.30", *WANTED],
        ),
        ("[]", ALL),
    ],
    ids=["one", "extras-and-trailing-comma", "empty"],
)
def test_pep621_single_line(tmp_path: Path, array: str, expected: list[str]) -> None:
    text = f'[project]\nname = "x"\ndependencies = {array}\n\n[tool.x]\ny = 1\n'
    edit = plan(project(tmp_path, {"pyproject.toml": text}))
    assert edit.new_text is not None
    assert declared(edit.new_text) == expected
    assert edit.new_text.count("\n") == text.count("\n")
    assert edit.new_text.endswith("\n\n[tool.x]\ny = 1\n")


def test_pep621_crlf(tmp_path: Path) -> None:
    text = '[project]\r\nname = "x"\r\ndependencies = [\r\n    "fastapi",\r\n]\r\n'
    edit = plan(project(tmp_path, {"pyproject.toml": text.encode()}))
    assert edit.new_text is not None
    # load_config reads in text mode; the edit must not mix line endings either way
    new = edit.new_text
    assert ("\r\n" in new) == ("\r\n" in load_config(tmp_path).pyproject_text)  # type: ignore[operator]
    assert declared(new) == ["fastapi", *WANTED]


def test_poetry(tmp_path: Path) -> None:
    text = (
        '[tool.poetry]\nname = "x"\n\n[tool.poetry.dependencies]\npython = "^3.10"\n'
        'fastapi = "^0.115"\n\n[build-system]\nrequires = ["poetry-core"]\n'
    )
    edit = plan(project(tmp_path, {"pyproject.toml": text}))
    assert edit.file == "pyproject.toml"
    assert edit.new_text is not None
    assert only_additions(text, edit.new_text) == [
        'pyjwt = ">=2.8"\n',
        'structlog = ">=24.1"\n',
    ]
    deps = tomllib.loads(edit.new_text)["tool"]["poetry"]["dependencies"]
    assert deps == {
        "python": "^3.10",
        "fastapi": "^0.115",
        "pyjwt": ">=2.8",
        "structlog": ">=24.1",
    }


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "fastapi>=0.115\nuvicorn\n",
            "fastapi>=0.115\nuvicorn\npyjwt>=2.8\nstructlog>=24.1\n",
        ),
        (
            "fastapi>=0.115\nuvicorn",
            "fastapi>=0.115\nuvicorn\npyjwt>=2.8\nstructlog>=24.1\n",
        ),
        ("", "fastapi>=0.115\npyjwt>=2.8\nstructlog>=24.1\n"),
        (
            "# pinned\n-r base.in\nfastapi  # web\n",
            "# pinned\n-r base.in\nfastapi  # web\npyjwt>=2.8\nstructlog>=24.1\n",
        ),
    ],
    ids=["trailing-newline", "no-trailing-newline", "empty", "comments-and-options"],
)
def test_requirements(tmp_path: Path, text: str, expected: str) -> None:
    edit = plan(project(tmp_path, {"requirements.txt": text}))
    assert edit.file == "requirements.txt"
    assert edit.new_text == expected


def test_requirements_crlf(tmp_path: Path) -> None:
    root = project(tmp_path, {"requirements.txt": b"fastapi\r\nuvicorn\r\n"})
    config = load_config(root)
    edit = plan_dependencies(config, REQUIREMENTS)
    assert edit.new_text is not None
    nl = "\r\n" if "\r\n" in (config.requirements_text or "") else "\n"
    assert edit.new_text == f"fastapi{nl}uvicorn{nl}pyjwt>=2.8{nl}structlog>=24.1{nl}"


def test_requirements_in_a_subfolder(tmp_path: Path) -> None:
    edit = plan(project(tmp_path, {"requirements/base.txt": "fastapi\npyjwt\n"}))
    assert edit.file == "requirements/base.txt"
    assert edit.missing == ("structlog>=24.1",)


@pytest.mark.parametrize(
    "files",
    [
        {"requirements.txt": "FastAPI==0.115\nPyJWT>=2\nstructlog\n"},
        {
            "requirements.txt": "fastapi\npy_jwt\nStructLog[dev]>=24\n".replace(
                "py_jwt", "PyJWT"
            )
        },
        {
            "pyproject.toml": '[project]\nname = "x"\ndependencies = ["FastAPI", "PyJWT[crypto]>=2", "structlog"]\n'
        },
        {
            "pyproject.toml": '[tool.poetry.dependencies]\nFastAPI = "*"\nPyJWT = "*"\nStructlog = "*"\n'
        },
    ],
    ids=["requirements-case", "requirements-extras", "pep621-case", "poetry-case"],
)
def test_already_declared_means_nothing_to_do(
    tmp_path: Path, files: dict[str, str]
) -> None:
    edit = plan(project(tmp_path, files))
    assert edit.missing == ()
    assert edit.new_text is None


def test_no_declaration_file_lists_everything_for_the_user(tmp_path: Path) -> None:
    edit = plan(
        project(
            tmp_path,
            {
                "main.py": "app = 1\n",
                "pyproject.toml": "[tool.ruff]\nline-length = 90\n",
            },
        )
    )
    assert edit.file is None
    assert edit.new_text is None
    assert list(edit.missing) == ALL


def test_pyproject_takes_precedence_over_requirements(tmp_path: Path) -> None:
    edit = plan(
        project(
            tmp_path,
            {
                "pyproject.toml": '[project]\nname = "x"\ndependencies = ["fastapi"]\n',
                "requirements.txt": "flask\n",
            },
        )
    )
    assert edit.file == "pyproject.toml"


PEP621 = '[project]\nname = "x"\ndependencies = {array}\n\n[tool.x]\ny = 1\n'


@pytest.mark.parametrize(
    "files",
    [
        {"pyproject.toml": PEP621.format(array='["fastapi>=0.115", "uvicorn"]')},
        {"pyproject.toml": PEP621.format(array='[ "fastapi", ]')},
        {"pyproject.toml": PEP621.format(array="[]")},
        {"pyproject.toml": PEP621.format(array='[\n    "fastapi",\n    "uvicorn"\n]')},
        {"pyproject.toml": PEP621.format(array='[\n  "fastapi",\n  ]')},
        {"pyproject.toml": PEP621.format(array='[\r\n  "fastapi"\r\n]').replace("\n", "\r\n").replace("\r\r", "\r")},
        {"pyproject.toml": '[tool.poetry.dependencies]\r\npython = "^3.10"\r\nfastapi = "*"\r\n'},
        {"requirements.txt": "fastapi\r\nuvicorn"},
        {"requirements.txt": "fastapi\r\nuvicorn\r\n"},
    ],
    ids=["one-line", "one-line-trailing-comma", "empty", "no-trailing-comma",
         "indented-bracket", "crlf-pyproject", "crlf-poetry",
         "requirements-no-final-newline", "crlf-requirements"],
)  # fmt: skip
def test_the_edit_is_one_insertion_that_undoes_exactly(
    tmp_path: Path, files: dict[str, str]
) -> None:
    ((rel, text),) = files.items()
    root = project(tmp_path, {rel: text.encode()})
    edit = plan(root)
    assert edit.file == rel and edit.new_text is not None
    assert edit.new_text == text[: edit.at] + edit.inserted + text[edit.at :]
    if "\r\n" in text:  # CRLF stays CRLF: no bare LF anywhere
        assert "\n" not in edit.new_text.replace("\r\n", "")
    if rel == "pyproject.toml":
        tomllib.loads(edit.new_text)
    record = DependencyInsert(rel, edit.at, edit.inserted, edit.missing)
    assert undo_insert(edit.new_text, record) == text
    # An edit elsewhere in the file since: found by its text, still exact.
    moved = "# a comment\n" + edit.new_text
    assert undo_insert(moved, record) == "# a comment\n" + text


def test_requirements_crlf_stays_crlf(tmp_path: Path) -> None:
    edit = plan(project(tmp_path, {"requirements.txt": b"fastapi\r\nuvicorn\r\n"}))
    assert edit.new_text == "fastapi\r\nuvicorn\r\npyjwt>=2.8\r\nstructlog>=24.1\r\n"


def test_dependencies_go_into_the_extra_that_holds_fastapi(tmp_path: Path) -> None:
    text = (
        '[project]\nname = "x"\ndependencies = ["pydantic>=2"]\n\n'
        "[project.optional-dependencies]\n"
        'server = [\n    "fastapi>=0.115",\n    "uvicorn",\n]\ndev = ["pytest"]\n'
    )
    edit = plan(project(tmp_path, {"pyproject.toml": text}))
    assert edit.new_text is not None and edit.where == "the extra 'server'"
    data = tomllib.loads(edit.new_text)
    assert data["project"]["dependencies"] == ["pydantic>=2"], "core untouched"
    extras = data["project"]["optional-dependencies"]
    assert extras["server"] == ["fastapi>=0.115", "uvicorn", *WANTED]
    assert extras["dev"] == ["pytest"]


def test_dependencies_go_into_the_group_that_holds_fastapi(tmp_path: Path) -> None:
    text = (
        '[project]\nname = "x"\ndependencies = []\n\n'
        '[dependency-groups]\nweb = ["fastapi", "pyjwt"]\n'
    )
    edit = plan(project(tmp_path, {"pyproject.toml": text}))
    assert edit.new_text is not None
    data = tomllib.loads(edit.new_text)
    assert data["project"]["dependencies"] == []
    assert data["dependency-groups"]["web"] == ["fastapi", "pyjwt", "structlog>=24.1"]


def test_dependencies_go_into_the_poetry_group_that_holds_fastapi(
    tmp_path: Path,
) -> None:
    text = (
        '[tool.poetry.dependencies]\npython = "^3.10"\n\n'
        '[tool.poetry.group.api.dependencies]\nfastapi = "^0.115"\n'
    )
    edit = plan(project(tmp_path, {"pyproject.toml": text}))
    assert edit.new_text is not None
    poetry = tomllib.loads(edit.new_text)["tool"]["poetry"]
    assert poetry["dependencies"] == {"python": "^3.10"}
    assert poetry["group"]["api"]["dependencies"] == {
        "fastapi": "^0.115",
        "pyjwt": ">=2.8",
        "structlog": ">=24.1",
    }


def test_every_requirement_has_its_import_name_in_the_one_table() -> None:
    assert import_name("redis>=5") == "redis"
    assert import_name("PyJWT>=2.8") == "jwt"
    assert import_name("fastapi>=0.115") is None  # every host imports it
    wanted = features.requirements(
        features.features_of({"auth": True, "backend": "redis"})
    )
    assert set(wanted) == {"fastapi", "pyjwt", "structlog", "redis"}
    assert all(import_name(spec) for name, spec in wanted.items() if name != "fastapi")
