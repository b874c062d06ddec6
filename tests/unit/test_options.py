"""What a re-run keeps from the manifest, as the flags a user would type."""

from __future__ import annotations

from wsgen.build.options import DEFAULTS, Choices, EndpointOptions

RECORDED = EndpointOptions(
    auth=True,
    rooms=True,
    broadcast=False,
    message_types=("ack", "vote"),
    backend="redis",
    accelerator="uvicorn",
    recover=True,
)


def test_options_not_given_are_listed_with_the_flag_that_turns_them_off() -> None:
    kept = Choices(rooms=True).kept(RECORDED)
    assert kept == [
        ("--auth", "--no-auth"),
        ("--recover", "--no-recover"),
        ("-m ack", None),
        ("-m vote", None),
        ("--backend redis", "--backend memory"),
        ("--accelerator uvicorn", "--accelerator none"),
    ]


def test_given_options_and_defaults_are_not_listed() -> None:
    given = Choices(
        auth=False, rooms=True, message_types=("ack",), backend="memory",
        accelerator="none", recover=False,
    )  # fmt: skip
    assert given.kept(RECORDED) == []
    assert Choices().kept(DEFAULTS) == []
    assert Choices().kept(EndpointOptions(backend="memory", path="/ws/x")) == []
