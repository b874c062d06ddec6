"""Validating what the user asked for."""

from __future__ import annotations

import pytest

from wsgen.build.spec import (
    RESERVED_NAMES,
    build_spec,
    camel_case,
    normalize_name,
    normalize_path,
)
from wsgen.errors import EXIT_USAGE, UsageError


def spec(name: str = "chat", **kwargs: object):
    options = {"auth": False, "rooms": False, "broadcast": False, **kwargs}
    return build_spec(name, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw, expected, noted",
    [
        ("chat", "chat", False),
        ("live-updates", "live_updates", True),
        ("LiveUpdates", "live_updates", True),
        ("liveUpdates", "live_updates", True),
        ("live updates", "live_updates", True),
        ("live__updates", "live_updates", True),
        ("  chat  ", "chat", True),
        ("chat2", "chat2", False),
        ("_private", "_private", False),
    ],
    ids=[
        "plain",
        "dashes",
        "camel",
        "lower-camel",
        "space",
        "double-underscore",
        "padded",
        "digit",
        "underscore",
    ],
)
def test_name_normalisation(raw: str, expected: str, noted: bool) -> None:
    name, note = normalize_name(raw)
    assert name == expected
    if noted:
        assert note is not None and repr(raw) in note and repr(expected) in note
    else:
        assert note is None


def test_normalised_name_note_reaches_the_spec() -> None:
    result = spec("live-updates")
    assert result.name == "live_updates"
    assert result.class_name == "LiveUpdates"
    assert result.path == "/ws/live_updates"
    assert result.notes == (
        "endpoint name 'live-updates' normalized to 'live_updates'",
    )


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("class", "Python keyword"),
        ("match", "Python keyword"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("a.b", "path separator"),
        ("1abc", "not a valid Python identifier"),
        ("na-me!", "not a valid Python identifier"),
        ("caf\u00e9", "not a valid Python identifier"),
        ("!", "not a valid Python identifier"),
    ],
    ids=[
        "empty",
        "blank",
        "keyword",
        "soft-keyword",
        "slash",
        "backslash",
        "dot",
        "leading-digit",
        "bang",
        "non-ascii",
        "only-bang",
    ],
)
def test_rejected_names(raw: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        spec(raw)
    assert fragment in info.value.message
    assert info.value.exit_code == EXIT_USAGE
    assert "\n" not in info.value.one_line()


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_reserved_names(name: str) -> None:
    with pytest.raises(UsageError) as info:
        spec(name)
    assert "generated runtime package" in info.value.message
    assert f"{name}_feed" in (info.value.hint or "")


def test_reserved_name_is_caught_after_normalisation() -> None:
    with pytest.raises(UsageError, match="runtime package"):
        spec("Websocket")


@pytest.mark.parametrize(
    "raw, expected",
    [
        (None, "/ws/chat"),
        ("", "/ws/chat"),
        ("/live", "/live"),
        ("/a/b-c/", "/a/b-c"),
        ("/", "/"),
        ("/v1/ws.chat~x", "/v1/ws.chat~x"),
    ],
    ids=["default", "empty", "custom", "trailing-slash", "root", "punctuation"],
)
def test_good_paths(raw: str | None, expected: str) -> None:
    assert normalize_path(raw, "chat") == expected


@pytest.mark.parametrize(
    "raw",
    [
        "ws/chat",
        "/ws//chat",
        "/ws/{room}",
        "/ws chat",
        "/ws?x=1",
        "http://x/ws",
        "/ws#a",
    ],
    ids=["relative", "double-slash", "template", "space", "query", "url", "fragment"],
)
def test_bad_paths(raw: str) -> None:
    with pytest.raises(UsageError) as info:
        spec(path=raw)
    assert repr(raw) in info.value.message


def test_message_types() -> None:
    result = spec(message_types=["order-placed", "Refund"])
    assert [(t.name, t.class_name) for t in result.message_types] == [
        ("order_placed", "OrderPlaced"),
        ("refund", "Refund"),
    ]
    assert len(result.notes) == 2


@pytest.mark.parametrize(
    "builtin",
    ["join_room", "leave_room", "message", "ping", "typing", "auth", "JoinRoom"],
)
def test_builtin_message_types_are_refused(builtin: str) -> None:
    with pytest.raises(UsageError, match="built into the protocol"):
        spec(message_types=[builtin])


@pytest.mark.parametrize(
    "pair",
    [
        ["order", "order"],
        ["order-placed", "order_placed"],
        ["OrderPlaced", "order_placed"],
    ],
    ids=["same", "dash-vs-underscore", "camel-vs-snake"],
)
def test_duplicate_message_types_are_refused(pair: list[str]) -> None:
    with pytest.raises(UsageError, match="given twice"):
        spec(message_types=pair)


def test_bad_message_type_name_says_message_type() -> None:
    with pytest.raises(UsageError, match="message type '1x'"):
        spec(message_types=["1x"])


def test_camel_case() -> None:
    assert camel_case("live_updates") == "LiveUpdates"
    assert camel_case("_x__y") == "XY"


def test_jwt_settings_choice() -> None:
    from wsgen.build.spec import normalize_jwt_settings

    assert normalize_jwt_settings(None) is None
    assert normalize_jwt_settings(" app.core.config:settings ") == (
        "app.core.config:settings"
    )
    assert normalize_jwt_settings(None, host_jwt=False) == "none"
    for ref, host_jwt in [("settings", True), ("a:b:c", True), ("a:b", False)]:
        with pytest.raises(UsageError):
            normalize_jwt_settings(ref, host_jwt)
