"""`wsgen install-command`: the /ws skill for coding agents.

Writes `.claude/skills/ws/SKILL.md` (Claude Code makes `/ws` of it) and,
on request, the same steps as a section of `AGENTS.md`, which most other
coding agents read. The steps are those a person would follow: gather the
five answers, plan, confirm, apply exactly the plan shown, install missing
dependencies with consent, test and report.

Each file carries a digest of its own text in a last comment line, so a
later install can tell a copy it wrote (replaced when the steps change) from
one edited by hand (a conflict, as for every generated file) without a
manifest entry: the skill is often installed before any endpoint exists.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from wsgen.build.plan import Action, FileChange, Group, Plan
from wsgen.build.render import builtin_templates_dir

SKILL_PATH = ".claude/skills/ws/SKILL.md"
AGENTS_PATH = "AGENTS.md"
AGENTS_START = "<!-- wsgen:start -->"
AGENTS_END = "<!-- wsgen:end -->"
# The slash command earlier versions wrote: the skill replaces it (both
# would define /ws), so an unedited copy is removed.
LEGACY_COMMAND_PATH = ".claude/commands/ws.md"
LEGACY_COMMAND_SHA256 = {
    "397fe3ed81627d500ccfd5a5367d46481c3afa6ff4456da8da3e832c42c2fb71",
}
STAMP_PREFIX = "<!-- wsgen install-command: sha256 "
_STAMP = re.compile(re.escape(STAMP_PREFIX) + r"([0-9a-f]{64}) -->\n?\Z")

# The host's package tool: (allowed tool prefixes, how to run pytest).
PACKAGE_TOOLS = {
    "uv": (("uv add", "uv run pytest"), "uv run pytest"),
    "poetry": (("poetry add", "poetry run pytest"), "poetry run pytest"),
    "pip": (("pip install", "python -m pytest"), "python -m pytest"),
}


def package_tool(root: Path) -> str:
    """uv or Poetry when the project's files say so, else pip."""
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text("utf-8", "replace") if pyproject.is_file() else ""
    if (root / "uv.lock").is_file() or "[tool.uv]" in text:
        return "uv"
    if (root / "poetry.lock").is_file() or "[tool.poetry]" in text:
        return "poetry"
    return "pip"


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{{ " + key + " }}", value)
    return template


def _stamped(text: str) -> str:
    """`text` and a last line holding its digest."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{text}{STAMP_PREFIX}{digest} -->\n"


def _unedited(text: str) -> bool:
    """Whether `text` is exactly as an install wrote it (any version)."""
    match = _STAMP.search(text)
    if match is None:
        return False
    body = text[: match.start()]
    return hashlib.sha256(body.encode("utf-8")).hexdigest() == match.group(1)


def skill_text(tool: str) -> str:
    folder = builtin_templates_dir() / "agent"
    allowed, test_command = PACKAGE_TOOLS[tool]
    steps = _fill(
        (folder / "steps.md").read_text("utf-8"),
        {"request": "`$ARGUMENTS`", "test_command": test_command},
    )
    tools = ", ".join(f"Bash({prefix}:*)" for prefix in ("wsgen", *allowed))
    skill = _fill(
        (folder / "skill.md").read_text("utf-8"),
        {"allowed_tools": tools, "steps": steps.rstrip("\n")},
    )
    return _stamped(skill)


def agents_section(tool: str) -> str:
    """The AGENTS.md section, markers included, with `\\n` line endings."""
    _, test_command = PACKAGE_TOOLS[tool]
    steps = _fill(
        (builtin_templates_dir() / "agent" / "steps.md").read_text("utf-8"),
        {"request": "the user's request", "test_command": test_command},
    )
    body = _stamped(f"## WebSocket endpoints (wsgen)\n\n{steps.rstrip()}\n")
    return f"{AGENTS_START}\n{body}{AGENTS_END}"


def with_agents_section(text: str, section: str) -> tuple[str, str | None]:
    """`text` with wsgen's section replaced, or appended when absent, and
    the section found there (None when absent). Nothing outside the markers
    changes; the section takes the file's line endings."""
    newline = "\r\n" if "\r\n" in text else "\n"
    section = section.replace("\n", newline)
    start = text.find(AGENTS_START)
    end = text.find(AGENTS_END, start) if start >= 0 else -1
    if start >= 0 and end >= 0:
        end += len(AGENTS_END)
        return text[:start] + section + text[end:], text[start:end]
    if not text:
        return section + newline, None
    separator = "" if text.endswith(newline * 2) else newline
    if not text.endswith("\n"):
        separator = newline * 2
    return text + separator + section + newline, None


def _agents_change(root: Path, tool: str, *, force: bool) -> FileChange:
    target = root / AGENTS_PATH
    old = target.read_bytes() if target.is_file() else None
    text = "" if old is None else old.decode("utf-8")
    new_text, found = with_agents_section(text, agents_section(tool))
    new = new_text.encode("utf-8")
    if old is None:
        return FileChange(AGENTS_PATH, Action.CREATE, Group.AGENT, new)
    if new == old:
        return FileChange(AGENTS_PATH, Action.IDENTICAL, Group.AGENT, new, old)
    if found is None:
        return FileChange(
            AGENTS_PATH, Action.EDIT, Group.AGENT, new, old, "section added"
        )
    inner = found[len(AGENTS_START) : -len(AGENTS_END)].replace("\r\n", "\n")
    if _unedited(inner.strip("\n") + "\n"):
        return FileChange(
            AGENTS_PATH, Action.EDIT, Group.AGENT, new, old, "section replaced"
        )
    return _edited(AGENTS_PATH, new, old, force, "wsgen's section was edited by hand")


def _edited(path: str, new: bytes, old: bytes, force: bool, why: str) -> FileChange:
    if force:
        return FileChange(
            path, Action.OVERWRITE, Group.AGENT, new, old, f"{why}; --force"
        )
    return FileChange(path, Action.CONFLICT, Group.AGENT, new, old, why)


def _skill_change(root: Path, tool: str, *, force: bool) -> FileChange:
    new = skill_text(tool).encode("utf-8")
    target = root / SKILL_PATH
    if not target.is_file():
        return FileChange(SKILL_PATH, Action.CREATE, Group.AGENT, new)
    old = target.read_bytes()
    if old == new:
        return FileChange(SKILL_PATH, Action.IDENTICAL, Group.AGENT, new, old)
    text = old.decode("utf-8", "replace")
    if _unedited(text):
        return FileChange(
            SKILL_PATH,
            Action.UPDATE,
            Group.AGENT,
            new,
            old,
            "written earlier, unedited",
        )
    why = "edited by hand" if STAMP_PREFIX in text else "exists and differs"
    return _edited(SKILL_PATH, new, old, force, why)


def build_install(root: Path, *, force: bool, agents_md: bool = False) -> Plan:
    tool = package_tool(root)
    plan = Plan(endpoint="ws", options={"package_tool": tool}, url_path="", layout={})
    plan.changes.append(_skill_change(root, tool, force=force))
    if agents_md:
        plan.changes.append(_agents_change(root, tool, force=force))
    legacy = root / LEGACY_COMMAND_PATH
    if legacy.is_file():
        data = legacy.read_bytes()
        if hashlib.sha256(data).hexdigest() in LEGACY_COMMAND_SHA256:
            why = "replaced by the skill"
            plan.changes.append(
                FileChange(
                    LEGACY_COMMAND_PATH, Action.DELETE, Group.AGENT, b"", data, why
                )
            )
        else:
            plan.warnings.append(
                f"{LEGACY_COMMAND_PATH} (edited) also defines /ws; remove it to use the skill"
            )
    return plan
