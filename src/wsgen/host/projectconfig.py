"""The host's configuration files: pyproject.toml, ruff.toml, requirements."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsgen.errors import RefusedError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# Lock files name the version actually installed: they outrank the ranges.
LOCK_FILES = ("uv.lock", "poetry.lock", "pdm.lock")
_LOCKED_PYDANTIC = re.compile(
    r'^name\s*=\s*"pydantic"\s*\n(?:[^\[\n][^\n]*\n)*?version\s*=\s*"(\d+)\.',
    re.MULTILINE,
)
# A locked package: `name = "fastapi"` and, a few lines on, its version.
_LOCKED = r'^name\s*=\s*"{name}"\s*\n(?:[^\[\n][^\n]*\n)*?version\s*=\s*"([^"]+)"'
_VERSION = re.compile(r"\d+(?:\.\d+)*")
REQUIREMENTS_FILES = (
    "requirements.txt",
    "requirements/base.txt",
    "requirements/prod.txt",
    "requirements/production.txt",
    "requirements/main.txt",
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str | None:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = _REQ_NAME.match(line)
    return canonical(match.group(1)) if match else None


@dataclass
class ProjectConfig:
    pyproject: dict[str, Any] = field(default_factory=dict)
    pyproject_text: str | None = None
    requirements_file: str | None = None
    requirements_text: str | None = None
    ruff_line_length: int | None = None
    lock_texts: list[str] = field(default_factory=list)

    @property
    def fastapi_entrypoint(self) -> str | None:
        value = self.pyproject.get("tool", {}).get("fastapi", {}).get("entrypoint")
        return value if isinstance(value, str) else None

    @property
    def pytest_testpaths(self) -> list[str]:
        """`[tool.pytest.ini_options] testpaths`: where the host's tests live."""
        options = (
            self.pyproject.get("tool", {}).get("pytest", {}).get("ini_options", {})
        )
        paths = options.get("testpaths") if isinstance(options, dict) else None
        if isinstance(paths, str):
            paths = paths.split()
        return (
            [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
        )

    @property
    def project_dependencies(self) -> list[str] | None:
        deps = self.pyproject.get("project", {}).get("dependencies")
        return deps if isinstance(deps, list) else None

    @property
    def poetry_dependencies(self) -> dict[str, Any] | None:
        deps = self.pyproject.get("tool", {}).get("poetry", {}).get("dependencies")
        return deps if isinstance(deps, dict) else None

    def declared(self) -> tuple[str | None, set[str], list[str]]:
        """(file that declares dependencies, canonical names, raw specifiers)."""
        if self.project_dependencies is not None:
            raw = [str(d) for d in self.project_dependencies]
            return "pyproject.toml", {n for d in raw if (n := requirement_name(d))}, raw
        if self.poetry_dependencies is not None:
            raw = [
                f"{k}{_poetry_version(v)}" for k, v in self.poetry_dependencies.items()
            ]
            return (
                "pyproject.toml",
                {canonical(k) for k in self.poetry_dependencies},
                raw,
            )
        if self.requirements_file and self.requirements_text is not None:
            raw = self.requirements_text.splitlines()
            return (
                self.requirements_file,
                {n for line in raw if (n := requirement_name(line))},
                raw,
            )
        return None, set(), []

    def pydantic_major(self, sources: Iterable[str]) -> int | None:
        for text in self.lock_texts:
            locked = _LOCKED_PYDANTIC.search(text)
            if locked:
                return int(locked.group(1))
        _, _, raw = self.declared()
        for spec in raw:
            if requirement_name(spec) == "pydantic":
                if re.search(r"(<\s*2|==\s*1\.|~=\s*1\.|\^1\.)", spec):
                    return 1
                return 2
        if any("from pydantic import BaseSettings" in text for text in sources):
            return 1
        return None

    def locked(self, name: str) -> bool:
        """Whether a lock file installs `name`."""
        pattern = re.compile(_LOCKED.format(name=re.escape(name)), re.MULTILINE)
        return any(pattern.search(text) for text in self.lock_texts)

    def fastapi_ceiling(self) -> tuple[int, ...] | None:
        """The newest FastAPI the host can install, when it is held back:
        the locked or pinned version, or an upper bound (`<0.112`, `~=0.110.0`,
        Poetry's `^0.110`); None when any recent FastAPI may be installed."""
        pattern = re.compile(_LOCKED.format(name="fastapi"), re.MULTILINE)
        for text in self.lock_texts:
            locked = pattern.search(text)
            if locked:
                return _version(locked.group(1))
        _, _, raw = self.declared()
        for spec in raw:
            if requirement_name(spec) != "fastapi":
                continue
            spec = spec.split("#", 1)[0].split(";", 1)[0]
            pinned = re.search(r"===?\s*([\d.]+)", spec)
            if pinned:
                return _version(pinned.group(1))
            below = re.search(r"<=?\s*([\d.]+)", spec)
            if below:
                version = _version(below.group(1))
                # `<0.112.2` allows less than that; `<=` allows it.
                return version if "<=" in spec else _just_below(version)
            # ~=0.110.0 and Poetry's ^0.110 / ~0.110 stay below 0.111
            compatible = re.search(r"(~=|\^|~)\s*([\d.]+)", spec)
            if compatible:
                version = _version(compatible.group(2))
                keep = 2 if compatible.group(1) != "~=" or len(version) > 2 else 1
                if compatible.group(1) == "^" and version[0] > 0:
                    keep = 1
                head = version[:keep]
                return _just_below((*head[:-1], head[-1] + 1))
        return None


def _version(text: str) -> tuple[int, ...]:
    found = _VERSION.match(text)
    return tuple(int(p) for p in found.group(0).split(".")) if found else (0,)


def _just_below(version: tuple[int, ...]) -> tuple[int, ...]:
    """A stand-in for the newest version below `version` (`<0.112` -> 0.111.999)."""
    parts = list(version) + [0] * (3 - len(version))
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] > 0:
            parts[index] -= 1
            return (*parts[: index + 1], *([999] * (len(parts) - index - 1)))
    return (0,)


def _poetry_version(value: Any) -> str:
    """The version of a Poetry dependency, string or table form
    (`pydantic = { version = "^1.9", extras = ["email"] }`)."""
    if isinstance(value, dict):
        value = value.get("version", "")
    if isinstance(value, str) and value and value[0].isdigit():
        return "==" + value  # Poetry's bare "1.10.2" is an exact pin
    return value if isinstance(value, str) else ""


def load_config(root: Path) -> ProjectConfig:
    config = ProjectConfig()
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        # As bytes: text mode would turn CRLF into LF, and edits must keep them.
        text = pyproject.read_bytes().decode("utf-8")
        try:
            config.pyproject = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RefusedError(
                f"pyproject.toml is not valid TOML ({exc}).",
                hint="Fix it first; wsgen reads it to find the app and dependencies.",
                code="invalid_config",
            ) from None
        config.pyproject_text = text
        ruff = config.pyproject.get("tool", {}).get("ruff", {})
        if isinstance(ruff.get("line-length"), int):
            config.ruff_line_length = ruff["line-length"]
    for name in ("ruff.toml", ".ruff.toml"):
        path = root / name
        if path.is_file() and config.ruff_line_length is None:
            try:
                value = tomllib.loads(path.read_text(encoding="utf-8")).get(
                    "line-length"
                )
            except (tomllib.TOMLDecodeError, OSError):
                value = None
            if isinstance(value, int):
                config.ruff_line_length = value
    for name in LOCK_FILES:
        path = root / name
        if path.is_file():
            config.lock_texts.append(path.read_text(encoding="utf-8", errors="replace"))
    for name in REQUIREMENTS_FILES:
        path = root / name
        if path.is_file():
            config.requirements_file = name
            config.requirements_text = path.read_bytes().decode("utf-8")
            break
    return config
