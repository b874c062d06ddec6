"""`wsgen check`: does the project still hold what wsgen generated?

Reads the manifest and the files it names; renders with the recorded
contexts to spot output the current templates would change. Files are of
two kinds: the user's (the route module, whose handlers and hooks are meant
to be edited: it must exist, parse and still be registered) and the
runtime's (an edit is reported until accepted with `--accept`). The
registration is found in the parsed module (ast, not libcst: check stays
cheap), so a commented-out include is not mistaken for one.
"""

from __future__ import annotations

import ast
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsgen.build.manifest import (
    MANIFEST_NAME,
    Manifest,
    content_hash,
    dumps,
    read_manifest,
)
from wsgen.errors import (
    EXIT_CHECK_EDITED,
    EXIT_CHECK_MISSING,
    EXIT_CHECK_STALE,
    EXIT_CHECK_UNREGISTERED,
    EXIT_OK,
    RefusedError,
    UsageError,
)

# When several problems are found, the exit code names the most serious.
SEVERITY = [
    ("missing", EXIT_CHECK_MISSING),
    ("unregistered", EXIT_CHECK_UNREGISTERED),
    ("edited", EXIT_CHECK_EDITED),
    ("stale", EXIT_CHECK_STALE),
]


@dataclass
class Finding:
    kind: str  # missing | unregistered | edited | stale
    path: str
    endpoint: str | None
    detail: str


@dataclass
class CheckReport:
    endpoints: list[str]
    files_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        kinds = {f.kind for f in self.findings}
        for kind, code in SEVERITY:
            if kind in kinds:
                return code
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.findings,
            "exit_code": self.exit_code,
            "endpoints": self.endpoints,
            "files_checked": self.files_checked,
            "findings": [f.__dict__ for f in self.findings],
        }


def _normalized(text: str) -> str:
    return "".join(text.split())


def _manifest(root: Path) -> Manifest:
    manifest = read_manifest(root)
    if manifest is None:
        raise RefusedError(
            f"No {MANIFEST_NAME} in {root}: wsgen has generated nothing here.",
            hint="Run `wsgen NAME` first, or pass --project DIR.",
            code="no_manifest",
        )
    return manifest


def run_check(root: Path) -> CheckReport:
    manifest = _manifest(root)
    report = CheckReport(endpoints=sorted(manifest.endpoints))
    expected: dict[str, str] = {}
    if manifest.endpoints:
        from wsgen.build.render import Renderer, previous_rendering

        # A copier template's files are stale only by copier's measure
        # (`copier update`): they are not re-rendered here.
        rendered = previous_rendering(manifest, Renderer(root))
        expected = {item.path: content_hash(item.content) for item in rendered}
    owners: dict[str, str | None] = {
        p: None for p in {**manifest.runtime_files, **manifest.package_files}
    }
    for record in manifest.endpoints.values():
        owners.update({p: record.name for p in record.files})
    users = manifest.user_files()
    for path, recorded in sorted(manifest.all_hashes().items()):
        report.files_checked += 1
        target = root / path
        if not target.is_file():
            report.findings.append(
                Finding("missing", path, owners.get(path), "generated file is missing")
            )
            continue
        data = target.read_bytes()
        if path in users:
            # The user's: edits are expected; it must still be a module
            # that defines the router its registration imports.
            problem = _route_module_problem(data)
            if problem:
                report.findings.append(
                    Finding("unregistered", path, owners.get(path), problem)
                )
            continue
        actual = content_hash(data)
        if actual not in (recorded, manifest.accepted.get(path)):
            report.findings.append(
                Finding(
                    "edited",
                    path,
                    owners.get(path),
                    "changed by hand since generation",
                )
            )
        elif path in expected and expected[path] != recorded:
            report.findings.append(
                Finding(
                    "stale",
                    path,
                    owners.get(path),
                    "the current templates render it differently",
                )
            )
    for record in manifest.endpoints.values():
        problem = _registration_problem(root, record.registration)
        if problem:
            report.findings.append(
                Finding(
                    "unregistered",
                    record.registration.get("file", ""),
                    record.name,
                    problem,
                )
            )
    return report


def _route_module_problem(data: bytes) -> str | None:
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        return f"the route module does not parse{where}: {getattr(exc, 'msg', exc)}"
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name) == "router" for a in node.names
        ):
            return None
        if any(isinstance(t, ast.Name) and t.id == "router" for t in targets):
            return None
    return "the route module no longer defines `router`, which its registration imports"


def _one_statement(line: str) -> ast.stmt | None:
    try:
        body = ast.parse(line.strip()).body
    except SyntaxError:
        return None
    return body[0] if len(body) == 1 else None


def _imports(node: ast.AST, wanted: ast.ImportFrom) -> bool:
    if not isinstance(node, ast.ImportFrom):
        return False
    if (node.module, node.level) != (wanted.module, wanted.level):
        return False
    return any(
        (a.name, a.asname or a.name) == (w.name, w.asname or w.name)
        for a in node.names
        for w in wanted.names
    )


def _includes(node: ast.AST, wanted: ast.Call) -> bool:
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(wanted.func, ast.Attribute)
        and node.func.attr == wanted.func.attr
        and ast.dump(node.func.value) == ast.dump(wanted.func.value)
    ):
        return False
    given = node.args[:1] + [k.value for k in node.keywords if k.arg == "router"]
    return any(ast.dump(arg) == ast.dump(wanted.args[0]) for arg in given)


def _registration_problem(root: Path, reg: dict[str, Any]) -> str | None:
    """Why the recorded import and include are not in the parsed module, or None."""
    path = reg.get("file", "")
    lines = [reg.get("import", ""), reg.get("include", "")]
    target = root / path
    if not target.is_file():
        return "missing: " + "; ".join(lines)
    data = target.read_bytes()
    import_stmt = _one_statement(lines[0])
    include_stmt = _one_statement(lines[1])
    if not (
        isinstance(import_stmt, ast.ImportFrom)
        and isinstance(include_stmt, ast.Expr)
        and isinstance(include_stmt.value, ast.Call)
        and include_stmt.value.args
    ):
        # Not lines wsgen writes today: compare the text, as before.
        body = _normalized(data.decode("utf-8", errors="replace"))
        absent = [line for line in lines if _normalized(line) not in body]
        return "missing: " + "; ".join(absent) if absent else None
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError) as exc:
        return f"{path} does not parse (line {getattr(exc, 'lineno', '?')}), so the router is not included"
    nodes = list(ast.walk(tree))
    absent = []
    if not any(_imports(node, import_stmt) for node in nodes):
        absent.append(lines[0])
    if not any(_includes(node, include_stmt.value) for node in nodes):
        absent.append(lines[1])
    return "missing: " + "; ".join(absent) if absent else None


def next_step(report: CheckReport) -> str:
    """What to do about the most serious finding: one sentence."""
    worst = next(kind for kind, code in SEVERITY if code == report.exit_code)
    finding = next(f for f in report.findings if f.kind == worst)
    name = finding.endpoint or "NAME"
    if worst == "missing":
        return (
            f"Restore {finding.path} from version control, re-create it with "
            f"`wsgen upgrade {name}`, or remove the endpoint with `wsgen destroy {name}`."
        )
    if worst == "unregistered":
        return (
            f"Fix {finding.path} ({finding.detail}), or remove the endpoint "
            f"with `wsgen destroy {name}`."
        )
    if worst == "edited":
        return (
            f"Keep the edit with `wsgen check --accept {finding.path}`, "
            "or restore the file from version control."
        )
    return f"Re-render with `wsgen upgrade {name}`; your edits are merged."


def project_path(root: Path, given: str, cwd: Path) -> str:
    """A file given on the command line, as the manifest names it."""
    plain = Path(given)
    if not plain.is_absolute() and not (cwd / plain).exists():
        plain = root / plain  # relative to the project, as check prints it
    elif not plain.is_absolute():
        plain = cwd / plain
    try:
        return plain.resolve().relative_to(root).as_posix()
    except ValueError:
        raise UsageError(
            f"--accept {given}: not a file of the project {root}.",
            hint="Give a path `wsgen check` reports, e.g. app/websocket/manager.py.",
        ) from None


def accept(root: Path, given: list[str], cwd: Path) -> list[str]:
    """Record the current content of edited runtime files as accepted.

    The generated hash is kept beside it, so `check` still sees when the
    templates change and `upgrade` still merges the edit.
    """
    manifest = _manifest(root)
    generated = manifest.all_hashes()
    users = manifest.user_files()
    accepted = []
    for raw in given:
        path = project_path(root, raw, cwd)
        if path in users:
            raise UsageError(
                f"--accept {raw}: the route module is yours; its edits never fail check.",
                hint="Nothing to accept: run `wsgen check` alone.",
            )
        if path not in generated:
            raise UsageError(
                f"--accept {raw}: not a file wsgen generated here.",
                hint="Give a file `wsgen check` reports as edited.",
            )
        target = root / path
        if not target.is_file():
            raise RefusedError(
                f"--accept {raw}: the file is missing; there is no edit to accept.",
                hint="Restore it, or re-create it with `wsgen upgrade NAME`.",
            )
        actual = content_hash(target.read_bytes())
        if actual == generated[path]:
            manifest.accepted.pop(path, None)  # as generated again
        else:
            manifest.accepted[path] = actual
            accepted.append(path)
    target = root / MANIFEST_NAME
    text = dumps(manifest).encode("utf-8")
    if text != target.read_bytes():
        _write_atomically(target, text)
    return accepted


def _write_atomically(target: Path, data: bytes) -> None:
    fd, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".wsgen-tmp", dir=target.parent
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(name, target.stat().st_mode & 0o7777)
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
