"""`wsgen install-command`: a slash-command file for coding agents.

The file's body has the agent plan with `--dry-run --json`, apply, run the
generated tests and report. Installing twice changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from wsgen.plan import FileChange, Plan, classify
from wsgen.render import builtin_templates_dir

COMMAND_PATH = ".claude/commands/ws.md"


def build_install(root: Path, *, force: bool) -> Plan:
    content = (builtin_templates_dir() / "agent" / "ws.md").read_bytes()
    target = root / COMMAND_PATH
    old = target.read_bytes() if target.is_file() else None
    change: FileChange = classify(
        COMMAND_PATH, "agent", content, old, owned_hash=None, force=force, old_hash=None
    )
    plan = Plan(endpoint="ws", options={}, url_path="", layout={}, changes=[change])
    return plan
