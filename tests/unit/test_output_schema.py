"""The JSON Schema of `--json` output, plan_hash, and the AGENTS.md section:
the pure parts behind `wsgen schema`, `--expect-plan` and install-command."""

from __future__ import annotations

import json

import pytest

from tests.conftest import validated_json
from wsgen.build.plan import FileChange, Plan
from wsgen.commands.install_command import (
    AGENTS_END,
    AGENTS_START,
    agents_section,
    with_agents_section,
)


def plan(*changes: FileChange, added: tuple[str, ...] = ()) -> Plan:
    return Plan("chat", {}, "/ws/chat", {}, list(changes), list(added))


def test_the_schema_rejects_a_plan_without_its_hash() -> None:
    document = plan(FileChange("a.py", "create", "endpoint", b"x")).to_json(
        applied=False
    )
    assert validated_json(json.dumps(document), "plan") == document
    del document["plan_hash"]
    with pytest.raises(AssertionError, match="plan_hash"):
        validated_json(json.dumps(document))


def test_the_schema_rejects_an_unknown_error_code() -> None:
    good = '{"error": "No such option: --bogus", "code": "usage", "exit_code": 2}'
    assert validated_json(good, "error")["code"] == "usage"
    with pytest.raises(AssertionError, match="is not one of"):
        validated_json(good.replace('"usage"', '"oops"'), "error")
    with pytest.raises(AssertionError, match="'code' is a required property"):
        validated_json('{"error": "x", "exit_code": 1}', "error")


def test_plan_hash_covers_paths_actions_bytes_and_dependencies() -> None:
    base = plan(FileChange("a.py", "edit", "registration", b"new", b"old"))
    same = plan(FileChange("a.py", "edit", "registration", b"new", b"old"))
    same.notes.append("notes are not changes")
    assert base.plan_hash() == same.plan_hash()
    variants = [
        plan(FileChange("b.py", "edit", "registration", b"new", b"old")),
        plan(FileChange("a.py", "overwrite", "registration", b"new", b"old")),
        plan(FileChange("a.py", "edit", "registration", b"newer", b"old")),
        plan(FileChange("a.py", "edit", "registration", b"new", b"older")),
        plan(FileChange("a.py", "edit", "registration", b"new", b"old"), added=("x",)),
    ]
    hashes = {v.plan_hash() for v in variants} | {base.plan_hash()}
    assert len(hashes) == len(variants) + 1


@pytest.mark.parametrize(
    ("before", "after_prefix"),
    [
        ("", ""),
        ("# Notes\n", "# Notes\n\n"),
        ("# Notes", "# Notes\n\n"),
        ("# Notes\n\n", "# Notes\n\n"),
    ],
)
def test_the_agents_section_is_appended_after_what_is_there(
    before: str, after_prefix: str
) -> None:
    section = agents_section("pip")
    text, found = with_agents_section(before, section)
    assert found is None
    assert text == after_prefix + section + "\n"
    assert with_agents_section(text, section) == (text, section)


def test_the_agents_section_is_replaced_in_place() -> None:
    old = f"# Top\n{AGENTS_START}\nold\n{AGENTS_END}\n## Bottom\n"
    text, found = with_agents_section(old, agents_section("uv"))
    assert found == f"{AGENTS_START}\nold\n{AGENTS_END}"
    assert text.startswith("# Top\n" + AGENTS_START)
    assert text.endswith(AGENTS_END + "\n## Bottom\n")
    assert "uv run pytest" in text
