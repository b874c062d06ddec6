"""`.wsgen.toml`: written deterministically, read back unchanged."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsgen.build.manifest import (
    HEADER,
    MANIFEST_NAME,
    EndpointRecord,
    Manifest,
    content_hash,
    dumps,
    git_blob_id,
    loads,
    read_manifest,
)
from wsgen.errors import RefusedError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def sample(jwt: dict | None = None) -> Manifest:
    context = {"runtime_module": "app.websocket", "jwt": jwt, "wsgen_version": "0.1.0"}
    chat = EndpointRecord(
        name="chat",
        options={
            "auth": True,
            "rooms": True,
            "broadcast": False,
            "message_types": ["order_placed"],
            "path": "/ws/chat",
            "app": "app.main:app",
        },
        files={
            "app/routers/chat.py": content_hash("x"),
            "tests/test_chat_ws.py": content_hash("y"),
        },
        registration={
            "file": "app/main.py",
            "import": "from app.routers.chat import router as chat_ws_router",
            "include": "app.include_router(chat_ws_router)",
        },
        context={
            **context,
            "name": "chat",
            "path": "/ws/chat",
            "message_types": [{"name": "order_placed", "class_name": "OrderPlaced"}],
            "app_factory": False,
        },
    )
    news = EndpointRecord(
        name="news",
        options={
            "auth": False,
            "rooms": False,
            "broadcast": True,
            "message_types": [],
            "path": "/ws/news",
            "app": "app.main:app",
        },
        files={"app/routers/news.py": content_hash("z")},
        registration={"file": "app/main.py", "import": "i", "include": "j"},
        context={**context, "name": "news", "quote": 'say "hi"\n\ttab \\ back'},
    )
    return Manifest(
        version="0.1.0",
        runtime_dir="app/websocket",
        runtime_files={
            "app/websocket/__init__.py": content_hash(""),
            "app/websocket/manager.py": content_hash("m"),
        },
        runtime_context=context,
        package_files={"app/routers/__init__.py": content_hash("")},
        dependencies=["pyjwt>=2.8", "structlog>=24.1"],
        endpoints={"news": news, "chat": chat},
    )


@pytest.mark.parametrize(
    "jwt",
    [
        None,
        {
            "module": "app.core.config",
            "attr": "settings",
            "secret": "SECRET_KEY",
            "algorithm": "ALGORITHM",
        },
        {"module": "m", "attr": "s", "secret": "JWT_SECRET", "algorithm": None},
    ],
    ids=["no-jwt", "jwt", "jwt-without-algorithm"],
)
def test_round_trip(jwt: dict | None) -> None:
    manifest = sample(copy.deepcopy(jwt))
    text = dumps(manifest)
    assert text.startswith(HEADER)
    back = loads(text)
    assert back == manifest
    assert dumps(back) == text
    assert back.owned_files() == manifest.owned_files()
    assert back.all_hashes() == manifest.all_hashes()


def test_dumps_is_deterministic_whatever_the_insertion_order() -> None:
    first = sample()
    second = sample()
    second.endpoints = dict(reversed(list(second.endpoints.items())))
    second.runtime_files = dict(reversed(list(second.runtime_files.items())))
    second.endpoints["chat"].options = dict(
        reversed(list(second.endpoints["chat"].options.items()))
    )
    assert dumps(first) == dumps(second)
    assert dumps(first) == dumps(first)
    assert "T" not in dumps(Manifest()).split("\n", 1)[1].replace(
        "TOML", ""
    )  # no timestamps


def test_dumps_is_valid_toml_with_sorted_endpoints() -> None:
    text = dumps(sample())
    data = tomllib.loads(text)
    assert list(data["endpoints"]) == ["chat", "news"]
    assert text.index("[endpoints.chat]") < text.index("[endpoints.news]")
    assert data["runtime"]["package_files"] == ["app/routers/__init__.py"]


def test_empty_manifest_round_trips() -> None:
    # TOML has no null: a missing jwt comes back as None
    assert loads(dumps(Manifest())) == Manifest(runtime_context={"jwt": None})


def test_owned_files_covers_everything() -> None:
    manifest = sample()
    assert manifest.owned_files() == {
        "app/websocket/__init__.py",
        "app/websocket/manager.py",
        "app/routers/__init__.py",
        "app/routers/chat.py",
        "tests/test_chat_ws.py",
        "app/routers/news.py",
    }


def test_content_hash_is_the_same_for_str_and_bytes() -> None:
    assert content_hash("é") == content_hash("é".encode())
    assert content_hash("a") != content_hash("b")
    assert content_hash("").startswith("sha256:")


text_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=50, deadline=None)
@given(
    files=st.dictionaries(text_values.filter(bool), text_values, max_size=4),
    context=st.dictionaries(
        st.text(alphabet="abcdefghij_", min_size=1, max_size=8).filter(
            lambda k: k != "jwt"
        ),
        st.one_of(
            st.booleans(),
            st.integers(-(2**63), 2**63 - 1),
            text_values,
            st.lists(text_values, max_size=3),
        ),
        max_size=5,
    ),
)
def test_round_trip_any_strings(files: dict[str, str], context: dict) -> None:
    record = EndpointRecord(
        "chat", {"path": "/ws/chat"}, files, {"file": "m.py"}, {**context, "jwt": None}
    )
    manifest = Manifest(
        version="1", runtime_context={"jwt": None}, endpoints={"chat": record}
    )
    assert loads(dumps(manifest)) == manifest


def test_read_manifest_missing_is_none(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None


@pytest.mark.parametrize(
    "content",
    [
        b"[wsgen\nversion = 1",
        b"\xff\xfe\x00garbage",
        b"wsgen = 3\nruntime = 'x'\n",
        b"[endpoints]\nchat = 1\n",
    ],
    ids=["bad-toml", "not-utf8", "wrong-shapes", "endpoint-not-a-table"],
)
def test_invalid_manifest_is_refused(tmp_path: Path, content: bytes) -> None:
    (tmp_path / MANIFEST_NAME).write_bytes(content)
    with pytest.raises(RefusedError) as info:
        read_manifest(tmp_path)
    assert MANIFEST_NAME in info.value.one_line()
    assert "\n" not in info.value.one_line()


def test_blob_ids_round_trip() -> None:
    manifest = sample(None)
    manifest.blobs = {"app/websocket/manager.py": git_blob_id("x = 1\n")}
    text = dumps(manifest)
    assert "[blobs]" in text
    assert loads(text).blobs == manifest.blobs
    assert "[blobs]" not in dumps(sample(None)), "no table without blob ids"


@pytest.mark.parametrize("content", [b"", b"hello\n", "é\r\n".encode()])
def test_git_blob_id_is_what_git_computes(content: bytes) -> None:
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git = subprocess.run(
        ["git", "hash-object", "--stdin"],
        input=content,
        capture_output=True,
        check=True,
    )
    assert git_blob_id(content) == git.stdout.decode().strip()
