"""Runtime dependencies of generated code, added where the host declares its web stack.

Each edit is one insertion into the file as read (line endings included), so
every other byte stays as it was, and the manifest records the inserted text:
`destroy` takes out exactly that. Nothing is ever installed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wsgen.build import features
from wsgen.host.projectconfig import ProjectConfig, canonical, requirement_name


def import_name(requirement: str) -> str | None:
    """The module a requirement wsgen adds is imported as (None: not one of
    them, or FastAPI, which every host imported before)."""
    name = requirement_name(requirement)
    return features.import_names().get(name) if name else None


@dataclass(frozen=True)
class DependencyEdit:
    file: str | None  # None: the host declares dependencies nowhere wsgen can edit
    missing: tuple[str, ...]
    new_text: str | None
    at: int = 0  # where `inserted` goes in the file's text
    inserted: str = ""
    where: str = ""  # the list it goes into, as the plan names it


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


Insertion = tuple[int, str]  # (offset in the text, the text inserted there)


def _section(text: str, header: str) -> tuple[int, int] | None:
    """Start and end of the body of the TOML table `[header]`."""
    found = re.search(rf"(?m)^\[{re.escape(header)}\][ \t]*\r?$", text)
    if not found:
        return None
    start = found.end()
    next_table = re.search(r"(?m)^\[", text[start:])
    return start, start + next_table.start() if next_table else len(text)


def _insert_into_array(
    text: str, header: str, key: str, specs: list[str]
) -> Insertion | None:
    """Insert into `key = [...]` of `[header]`, keeping the file's style."""
    bounds = _section(text, header)
    if bounds is None:
        return None
    start, end = bounds
    key_pattern = rf"(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')"
    found = re.search(rf"(?m)^{key_pattern}\s*=\s*\[", text[start:end])
    if not found:
        return None
    open_at = start + found.end()
    close_at = _closing_bracket(text, open_at)
    if close_at < 0:
        return None
    inner = text[open_at:close_at]
    nl = _newline(text)
    last = _code_end(text, open_at, close_at)
    trailing_comma = last > open_at and text[last - 1] == ","
    if "\n" in inner:  # multi-line array: one item a line, same indent
        indent_match = re.search(r"\n([ \t]+)\S", inner)
        indent = indent_match.group(1) if indent_match else "    "
        if trailing_comma or last == open_at:
            body = inner.rstrip(" \t")
            lines = "".join(f'{indent}"{s}",{nl}' for s in specs)
            return open_at + len(body), (lines if body.endswith("\n") else nl + lines)
        # No trailing comma: add one after the last item, and none at the end.
        return last, "".join(f',{nl}{indent}"{s}"' for s in specs)
    added = ", ".join(f'"{s}"' for s in specs)
    if last == open_at:
        return open_at, added
    return last, (f" {added}," if trailing_comma else f", {added}")


def _insert_into_poetry(text: str, header: str, specs: list[str]) -> Insertion | None:
    bounds = _section(text, header)
    if bounds is None:
        return None
    start, end = bounds
    body = text[start:end].rstrip()
    nl = _newline(text)
    lines = ""
    for spec in specs:
        name, _, version = spec.partition(">=")
        lines += f'{nl}{name} = ">={version}"'
    return start + len(body), lines


def _append_to_requirements(text: str, specs: list[str]) -> Insertion:
    nl = _newline(text)
    prefix = "" if not text or text.endswith("\n") else nl
    return len(text), prefix + "".join(s + nl for s in specs)


def _names(specs: Any) -> set[str]:
    if isinstance(specs, dict):  # Poetry: {name = version}
        return {canonical(str(name)) for name in specs}
    if not isinstance(specs, list):
        return set()
    return {
        n for spec in specs if isinstance(spec, str) and (n := requirement_name(spec))
    }


@dataclass(frozen=True)
class _Target:
    """A list of dependencies wsgen can insert into."""

    file: str
    text: str
    where: str  # as the plan names it
    declared: set[str]  # what is installed with it (core included)
    header: str = ""  # its TOML table; "": a requirements file
    key: str | None = None  # the array's key in that table; None: a Poetry table
    main: bool = False  # the project's main list

    def insert(self, specs: list[str]) -> Insertion | None:
        if not self.header:
            return _append_to_requirements(self.text, specs)
        if self.key is None:
            return _insert_into_poetry(self.text, self.header, specs)
        return _insert_into_array(self.text, self.header, self.key, specs)


def _targets(config: ProjectConfig) -> list[_Target]:
    """Every list that could hold the web stack, main lists first."""
    targets = []
    text = config.pyproject_text
    if text is not None:
        data = config.pyproject
        project = data.get("project", {})
        poetry = data.get("tool", {}).get("poetry", {})
        core = _names(project.get("dependencies"))
        main = _names(poetry.get("dependencies"))
        file = "pyproject.toml"
        if isinstance(project.get("dependencies"), list):
            targets.append(_Target(file, text, "project.dependencies", core,
                                   "project", "dependencies", main=True))  # fmt: skip
        if isinstance(poetry.get("dependencies"), dict):
            targets.append(_Target(file, text, "tool.poetry.dependencies", main,
                                   "tool.poetry.dependencies", main=True))  # fmt: skip
        for extra, specs in (project.get("optional-dependencies") or {}).items():
            targets.append(_Target(file, text, f"the extra {extra!r}",
                                   core | _names(specs),
                                   "project.optional-dependencies", extra))  # fmt: skip
        for group, specs in (data.get("dependency-groups") or {}).items():
            targets.append(_Target(file, text, f"the dependency group {group!r}",
                                   core | _names(specs), "dependency-groups", group))  # fmt: skip
        for group, table in (poetry.get("group") or {}).items():
            if isinstance(table, dict) and isinstance(table.get("dependencies"), dict):
                targets.append(_Target(file, text, f"the Poetry group {group!r}",
                                       main | _names(table["dependencies"]),
                                       f"tool.poetry.group.{group}.dependencies"))  # fmt: skip
    if config.requirements_file and config.requirements_text is not None:
        requirements = config.requirements_text
        targets.append(_Target(config.requirements_file, requirements,
                               config.requirements_file,
                               _names(requirements.splitlines()), main=True))  # fmt: skip
    return targets


def plan_dependencies(
    config: ProjectConfig, requirements: Mapping[str, str]
) -> DependencyEdit:
    """The insertion that declares `requirements` (name -> spec, from the
    feature table) where the host declares FastAPI.

    The list that declares FastAPI (core, an extra, a dependency group, or a
    requirements file) gets them; with FastAPI declared nowhere, the
    project's main list does (and gets FastAPI too).
    """
    wanted = requirements
    targets = _targets(config)
    target = next((t for t in targets if "fastapi" in t.declared), None)
    target = target or next((t for t in targets if t.main), None)
    if target is None:
        return DependencyEdit(None, tuple(wanted.values()), None)
    missing = [spec for name, spec in wanted.items() if name not in target.declared]
    if not missing:
        return DependencyEdit(target.file, (), None)
    insertion = target.insert(missing)
    if insertion is None:
        return DependencyEdit(None, tuple(missing), None)
    at, inserted = insertion
    new_text = target.text[:at] + inserted + target.text[at:]
    return DependencyEdit(
        target.file, tuple(missing), new_text, at, inserted, target.where
    )
