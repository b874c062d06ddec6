"""The pure parts of `--template`: sources, copier's output, its errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wsgen.build.copier_source import (
    answers_file,
    check_output,
    collect,
    is_remote,
    refuse_collisions,
    resolve_source,
    translate,
)
from wsgen.build.render import RenderedFile
from wsgen.errors import EXIT_REFUSED, EXIT_USAGE, RefusedError, UsageError


def test_each_endpoint_has_its_own_answers_file() -> None:
    assert answers_file("chat") == ".copier-answers.wsgen-chat.yml"
    assert answers_file("chat") != answers_file("feed")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://git.example.com/team/ws-template", "git+https://git.example.com/team/ws-template"),
        ("file:///srv/templates/ws", "git+file:///srv/templates/ws"),
        ("git+https://git.example.com/t.git", "git+https://git.example.com/t.git"),
        ("git://git.example.com/t.git", "git://git.example.com/t.git"),
        ("git@git.example.com:team/t.git", "git@git.example.com:team/t.git"),
        ("gh:team/ws-template", "gh:team/ws-template"),
    ],
)  # fmt: skip
def test_git_urls_are_given_as_copier_clones_them(raw: str, expected: str) -> None:
    assert is_remote(raw)
    assert resolve_source(raw, None, Path("/nowhere")) == expected


def test_a_local_template_is_an_absolute_folder_with_copier_yml(tmp_path: Path) -> None:
    template = tmp_path / "templates" / "ws"
    template.mkdir(parents=True)
    (template / "copier.yaml").write_text("name: {type: str}\n")
    assert not is_remote("templates/ws")
    resolved = resolve_source("templates/ws", "v1", tmp_path)
    assert resolved == template.resolve().as_posix()
    (template / "copier.yaml").unlink()
    with pytest.raises(UsageError, match="is not a copier template"):
        resolve_source("templates/ws", None, tmp_path)
    with pytest.raises(UsageError, match="no such folder"):
        resolve_source("templates/nope", None, tmp_path)
    with pytest.raises(UsageError, match="--template is empty"):
        resolve_source("  ", None, tmp_path)
    with pytest.raises(UsageError, match="--vcs-ref is empty"):
        resolve_source("gh:team/t", " ", tmp_path)


def _error(name: str, *bases: type[BaseException], **attrs: object) -> type:
    return type(name, bases or (Exception,), attrs)


@pytest.mark.parametrize(
    ("exc", "code", "fragment"),
    [
        (_error("UnsafeTemplateError")("Template uses potentially unsafe features: migrations, tasks.\nIf you trust..."),
         EXIT_USAGE, "unsafe features (migrations, tasks)"),
        (_error("ForbiddenPathError", ValueError)('".." is forbidden\n\nhint'),
         EXIT_REFUSED, 'outside the project (".." is forbidden)'),
        (_error("ProcessExecutionError", OSError, stderr="fatal: repository 'x' not found\n")("exit 128"),
         EXIT_USAGE, "git cannot fetch it (repository 'x' not found)"),
        (_error("InvalidConfigFileError", _error("ConfigFileError", ValueError))("/t/copier.yml"),
         EXIT_USAGE, "copier.yml is not valid"),
        (ValueError('Question "team" is required'), EXIT_USAGE, "asks 'team'"),
        (ValueError("Unknown revision: 'v9'"), EXIT_USAGE, "Unknown revision: 'v9'."),
        (RuntimeError("boom\nmore"), EXIT_USAGE, "copier failed (RuntimeError: boom)."),
    ],
)  # fmt: skip
def test_copier_failures_become_one_line(
    exc: BaseException, code: int, fragment: str
) -> None:
    error = translate(exc, "gh:team/t")
    assert error.exit_code == code
    assert fragment in error.one_line()
    assert "\n" not in error.one_line()
    assert error.one_line().startswith("--template gh:team/t")


def _rendered(out: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_collect_keeps_text_files_and_sorts_tests_apart(tmp_path: Path) -> None:
    _rendered(tmp_path, {
        ".copier-answers.wsgen-chat.yml": b"_commit: v1\r\n",
        "app/routers/chat.py": b"router = 1\n",
        "tests/test_chat_ws.py": b"",
    })  # fmt: skip
    (tmp_path / "empty-folder").mkdir()
    files = collect(tmp_path, "tests", "t")
    assert [(f.path, f.group) for f in files] == [
        (".copier-answers.wsgen-chat.yml", "endpoint"),
        ("app/routers/chat.py", "endpoint"),
        ("tests/test_chat_ws.py", "tests"),
    ]
    assert files[0].content == "_commit: v1\r\n", "bytes kept exactly"


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({".wsgen/base/x.base": b"x"}, "writes .wsgen, which belongs to wsgen or git"),
        ({".git/config": b"x"}, "writes .git"),
        ({"logo.png": b"\x89PNG\r\n\x1a\n\xff"}, "logo.png, which is not UTF-8 text"),
    ],
)
def test_collect_refuses_what_wsgen_must_not_write(
    tmp_path: Path, files: dict[str, bytes], fragment: str
) -> None:
    _rendered(tmp_path, files)
    with pytest.raises((RefusedError, UsageError), match=fragment):
        collect(tmp_path, "tests", "t")


def test_collect_refuses_symbolic_links(tmp_path: Path) -> None:
    os.symlink("/etc/hostname", tmp_path / "secret.txt")
    with pytest.raises(RefusedError, match="symbolic link, secret.txt"):
        collect(tmp_path, "tests", "t")


def test_the_contract_needs_the_answers_file_and_the_route() -> None:
    answers = RenderedFile(".copier-answers.wsgen-chat.yml", "", "endpoint")
    route = RenderedFile("app/routers/chat.py", "", "endpoint")
    check_output([answers, route], "t", answers.path, route.path)
    with pytest.raises(UsageError, match="writes no copier answers file"):
        check_output([route], "t", answers.path, route.path)
    with pytest.raises(UsageError, match="does not render app/routers/chat.py"):
        check_output([answers], "t", answers.path, route.path)


def test_template_files_stay_off_reserved_paths() -> None:
    files = [RenderedFile("app/main.py", "", "endpoint")]
    refuse_collisions(files, {"app/websocket/manager.py": "the runtime"}, "t")
    with pytest.raises(RefusedError, match="writes app/main.py, which is ours"):
        refuse_collisions(files, {"app/main.py": "ours"}, "t")
