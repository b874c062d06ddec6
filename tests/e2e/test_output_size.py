"""What a command writes, in files and lines: the figures of the README's
"What you get" table, and the targets they must stay within.

Every file a command creates is counted whole (the manifest included);
an edited host file counts the lines it gained.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_example, run_wsgen, snapshot

pytestmark = pytest.mark.e2e

FULL = ["chat", "--auth", "--rooms", "--broadcast"]
# Files of the parts the endpoint's own templates write: tests, client,
# route module, document. The runtime's modules are counted in the totals.
MAX_FILE_LINES = 300


def lines(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def written(project: Path, *args: str) -> dict[str, int]:
    """Path -> lines written by `wsgen ARGS --yes` in ``project``."""
    before = snapshot(project)
    result = run_wsgen(*args, "--yes", "--no-verify", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    after = snapshot(project)
    out = {}
    for path, data in after.items():
        old = before.get(path)
        if old is None:
            out[path] = lines(data)
        elif old != data:
            out[path] = max(lines(data) - lines(old), 0)
    return out


def test_each_generated_file_of_the_endpoint_is_short(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    files = written(project, *FULL, "-m", "vote", "--client", "ts", "--asyncapi")
    own = {
        p: n
        for p, n in files.items()
        if not p.startswith("app/websocket/") and not p.endswith(".json")
    }
    assert any(p.endswith("test_chat_ws.py") for p in own)
    assert any(p.endswith("ws_client.js") for p in own)
    assert {p: n for p, n in own.items() if n > MAX_FILE_LINES} == {}


def test_figures_stay_within_the_targets(tmp_path: Path) -> None:
    chat = written(copy_example("app_package", tmp_path / "a"), *FULL)
    ping = written(copy_example("app_package", tmp_path / "b"), "ping")
    both = copy_example("app_package", tmp_path / "c")
    written(both, *FULL)
    second = written(both, "notify", "--auth", "--broadcast")
    assert sum(chat.values()) <= 3000
    assert max(chat.values()) <= MAX_FILE_LINES
    assert sum(ping.values()) <= 1200
    assert sum(second.values()) <= 450
