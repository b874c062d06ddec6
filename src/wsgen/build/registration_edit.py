"""The registration edit: add one import and one `include_router(...)` call.

A pure function of the host file's bytes. Built on core libcst (parse,
`parse_statement`, `with_changes`) rather than its matcher/codemod layers,
which would cost more import time than the rest of a run. Every byte outside
the two added lines stays as it was: comments, quotes, CRLF, the encoding
cookie.
"""

from __future__ import annotations

from typing import Any

import libcst as cst

from wsgen.build.registration import Registration, RegistrationEdit
from wsgen.errors import RefusedError


class ManualRegistrationNeeded(RefusedError):
    code = "unsafe_edit"

    def __init__(self, reg: Registration, why: str) -> None:
        super().__init__(
            f"Cannot register the router in {reg.file} safely: {why}.",
            hint=(
                f"Add `{reg.import_line}` to the imports and "
                f"`{reg.include_line}` near line {reg.line} of {reg.file}, "
                "then re-run the same wsgen command."
            ),
        )


def _dotted(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


def _import_from(stmt: cst.CSTNode) -> cst.ImportFrom | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        node = stmt.body[0]
        if isinstance(node, cst.ImportFrom):
            return node
    return None


def _is_import(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and any(
        isinstance(n, (cst.Import, cst.ImportFrom)) for n in stmt.body
    )


def _from_module(node: cst.ImportFrom) -> str:
    dots = "." * len(node.relative)
    return dots + (_dotted(node.module) or "")


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _call_of(stmt: cst.CSTNode, receiver: str, method: str) -> cst.Call | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        expr = stmt.body[0]
        if (
            isinstance(expr, cst.Expr)
            and isinstance(expr.value, cst.Call)
            and _dotted(expr.value.func) == f"{receiver}.{method}"
        ):
            return expr.value
    return None


def _assigns(stmt: cst.CSTNode, name: str) -> bool:
    """`stmt` binds `name`; an if/else or try/except counts when every
    branch does, so the include goes after the whole statement."""
    if isinstance(stmt, cst.If):
        return _block_assigns(stmt.body, name) and (
            stmt.orelse is not None
            and (
                _assigns(stmt.orelse, name)
                if isinstance(stmt.orelse, cst.If)
                else _block_assigns(stmt.orelse.body, name)
            )
        )
    if isinstance(stmt, cst.Try):
        return _block_assigns(stmt.body, name) and all(
            _block_assigns(h.body, name) for h in stmt.handlers
        )
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for node in stmt.body:
        if isinstance(node, cst.Assign):
            if any(_dotted(t.target) == name for t in node.targets):
                return True
        elif isinstance(node, cst.AnnAssign) and _dotted(node.target) == name:
            return True
    return False


def _block_assigns(block: cst.BaseSuite, name: str) -> bool:
    body = block.body if isinstance(block, cst.IndentedBlock) else ()
    return any(_assigns(s, name) for s in body)


def _has_import(module: cst.Module, reg: Registration) -> bool:
    for stmt in module.body:
        node = _import_from(stmt)
        if node is None or _from_module(node) != reg.import_module:
            continue
        if isinstance(node.names, cst.ImportStar):
            continue
        for alias in node.names:
            asname = alias.asname.name if alias.asname else None
            if _dotted(alias.name) == "router" and _dotted(asname) == reg.alias:
                return True
    return False


class _IncludeFinder(cst.CSTVisitor):
    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        func = _dotted(node.func) or ""
        if (
            func.endswith(".include_router")
            and node.args
            and _dotted(node.args[0].value) == self.alias
        ):
            self.found = True


def _import_sort_key(module_text: str) -> tuple[int, str]:
    # ruff/isort order: `..x` before `.x` ("furthest to closest"), then by name.
    level = len(module_text) - len(module_text.lstrip("."))
    return (-level, module_text.lstrip(".").lower())


NOQA_LATE_IMPORT = "# noqa: E402"


def _is_fastapi_import(stmt: Any) -> bool:
    node = _import_from(stmt)
    if node is not None:
        return _from_module(node).split(".")[0] == "fastapi"
    return isinstance(stmt, cst.SimpleStatementLine) and any(
        isinstance(node, cst.Import)
        and any((_dotted(a.name) or "").split(".")[0] == "fastapi" for a in node.names)
        for node in stmt.body
    )


def _import_block(body: list[Any]) -> tuple[int, int]:
    """The run of top-level imports the new one joins: the one holding the
    host's FastAPI import (never above module code that must run before
    it), else the leading one. Returns its start and end indexes."""
    blocks: list[tuple[int, int]] = []
    index = 0
    while index < len(body):
        begin = index
        while index < len(body) and (
            _is_import(body[index]) or (index == 0 and _is_docstring(body[index]))
        ):
            index += 1
        if index > begin:
            blocks.append((begin, index))
        else:
            index += 1
    if not blocks:
        return 0, 0
    with_fastapi = [
        (b, e) for b, e in blocks if any(_is_fastapi_import(s) for s in body[b:e])
    ]
    if with_fastapi and with_fastapi[-1][0] > 0:
        return with_fastapi[-1]
    first = blocks[0]
    return (0, first[1]) if first[0] == 0 else (0, 0)


def _insert_import(module: cst.Module, reg: Registration) -> cst.Module:
    body = list(module.body)
    new = cst.parse_statement(reg.import_line, config=module.config_for_parsing)
    start, leading_end = _import_block(body)
    if start > 0:
        # Imports after module code (which must run first) carry this
        # marker for ruff; ours sits among them and carries it too.
        assert isinstance(new, cst.SimpleStatementLine)
        new = new.with_changes(
            trailing_whitespace=cst.TrailingWhitespace(
                whitespace=cst.SimpleWhitespace("  "),
                comment=cst.Comment(NOQA_LATE_IMPORT),
                newline=new.trailing_whitespace.newline,
            )
        )
    relative = reg.import_module.startswith(".")
    first_party = reg.first_party | {reg.import_module.split(".")[0]}
    section: list[int] = []
    for index in range(start, leading_end):
        node = _import_from(body[index])
        if node is None:
            continue
        mod = _from_module(node)
        if relative == mod.startswith(".") and (
            relative or mod.split(".")[0] in first_party
        ):
            section.append(index)
    ours = _import_sort_key(reg.import_module)
    if section:
        for index in section:
            node = _import_from(body[index])
            assert node is not None
            if _import_sort_key(_from_module(node)) > ours:
                # Take over the neighbour's leading blank lines and comments so
                # that they stay above the section, not between it and us.
                neighbour = body[index]
                assert isinstance(neighbour, cst.SimpleStatementLine)
                new = new.with_changes(leading_lines=neighbour.leading_lines)
                body[index] = neighbour.with_changes(leading_lines=())
                body.insert(index, new)
                return module.with_changes(body=body)
        body.insert(section[-1] + 1, new)
        return module.with_changes(body=body)
    if leading_end:  # a blank line after the imports or the docstring
        new = new.with_changes(leading_lines=(cst.EmptyLine(),))
    body.insert(leading_end, new)
    return module.with_changes(body=body)


def _insert_include(
    statements: list[Any], reg: Registration, config: Any
) -> list[Any] | None:
    new = cst.parse_statement(reg.include_line, config=config)
    includes = [
        i
        for i, s in enumerate(statements)
        if _call_of(s, reg.receiver, "include_router")
    ]
    mounts = []
    for i, stmt in enumerate(statements):
        call = _call_of(stmt, reg.receiver, "mount")
        first = call.args[0].value if call and call.args else None
        if isinstance(first, cst.SimpleString) and first.evaluated_value in ("/", ""):
            mounts.append(i)
    if includes:
        index = includes[-1] + 1
    else:
        assigned = [i for i, s in enumerate(statements) if _assigns(s, reg.receiver)]
        if not assigned:
            return None
        index = assigned[0] + 1
    if mounts and mounts[0] < index:
        # Before a catch-all mount, or the route would be unreachable; the
        # mount's comments stay above the pair.
        index = mounts[0]
        mount = statements[index]
        new = new.with_changes(leading_lines=mount.leading_lines)
        statements[index] = mount.with_changes(leading_lines=())
    statements.insert(index, new)
    return statements


def register_router(source: bytes, reg: Registration) -> RegistrationEdit:
    """Return the edited bytes; unchanged bytes when already registered."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise RefusedError(
            f"{reg.file} line {exc.raw_line}: syntax error.",
            hint="Fix the file first; wsgen edits only code that parses.",
            code="syntax_error",
        ) from None
    finder = _IncludeFinder(reg.alias)
    module.visit(finder)
    need_include = not finder.found
    need_import = not _has_import(module, reg)
    if need_include:
        if reg.scope is None:
            statements = _insert_include(
                list(module.body), reg, module.config_for_parsing
            )
            if statements is None:
                raise ManualRegistrationNeeded(
                    reg, f"no assignment to `{reg.receiver}` at module level"
                )
            module = module.with_changes(body=statements)
        else:
            module = _insert_into_function(module, reg)
    if need_import:
        module = _insert_import(module, reg)
    return RegistrationEdit(module.bytes, need_import, need_include)


def _insert_into_function(module: cst.Module, reg: Registration) -> cst.Module:
    body = list(module.body)
    for index, stmt in enumerate(body):
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == reg.scope:
            block = stmt.body
            if not isinstance(block, cst.IndentedBlock):
                raise ManualRegistrationNeeded(
                    reg, f"{reg.scope}() is written on one line"
                )
            statements = _insert_include(
                list(block.body), reg, module.config_for_parsing
            )
            if statements is None:
                raise ManualRegistrationNeeded(
                    reg, f"`{reg.receiver}` is not assigned directly in {reg.scope}()"
                )
            body[index] = stmt.with_changes(body=block.with_changes(body=statements))
            return module.with_changes(body=body)
    raise ManualRegistrationNeeded(reg, f"no top-level function {reg.scope}()")
