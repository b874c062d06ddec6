"""`wsgen check`: does the project still hold what wsgen generated?

Reads the manifest and the files it names; renders with the recorded
contexts to spot output the current templates would change. It never
imports libcst: a registration is found by its two recorded lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsgen.errors import (
    EXIT_CHECK_EDITED,
    EXIT_CHECK_MISSING,
    EXIT_CHECK_STALE,
    EXIT_CHECK_UNREGISTERED,
    EXIT_OK,
    RefusedError,
)
from wsgen.manifest import MANIFEST_NAME, content_hash, read_manifest

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


def run_check(root: Path) -> CheckReport:
    manifest = read_manifest(root)
    if manifest is None:
        raise RefusedError(
            f"No {MANIFEST_NAME} in {root}: wsgen has generated nothing here.",
            hint="Run `wsgen NAME` first, or pass --project DIR.",
            code="no_manifest",
        )
    report = CheckReport(endpoints=sorted(manifest.endpoints))
    expected: dict[str, str] = {}
    if manifest.endpoints:
        from wsgen.render import Renderer

        renderer = Renderer(root)
        rendered = renderer.runtime(manifest.runtime_context, manifest.runtime_dir)
        for record in manifest.endpoints.values():
            # A copier template's files are stale only by copier's measure
            # (`copier update`); re-rendering here would fetch the template.
            if not record.options.get("template"):
                rendered += renderer.endpoint(record.context)
        expected = {item.path: content_hash(item.content) for item in rendered}
    owners: dict[str, str | None] = {
        p: None for p in {**manifest.runtime_files, **manifest.package_files}
    }
    for record in manifest.endpoints.values():
        owners.update({p: record.name for p in record.files})
    for path, recorded in sorted(manifest.all_hashes().items()):
        report.files_checked += 1
        target = root / path
        if not target.is_file():
            report.findings.append(
                Finding("missing", path, owners.get(path), "generated file is missing")
            )
            continue
        actual = content_hash(target.read_bytes())
        if actual != recorded:
            report.findings.append(
                Finding(
                    "edited", path, owners.get(path), "changed by hand since generation"
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
        reg = record.registration
        path = reg.get("file", "")
        target = root / path
        text = (
            target.read_text(encoding="utf-8", errors="replace")
            if target.is_file()
            else ""
        )
        body = _normalized(text)
        missing = [
            line
            for line in (reg.get("import", ""), reg.get("include", ""))
            if _normalized(line) not in body
        ]
        if missing:
            report.findings.append(
                Finding(
                    "unregistered", path, record.name, "missing: " + "; ".join(missing)
                )
            )
    return report
