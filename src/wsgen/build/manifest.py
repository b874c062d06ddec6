"""`.wsgen.toml`: what wsgen generated in this project, read by `check`.

Written deterministically (sorted keys, no timestamps) so that a re-run that
changes nothing rewrites identical bytes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsgen.errors import RefusedError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MANIFEST_NAME = ".wsgen.toml"
HEADER = (
    "# Written by wsgen: what it generated here. `wsgen check` compares against it.\n"
)


def content_hash(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def git_blob_id(data: bytes | str) -> str:
    """The id git gives this content: upgrade reads the base of its merge
    back from the project's own repository (`git cat-file blob ID`)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha1(
        b"blob %d\0" % len(raw) + raw, usedforsecurity=False
    ).hexdigest()


@dataclass
class EndpointRecord:
    name: str
    options: dict[str, Any]  # auth, rooms, broadcast, message_types, path
    files: dict[str, str]  # path -> content hash
    registration: dict[str, Any]  # file, import, include
    context: dict[str, Any]  # template context, so check can re-render
    # The user's files (the route module: its handlers and hooks are meant to
    # be edited); every other file is the runtime's, whose edits check reports.
    user_files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DependencyInsert:
    """Text wsgen inserted into a dependency list, so destroy can take it out."""

    file: str
    at: int  # offset in the file's text when inserted
    text: str  # exactly what was inserted (line endings, commas, quotes)
    requirements: tuple[str, ...]  # what it declares

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "at": self.at, "text": self.text,
                "requirements": list(self.requirements)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DependencyInsert:
        return cls(str(data["file"]), int(data["at"]), str(data["text"]),
                   tuple(data.get("requirements", ())))  # fmt: skip


@dataclass
class Manifest:
    version: str = ""
    runtime_dir: str = ""
    runtime_files: dict[str, str] = field(default_factory=dict)
    runtime_context: dict[str, Any] = field(default_factory=dict)
    package_files: dict[str, str] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    dependency_edits: list[DependencyInsert] = field(default_factory=list)
    endpoints: dict[str, EndpointRecord] = field(default_factory=dict)
    # Runtime files edited on purpose (`wsgen check --accept`): path -> the
    # hash of the accepted content. The generated hash stays in `files`.
    accepted: dict[str, str] = field(default_factory=dict)
    # path -> git blob id of what was generated (see git_blob_id).
    blobs: dict[str, str] = field(default_factory=dict)

    def owned_files(self) -> frozenset[str]:
        owned = set(self.runtime_files) | set(self.package_files)
        for record in self.endpoints.values():
            owned |= set(record.files)
        return frozenset(owned)

    def all_hashes(self) -> dict[str, str]:
        hashes = {**self.package_files, **self.runtime_files}
        for record in self.endpoints.values():
            hashes.update(record.files)
        return hashes

    def user_files(self) -> frozenset[str]:
        return frozenset(p for r in self.endpoints.values() for p in r.user_files)


def route_module(name: str, context: dict[str, Any]) -> str:
    """Where an endpoint's route module is: the file its registration imports."""
    return f"{context.get('routes_dir', '')}/{name}.py"


def _toml_string(value: str) -> str:
    # A JSON string is a TOML basic string, except that JSON writes characters
    # outside the BMP as surrogate pairs (invalid in TOML) and leaves DEL raw.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(
            f"{_toml_string(k)} = {_toml_value(v)}"
            for k, v in sorted(value.items())
            if v is not None
        )
        return "{" + items + "}" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _table(header: str, values: dict[str, Any]) -> str:
    lines = [f"[{header}]"]
    for key in sorted(values):
        if values[key] is None:
            continue
        if isinstance(values[key], dict) and key == "files":
            continue
        lines.append(f"{key} = {_toml_value(values[key])}")
    text = "\n".join(lines) + "\n"
    if isinstance(values.get("files"), dict):
        text += f"\n[{header}.files]\n"
        text += "".join(
            f"{_toml_string(p)} = {_toml_string(h)}\n"
            for p, h in sorted(values["files"].items())
        )
    return text


def dumps(manifest: Manifest) -> str:
    parts = [
        HEADER
        + _table(
            "wsgen",
            {
                "version": manifest.version,
                "dependencies": manifest.dependencies,
                # Only when there are: manifests without edits stay as they were.
                "dependency_edits": [e.to_dict() for e in manifest.dependency_edits]
                or None,
            },
        ),
        _table(
            "runtime",
            {
                "dir": manifest.runtime_dir,
                "context": manifest.runtime_context,
                "files": {**manifest.package_files, **manifest.runtime_files},
                # Only when there are (runtimes inside a package of yours).
                "package_files": sorted(manifest.package_files) or None,
            },
        ),
    ]
    for name in sorted(manifest.endpoints):
        record = manifest.endpoints[name]
        parts.append(
            _table(
                f"endpoints.{name}",
                {
                    **record.options,
                    "registration": record.registration,
                    "context": record.context,
                    "user_files": sorted(record.user_files),
                    "files": record.files,
                },
            )
        )
    if manifest.accepted:
        parts.append(
            "[accepted]\n"
            + "".join(
                f"{_toml_string(p)} = {_toml_string(h)}\n"
                for p, h in sorted(manifest.accepted.items())
            )
        )
    if manifest.blobs:
        parts.append(
            "[blobs]\n"
            + "".join(
                f"{_toml_string(p)} = {_toml_string(b)}\n"
                for p, b in sorted(manifest.blobs.items())
            )
        )
    return "\n".join(parts)


def loads(text: str) -> Manifest:
    data = tomllib.loads(text)
    runtime = data.get("runtime", {})
    all_runtime = dict(runtime.get("files", {}))
    package_names = set(runtime.get("package_files", []))
    manifest = Manifest(
        version=data.get("wsgen", {}).get("version", ""),
        runtime_dir=runtime.get("dir", ""),
        runtime_files={p: h for p, h in all_runtime.items() if p not in package_names},
        runtime_context=dict(runtime.get("context", {})),
        package_files={p: h for p, h in all_runtime.items() if p in package_names},
        dependencies=list(data.get("wsgen", {}).get("dependencies", [])),
        accepted=dict(data.get("accepted", {})),
        dependency_edits=[
            DependencyInsert.from_dict(edit)
            for edit in data.get("wsgen", {}).get("dependency_edits", [])
        ],
        blobs=dict(data.get("blobs", {})),
    )
    for name, table in data.get("endpoints", {}).items():
        table = dict(table)
        files = table.pop("files", {})
        registration = table.pop("registration", {})
        context = table.pop("context", {})
        user_files = table.pop("user_files", None)
        if user_files is None:
            # Written before kinds were recorded: the route module is the user's.
            user_files = [p for p in [route_module(name, context)] if p in files]
        _fill_defaults(context)
        manifest.endpoints[name] = EndpointRecord(
            name, table, files, registration, context, list(user_files)
        )
    _fill_defaults(manifest.runtime_context)
    return manifest


def _fill_defaults(context: dict[str, Any]) -> None:
    # TOML has no null: keys written as None come back missing.
    context.setdefault("jwt", None)
    if isinstance(context["jwt"], dict):
        context["jwt"].setdefault("algorithm", None)


def read_manifest(root: Path) -> Manifest | None:
    path = root / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return loads(path.read_text(encoding="utf-8"))
    except (
        tomllib.TOMLDecodeError,
        UnicodeDecodeError,
        TypeError,
        AttributeError,
        KeyError,
        ValueError,
    ) as exc:
        raise RefusedError(
            f"{MANIFEST_NAME} is not a valid wsgen manifest ({exc}).",
            hint="Restore it from version control, or delete it to start over.",
            code="invalid_manifest",
        ) from None
