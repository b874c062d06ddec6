"""Runtime dependencies of generated code, added where the host declares its own.

Edits are textual insertions so every other byte of the file stays as it was;
nothing is ever installed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from wsgen.projectconfig import ProjectConfig


@dataclass(frozen=True)
class DependencyEdit:
    file: str | None  # None: the host declares dependencies nowhere wsgen can edit
    missing: tuple[str, ...]
    new_text: str | None


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _closing_bracket(text: str, start: int) -> int:
    """Index of the `]` closing an array opened just before `start`.

    Skips brackets inside strings (`"uvicorn[standard]"`) and comments.
    """
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if char in "\"'":
            end = text.find(char, index + 1)
            while end > 0 and text[end - 1] == "\\" and char == '"':
                end = text.find(char, end + 1)
            if end < 0:
                return -1
            index = end
        elif char == "#":
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
        elif char == "[":
            depth += 1
        elif char == "]":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1


def _code_end(text: str, start: int, end: int) -> int:
    """Index just past the last character of code (not comment) in text[start:end]."""
    last = start
    index = start
    while index < end:
        char = text[index]
        if char in "\"'":
            close = text.find(char, index + 1)
            while close > 0 and text[close - 1] == "\\" and char == '"':
                close = text.find(char, close + 1)
            index = end - 1 if close < 0 else close
            last = index + 1
        elif char == "#":
            newline = text.find("\n", index)
            index = end if newline < 0 else newline
            continue
        elif not char.isspace():
            last = index + 1
        index += 1
    return last


def _add_to_pep621(text: str, specs: list[str]) -> str | None:
    """Insert into `[project] dependencies = [...]`, keeping the file's style."""
    section = re.search(r"(?m)^\[project\]\s*$", text)
    if not section:
        return None
    start = section.end()
    next_table = re.search(r"(?m)^\[", text[start:])
    end = start + next_table.start() if next_table else len(text)
    deps = re.search(r"(?m)^dependencies\s*=\s*\[", text[start:end])
    if not deps:
        return None
    open_at = start + deps.end()
    close_at = _closing_bracket(text, open_at)
    if close_at < 0:
        return None
    inner = text[open_at:close_at]
    nl = _newline(text)
    if "\n" in inner:  # multi-line array: one item a line, same indent
        indent_match = re.search(r"\n([ \t]+)\S", inner)
        indent = indent_match.group(1) if indent_match else "    "
        body = inner.rstrip(" \t")
        last = _code_end(text, open_at, close_at)
        if text[last - 1] == "," or last == open_at:
            lines = "".join(f'{indent}"{s}",{nl}' for s in specs)
            insert_at = open_at + len(body)
            if not body.endswith("\n"):
                lines = nl + lines
            return text[:insert_at] + lines + text[insert_at:]
        lines = "".join(f',{nl}{indent}"{s}"' for s in specs) + ","
        return text[:last] + lines + text[last:]
    items = inner.strip()
    added = ", ".join(f'"{s}"' for s in specs)
    new_inner = f"{items.rstrip(',')}, {added}" if items else added
    return text[:open_at] + new_inner + text[close_at:]


def _add_to_poetry(text: str, specs: list[str]) -> str | None:
    section = re.search(r"(?m)^\[tool\.poetry\.dependencies\]\s*$", text)
    if not section:
        return None
    start = section.end()
    next_table = re.search(r"(?m)^\[", text[start:])
    end = start + next_table.start() if next_table else len(text)
    body = text[start:end].rstrip()
    insert_at = start + len(body)
    nl = _newline(text)
    lines = ""
    for spec in specs:
        name, _, version = spec.partition(">=")
        lines += f'{nl}{name} = ">={version}"'
    return text[:insert_at] + lines + text[insert_at:]


def _add_to_requirements(text: str, specs: list[str]) -> str:
    nl = _newline(text)
    prefix = "" if not text or text.endswith("\n") else nl
    return text + prefix + "".join(s + nl for s in specs)


def plan_dependencies(
    config: ProjectConfig, requirements: Mapping[str, str]
) -> DependencyEdit:
    """Add the `requirements` (name -> spec, from the feature table) not declared."""
    file, declared, _ = config.declared()
    missing = [spec for name, spec in requirements.items() if name not in declared]
    if not missing:
        return DependencyEdit(file, (), None)
    if file is None:
        return DependencyEdit(None, tuple(missing), None)
    if file == "pyproject.toml":
        assert config.pyproject_text is not None
        if config.project_dependencies is not None:
            new_text = _add_to_pep621(config.pyproject_text, missing)
        else:
            new_text = _add_to_poetry(config.pyproject_text, missing)
        return DependencyEdit(file if new_text else None, tuple(missing), new_text)
    assert config.requirements_text is not None
    return DependencyEdit(
        file, tuple(missing), _add_to_requirements(config.requirements_text, missing)
    )
