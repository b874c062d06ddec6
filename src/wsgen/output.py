"""Human-readable output with rich; imported only when a person is reading.

Every value that comes from the host project or a library (paths, routes,
dependency specs, notes, errors) goes through `escape`: rich would read
`uvicorn[standard]` as markup and print `uvicorn`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from wsgen.build.plan import Action, Group, Plan
from wsgen.commands.check import CheckReport

if TYPE_CHECKING:
    from wsgen.host.discover import Layout

ACTION_STYLE = {
    Action.CREATE: "green",
    Action.IDENTICAL: "dim",
    Action.UPDATE: "cyan",
    Action.EDIT: "yellow",
    Action.OVERWRITE: "magenta",
    Action.CONFLICT: "bold red",
    Action.DELETE: "red",
    Action.KEEP: "yellow",
    Action.MERGE: "cyan",
    Action.MERGE_CONFLICT: "bold red",
}


def colored_diff(diff: str) -> Text:
    # Plain styles instead of rich.syntax: pygments alone costs 60 ms.
    text = Text()
    for line in diff.splitlines(keepends=True):
        style = ""
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        text.append(line, style=style)
    return text


# Wide enough for any line, small enough that nothing sized by the width
# (none of what we print is) could be a problem.
PIPED_WIDTH = 1_000_000


def console(stderr: bool = False) -> Console:
    out = Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)
    if not out.is_terminal:
        # Piped into a file or a CI log: whole lines. rich would otherwise
        # lay the plan's tree out in 80 columns and cut what is longer.
        out.width = PIPED_WIDTH
    return out


def print_plan(plan: Plan, *, dry_run: bool) -> None:
    out = console()
    layout = plan.layout
    title = f"[bold]{escape(plan.endpoint)}[/] at [bold]{escape(plan.url_path)}[/]"
    if layout:
        title += escape(
            f" (app {layout['app']}, router included in {layout['register_file']})"
        )
    tree = Tree(("Plan: " if dry_run else "") + title)
    groups: dict[str, Tree] = {}
    base = [c for c in plan.changes if c.group == Group.BASE]
    for change in plan.changes:
        if change.group == Group.BASE:
            continue  # an earlier version's copies: one summary line below
        if change.group not in groups:
            groups[change.group] = tree.add(f"[bold]{escape(change.group)}[/]")
        node = groups[change.group]
        style = ACTION_STYLE.get(change.action, "")
        reason = f"  [dim]({escape(change.reason)})[/]" if change.reason else ""
        node.add(f"[{style}]{change.action:<9}[/] {escape(change.path)}{reason}")
    if base:
        tree.add(
            f"[bold]base[/] [dim].wsgen/base/: {len(base)} copies left by an"
            " earlier wsgen removed (no longer needed)[/]"
        )
    out.print(tree)
    for change in plan.changes:
        if change.group == Group.BASE:
            continue
        if change.group in (
            Group.REGISTRATION,
            Group.DEPENDENCIES,
        ) or change.action in (
            Action.CONFLICT,
            Action.MERGE,
            Action.MERGE_CONFLICT,
        ):
            diff = change.diff()
            if diff:
                out.print(colored_diff(diff))
    if plan.dependencies_added:
        out.print(escape("dependencies added: " + ", ".join(plan.dependencies_added)))
    for note in plan.notes:
        out.print(f"[dim]note:[/] {escape(note)}")
    for warning in plan.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}")


def print_applied(
    plan: Plan,
    verify: dict[str, Any] | None,
    tests_path: str,
    *,
    serve: str | None = None,
) -> None:
    out = console()
    written = len(plan.writes)
    if written == 0:
        out.print("[green]Nothing to change:[/] everything is already in place.")
    else:
        out.print(f"[green]Done:[/] wrote {written} file(s).")
    if verify is not None:
        verb = "Imported with" if verify.get("ok") else "Tried with"
        used = Text(f"{verb} {verify['python']} ({verify['python_from']}).")
        if verify.get("installed"):
            out.print(Text(f"Installed: {verify['installed']}"))
        if verify.get("ok"):
            route = escape(str(verify["route"]))
            out.print(
                f"[green]Verified:[/] the app serves a WebSocket route at {route}."
            )
            out.print(used)
        else:
            out.print(
                Text("Verification failed: ", style="red") + Text(verify["error"])
            )
            out.print(used)
            if verify.get("missing"):
                out.print(Text("Missing: " + " ".join(verify["missing"])))
            # A failed verification ends with what to do about it.
            out.print(Text(verify["next"]))
            return
    out.print(Text(f"Next: run `python -m pytest {tests_path}`."))
    if serve:
        # Only a protocol below ASGI can drop the TCP connection of a client
        # that stopped reading, or take a frame built once for a whole room
        # (README: "Serving it").
        out.print(
            Text(
                f"Serve with `{serve}`: room messages framed once, "
                "clients that stop reading disconnected."
            )
        )


def accelerated_serve_command(layout: Layout) -> str:
    """The complete uvicorn command that serves the host's app with the
    runtime's protocol: its module, ``--factory`` and ``--app-dir`` as
    the app needs them."""
    app = layout.app
    words = ["uvicorn", f"{app.module}:{app.export}"]
    if app.export_is_factory:
        words.append("--factory")
    if layout.import_root != ".":
        words += ["--app-dir", layout.import_root]
    words += ["--ws", f"{layout.runtime_module}.uvicorn_protocol:WebSocketProtocol"]
    return " ".join(words)


def print_check(report: CheckReport) -> None:
    out = console()
    if not report.findings:
        out.print(
            f"[green]OK:[/] {len(report.endpoints)} endpoint(s), "
            f"{report.files_checked} generated file(s) as generated (or accepted) "
            "and registered."
        )
        return
    for finding in report.findings:
        who = f" ({finding.endpoint})" if finding.endpoint else ""
        text = escape(f"{finding.path}{who}: {finding.detail}")
        out.print(f"[red]{escape(finding.kind)}:[/] {text}")
