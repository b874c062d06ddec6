"""Read the host project once: which Python files exist and what they say.

Discovery works on this snapshot only, so it never imports host code and is
a pure function of the files' text. `ast` is used for reading (it costs a few
milliseconds to import); libcst is kept for the one file wsgen edits.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path

from wsgen.errors import RefusedError

# Folders no host code lives in; skipping them keeps the scan fast and avoids
# finding FastAPI apps inside installed packages or fixtures.
SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".venv", "venv", "env", ".env", "node_modules",
        "__pycache__", "site-packages", "build", "dist", ".tox", ".nox",
        ".mypy_cache", ".ruff_cache", ".pytest_cache", "tests", "test",
        "migrations", "alembic", "docs",
    }
)  # fmt: skip
MAX_FILE_BYTES = 2_000_000


def is_test_file(name: str) -> bool:
    return (
        name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
    )


@dataclass
class ProjectFiles:
    """Text of the host's Python files, keyed by POSIX path relative to root."""

    root: Path
    texts: dict[str, str] = field(default_factory=dict)
    _trees: dict[str, ast.Module] = field(default_factory=dict)

    def tree(self, rel: str) -> ast.Module:
        if rel not in self._trees:
            try:
                self._trees[rel] = ast.parse(self.texts[rel], filename=rel)
            except SyntaxError as exc:
                raise RefusedError(
                    f"{rel} line {exc.lineno}: syntax error ({exc.msg}).",
                    hint="Fix the file first; wsgen edits only code that parses.",
                    code="syntax_error",
                ) from None
        return self._trees[rel]

    def try_tree(self, rel: str) -> ast.Module | None:
        try:
            return self.tree(rel)
        except RefusedError:
            return None

    def exists(self, rel: str) -> bool:
        return (self.root / rel).exists()


def read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def scan_project(root: Path) -> ProjectFiles:
    files = ProjectFiles(root=root)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIP_DIRS
            and not d.startswith(".")
            and not (here / d / "pyvenv.cfg").exists()
        )
        for name in sorted(filenames):
            if not name.endswith(".py") or is_test_file(name):
                continue
            path = here / name
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    continue
                text = read_text(path)
            except OSError:
                continue
            files.texts[path.relative_to(root).as_posix()] = text
    return files


# --- small ast readers -------------------------------------------------------


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` for Name/Attribute chains, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def call_name(node: ast.AST) -> str | None:
    return dotted(node.func) if isinstance(node, ast.Call) else None


def string_value(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def assigned_names(stmt: ast.stmt) -> list[str]:
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, ast.AnnAssign):
        targets = [stmt.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def assigned_value(stmt: ast.stmt) -> ast.expr | None:
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        return stmt.value
    return None


def flat_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements of a body, looking inside if/try/with blocks (not defs)."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, (ast.If, ast.Try, ast.With, ast.AsyncWith)):
            for part in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(stmt, part, []) or []:
                    if isinstance(child, ast.ExceptHandler):
                        out.extend(flat_statements(child.body))
                    else:
                        out.extend(flat_statements([child]))
    return out


def names_bound_to(tree: ast.Module, module: str, obj: str) -> set[str]:
    """Local names under which `from module import obj` is bound."""
    names: set[str] = set()
    for stmt in ast.walk(tree):
        if (
            isinstance(stmt, ast.ImportFrom)
            and stmt.module == module
            and not stmt.level
        ):
            for alias in stmt.names:
                if alias.name == obj:
                    names.add(alias.asname or alias.name)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name == module:
                    names.add(f"{alias.asname or alias.name}.{obj}")
    return names
