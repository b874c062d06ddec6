"""The host modules an app's module imports, followed from there.

Discovery needs only what the app can reach: a route in a module nothing
imports is never served. Imports and route paths are read with regular
expressions, not parsed: on a large project parsing every reachable file
costs seconds, scanning its text milliseconds.
"""

from __future__ import annotations

import re

from wsgen.host.sources import ProjectFiles

_FROM_IMPORT = re.compile(
    r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)", re.MULTILINE
)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w. \t,]+)", re.MULTILINE)
_NAME = re.compile(r"[A-Za-z_]\w*")
ROUTE_CALL = re.compile(
    r"\.(?:websocket|websocket_route|add_websocket_route|get|post|put|patch|delete"
    r"|api_route|add_api_route|route)\(\s*(?:path\s*=\s*)?[rRuU]?"
    r"(?:\"([^\"\\\n]*)\"|'([^'\\\n]*)')"
)


def _absolute(module: str, is_package: bool, target: str) -> str:
    """`..routes` seen from `app.api.main` -> `app.routes`."""
    level = len(target) - len(target.lstrip("."))
    if not level:
        return target
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
    rest = target[level:]
    return ".".join([*parts, rest] if rest else parts)


def _import_statements(text: str) -> list[str]:
    """Each statement that starts with `from` or `import`, found from the
    word "import" (rare in a file) rather than by testing every line."""
    out: list[str] = []
    position = text.find("import")
    while position != -1:
        start = text.rfind("\n", 0, position) + 1
        end = text.find("\n", position)
        end = len(text) if end == -1 else end
        head = text[start:end].lstrip()
        if head.startswith(("from ", "import ")):
            if "(" in head and ")" not in head:
                close = text.find(")", end)
                end = len(text) if close == -1 else close + 1
            out.append(text[start:end].lstrip())
        position = text.find("import", end)
    return out


def imported_modules(text: str, module: str, is_package: bool) -> set[str]:
    """Every dotted module an import in `text` may load, with each name of a
    `from X import a, b` as a candidate submodule `X.a`."""
    found: set[str] = set()
    for statement in _import_statements(text):
        match = _FROM_IMPORT.match(statement)
        if match:
            base = _absolute(module, is_package, match.group(1))
            if not base:
                continue
            found.add(base)
            names = re.sub(r"#[^\n]*", "", match.group(2)).strip("() \n")
            for part in names.split(","):
                first = _NAME.match(part.strip())  # `e as f`: the module is e
                if first:
                    found.add(f"{base}.{first.group(0)}")
            continue
        match = _IMPORT.match(statement)
        if match:
            for part in match.group(1).split(","):
                dotted = part.split(" as ")[0].strip()
                if dotted:
                    found.add(dotted)
    return found


def reachable_files(
    files: ProjectFiles, start: str, import_root: str, start_module: str
) -> set[str]:
    """Project files loaded by importing `start_module` (file `start`),
    packages' __init__.py included, as Python would."""
    base = "" if import_root == "." else import_root + "/"

    known: dict[str, str | None] = {}

    def file_of(module: str) -> str | None:
        if module not in known:
            path = base + module.replace(".", "/")
            known[module] = next(
                (c for c in (path + ".py", path + "/__init__.py") if c in files.texts),
                None,
            )
        return known[module]

    seen = {start}
    queue = [(start, start_module)]
    while queue:
        rel, module = queue.pop()
        is_package = rel.endswith("__init__.py")
        for name in imported_modules(files.texts[rel], module, is_package):
            parts = name.split(".")
            # importing a.b.c runs a/__init__.py and a/b/__init__.py too
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                found = file_of(prefix)
                if found is not None and found not in seen:
                    seen.add(found)
                    queue.append((found, prefix))
    return seen


def route_paths(text: str) -> list[tuple[str, int]]:
    """(literal path, line) of each route a file declares."""
    out = []
    line, counted = 1, 0
    for match in ROUTE_CALL.finditer(text):
        path = match.group(1) if match.group(1) is not None else match.group(2)
        if path and not path.startswith("/"):
            continue  # `settings.get("name")`: not a route
        line += text.count("\n", counted, match.start())
        counted = match.start()
        out.append((path, line))
    return out
