"""Generated code lives on: list and destroy work from the manifest alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_NAMES, copy_example, run_wsgen, snapshot

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_destroy_restores_the_original_tree(example: str, tmp_path: Path) -> None:
    project = copy_example(example, tmp_path)
    original = snapshot(project)
    for args in (["chat", "--auth", "--rooms", "--broadcast"], ["feed", "--broadcast"]):
        result = run_wsgen(*args, "--yes", "--no-verify", cwd=project)
        assert result.returncode == 0, result.stderr

    listed = json.loads(run_wsgen("list", "--json", cwd=project).stdout)
    assert [row["name"] for row in listed["endpoints"]] == ["chat", "feed"]
    assert all(row["status"] == "ok" for row in listed["endpoints"])

    feed = next(p for p in snapshot(project) if p.endswith("/feed.py"))
    (project / feed).write_text((project / feed).read_text() + "# mine\n")

    dry = run_wsgen("destroy", "chat", "--dry-run", "--json", cwd=project)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["applied"] is False
    assert (project / ".wsgen.toml").is_file()

    for name in ("chat", "feed"):
        result = run_wsgen("destroy", name, cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr

    after = snapshot(project)
    assert set(after) - set(original) == {feed}, "only the edited file stays"
    assert {p: after[p] for p in original} == original, "every other byte is back"
    assert "kept edited files" in result.stdout


def test_destroy_unknown_endpoint_names_the_known_ones(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    assert run_wsgen("chat", "--yes", "--no-verify", cwd=project).returncode == 0
    before = snapshot(project)
    result = run_wsgen("destroy", "nope", cwd=project)
    assert result.returncode == 1
    assert "endpoints: chat" in result.stderr
    assert snapshot(project) == before
