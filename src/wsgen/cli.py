"""The `wsgen` command line: parse, call, print.

`wsgen chat --auth` means `wsgen new chat --auth`: generating is the default
command, so a first argument that is not a subcommand is routed to `new`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from wsgen import __version__
from wsgen.errors import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, UsageError, WsgenError

# "\b" keeps click from re-wrapping the next paragraph: one example a line.
HELP = """Generate production-grade WebSocket endpoints into an existing FastAPI project.

\b
  wsgen chat --auth --rooms --broadcast  generate the `chat` endpoint
  wsgen check                            verify generated files (for CI)
  wsgen list                             endpoints generated here
  wsgen destroy chat                     undo a generation exactly
  wsgen upgrade chat [--auth ...]        re-render, merging your edits
  wsgen install-command                  add the /ws command for agents

Exit codes: 0 done, 1 refused (conflict, unsafe edit, nothing to edit),
2 usage error; `check` adds 3 missing, 4 unregistered, 5 edited, 6 stale.
"""

cli = typer.Typer(
    help=HELP,
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
COMMANDS = ("new", "check", "list", "destroy", "upgrade", "install-command")


def _project_option() -> Any:
    # Every command takes the same --project.
    return typer.Option(
        None, "--project", "-p", help="The FastAPI project folder (default: .)."
    )


def _template_option() -> Any:
    # `new` and `upgrade` take the same --template and --vcs-ref.
    return typer.Option(
        None,
        "--template",
        help="A copier template (folder or git URL) for the endpoint's files.",
    )


def _vcs_ref_option() -> Any:
    return typer.Option(
        None,
        "--vcs-ref",
        help="With --template: the git tag or commit (default: the newest tag).",
    )


def _name_argument(help: str) -> Any:
    # Optional for click, checked by _required_name: a required argument
    # makes some typer releases print a backslash before "[required]" in help.
    return typer.Argument(None, metavar="NAME", show_default=False, help=help)


def _required_name(name: str | None, command: str) -> str:
    if name is None:
        raise UsageError(
            "Missing the endpoint name.", hint=f"Run e.g. `wsgen {command} chat`."
        )
    return name


def _version(value: bool) -> None:
    if value:
        print(f"wsgen {__version__}")
        raise typer.Exit(EXIT_OK)


@cli.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Generate production-grade WebSocket endpoints into an existing FastAPI project."""


def _fail(error: WsgenError, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"error": error.one_line(), "exit_code": error.exit_code}))
    print(f"wsgen: error: {error.one_line()}", file=sys.stderr)
    raise typer.Exit(error.exit_code)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _check_before_asking(
    name: str | None, project: Path | None, app_ref: str | None
) -> None:
    """Refuse, before the first question, what no answer can change: a bad
    name given on the command line, a project without one clear app."""
    from wsgen.discover import find_app
    from wsgen.generate import project_root
    from wsgen.projectconfig import load_config
    from wsgen.scan import scan_project
    from wsgen.spec import normalize_name

    if name is not None:
        normalize_name(name)
    root = project_root(project)
    find_app(scan_project(root), load_config(root), app_ref)


def _ask(name: str | None) -> dict[str, Any]:
    """The questions the seed asked a person before writing an endpoint."""
    from rich.prompt import Confirm, Prompt

    answers: dict[str, Any] = {}
    answers["name"] = name or Prompt.ask("Endpoint name (e.g. chat, notifications)")
    answers["auth"] = Confirm.ask("Require a JWT to connect?", default=True)
    answers["rooms"] = Confirm.ask(
        "Support rooms (join/leave, presence)?", default=True
    )
    answers["broadcast"] = Confirm.ask("Broadcast to every connection?", default=False)
    extra = Prompt.ask(
        "Extra message types (space-separated, empty for none)", default=""
    )
    answers["message_types"] = extra.split()
    return answers


@cli.command("new")
def new(
    name: str | None = _name_argument(
        "Endpoint name, snake_case (live-updates -> live_updates)."
    ),
    auth: bool | None = typer.Option(
        None, "--auth/--no-auth", help="Require a JWT (pyjwt) to connect."
    ),
    rooms: bool | None = typer.Option(
        None, "--rooms/--no-rooms", help="Rooms with join/leave and presence."
    ),
    broadcast: bool | None = typer.Option(
        None,
        "--broadcast/--no-broadcast",
        help="Server-side broadcast to every connection.",
    ),
    message_type: list[str] = typer.Option(
        [], "--message-type", "-m", help="An extra client message type (repeatable)."
    ),
    path: str | None = typer.Option(
        None, "--path", help="URL path of the route (default /ws/NAME)."
    ),
    client: str | None = typer.Option(
        None,
        "--client",
        help="js, ts or none (default: js with --rooms or --broadcast, else none).",
    ),
    backend: str | None = typer.Option(
        None,
        "--backend",
        help="memory (one process, the default) or redis (several workers).",
    ),
    project: Path | None = _project_option(),
    app_ref: str | None = typer.Option(
        None, "--app", help="The app as MODULE:ATTR, e.g. app.main:app."
    ),
    jwt_settings: str | None = typer.Option(
        None,
        "--jwt-settings",
        help="The host's JWT settings object as MODULE:ATTR (default: discovered).",
    ),
    no_host_jwt: bool = typer.Option(
        False, "--no-host-jwt", help="Ignore the host's JWT settings: WS_JWT_* only."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan; write nothing."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the plan (and result) as JSON; never prompt."
    ),
    force: bool = typer.Option(
        False, "--force", help="Overwrite existing files that differ."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Never prompt; absent flags are off."
    ),
    no_verify: bool = typer.Option(
        False, "--no-verify", help="Skip importing the app to verify the route."
    ),
    template: str | None = _template_option(),
    vcs_ref: str | None = _vcs_ref_option(),
) -> None:
    """Generate a WebSocket endpoint (the default command: `wsgen NAME` works too)."""
    from wsgen.spec import normalize_jwt_settings

    try:
        no_flags = (
            auth is None and rooms is None and broadcast is None and not message_type
        )
        if not yes and not as_json and _interactive() and (name is None or no_flags):
            _check_before_asking(name, project, app_ref)
            answers = _ask(name)
            name, auth, rooms, broadcast = (
                answers["name"],
                answers["auth"],
                answers["rooms"],
                answers["broadcast"],
            )
            message_type = answers["message_types"]
        if name is None:
            raise UsageError(
                "Missing the endpoint name.",
                hint="Run e.g. `wsgen chat --auth --rooms`.",
            )
        _generate(
            name, bool(auth), bool(rooms), bool(broadcast), message_type, path, project, app_ref,
            dry_run=dry_run, as_json=as_json, force=force, yes=yes, verify=not no_verify,
            client=client, backend=backend,
            jwt_settings=normalize_jwt_settings(jwt_settings, not no_host_jwt),
            template=template, template_ref=vcs_ref,
        )  # fmt: skip
    except WsgenError as error:
        _fail(error, as_json)


def _generate(
    name: str,
    auth: bool,
    rooms: bool,
    broadcast: bool,
    message_types: list[str],
    path: str | None,
    project: Path | None,
    app_ref: str | None,
    *,
    dry_run: bool,
    as_json: bool,
    force: bool,
    yes: bool,
    verify: bool,
    client: str | None = None,
    merge: bool = False,
    backend: str | None = None,
    jwt_settings: str | None = None,
    template: str | None = None,
    template_ref: str | None = None,
) -> None:
    from wsgen.generate import build_generation, project_root
    from wsgen.plan import apply
    from wsgen.spec import build_spec

    if template is not None:
        from wsgen.copier_source import resolve_source

        template = resolve_source(template, template_ref, Path.cwd())
    elif template_ref is not None:
        raise UsageError("--vcs-ref needs --template.", hint="Add --template SOURCE.")

    spec = build_spec(
        name,
        auth=auth,
        rooms=rooms,
        broadcast=broadcast,
        message_types=message_types,
        path=path,
        client=client,
        backend=backend,
        jwt_settings=jwt_settings,
        template=template,
        template_ref=template_ref,
    )
    root = project_root(project)
    generation = build_generation(root, spec, app_ref=app_ref, force=force, merge=merge)
    plan = generation.plan
    if not as_json:
        from wsgen.output import print_plan

        print_plan(plan, dry_run=dry_run)
    if plan.conflicts and not dry_run:
        paths = ", ".join(c.path for c in plan.conflicts)
        error = WsgenError(
            f"{len(plan.conflicts)} file(s) exist and differ: {paths}.",
            hint="Nothing was written; re-run with --force to overwrite, or move them.",
        )
        if as_json:
            print(
                json.dumps(
                    {**plan.to_json(applied=False), "error": error.one_line()}, indent=2
                )
            )
            raise typer.Exit(EXIT_REFUSED)
        _fail(error, False)
    if dry_run:
        if as_json:
            print(json.dumps(plan.to_json(applied=False), indent=2))
        raise typer.Exit(EXIT_REFUSED if plan.conflicts else EXIT_OK)
    if not yes and not as_json and _interactive() and plan.writes:
        from rich.prompt import Confirm

        if not Confirm.ask("Apply this plan?", default=True):
            print("Nothing written.")
            raise typer.Exit(EXIT_OK)
    apply(root, plan)
    result = None
    if verify:
        from wsgen.verify import verify_route

        result = verify_route(generation.layout, spec.path)
    tests_path = next((c.path for c in plan.changes if c.group == "tests"), "tests")
    if as_json:
        print(json.dumps(plan.to_json(applied=True, verify=result), indent=2))
    else:
        from wsgen.output import print_applied

        print_applied(plan, result, tests_path, generation.layout.runtime_module)
    merge_conflicts = [c.path for c in plan.changes if c.action == "merge-conflict"]
    if merge_conflicts:
        print(
            f"wsgen: error: conflicts marked in {', '.join(merge_conflicts)}. "
            "Resolve the <<<<<<< blocks, then run `wsgen check`.",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_REFUSED)
    if result is not None and not result.get("ok"):
        raise typer.Exit(EXIT_REFUSED)


@cli.command("check")
def check(
    project: Path | None = _project_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check generated files: missing (3), unregistered (4), edited (5), stale (6)."""
    from wsgen.check import run_check
    from wsgen.generate import project_root

    try:
        report = run_check(project_root(project))
    except WsgenError as error:
        _fail(error, as_json)
        return
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        from wsgen.output import print_check

        print_check(report)
    raise typer.Exit(report.exit_code)


@cli.command("list")
def list_endpoints(
    project: Path | None = _project_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the endpoints as JSON."),
) -> None:
    """List the endpoints in the manifest, with their options and status."""
    from wsgen.check import run_check
    from wsgen.generate import project_root
    from wsgen.manifest import read_manifest

    try:
        root = project_root(project)
        manifest = read_manifest(root)
        if manifest is None:
            rows: list[dict[str, Any]] = []
        else:
            findings = run_check(root).findings
            rows = []
            for name, record in sorted(manifest.endpoints.items()):
                problems = sorted(
                    {f.kind for f in findings if f.endpoint in (name, None)}
                )
                rows.append({"name": name, **record.options, "files": sorted(record.files),
                             "status": ", ".join(problems) or "ok"})  # fmt: skip
    except WsgenError as error:
        _fail(error, as_json)
        return
    if as_json:
        print(json.dumps({"endpoints": rows}, indent=2))
        return
    if not rows:
        print("No endpoints generated here.")
        return
    for row in rows:
        flags = " ".join(f"--{k}" for k in ("auth", "rooms", "broadcast") if row.get(k))
        # Manifests written before url_path was recorded have the path only.
        url_path = row.get("url_path") or row["path"]
        print(f"{row['name']:<16} {url_path:<24} {flags:<28} {row['status']}")


@cli.command("destroy")
def destroy(
    name: str | None = _name_argument("The endpoint to remove."),
    project: Path | None = _project_option(),
    force: bool = typer.Option(
        False, "--force", help="Also remove generated files you have edited."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan; change nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Undo a generation: remove its files, registration and (last) runtime."""
    from wsgen.destroy import build_destroy
    from wsgen.generate import project_root
    from wsgen.plan import apply

    try:
        name = _required_name(name, "destroy")
        root = project_root(project)
        plan = build_destroy(root, name, force=force)
        if not as_json:
            from wsgen.output import print_plan

            print_plan(plan, dry_run=dry_run)
        if not dry_run:
            apply(root, plan)
    except WsgenError as error:
        _fail(error, as_json)
        return
    if as_json:
        print(json.dumps(plan.to_json(applied=not dry_run), indent=2))
    elif not dry_run:
        print(f"Removed {plan.endpoint}: {len(plan.writes)} change(s).")


@cli.command("upgrade")
def upgrade(
    name: str | None = _name_argument("The endpoint to re-render."),
    auth: bool | None = typer.Option(
        None, "--auth/--no-auth", help="Change: require a JWT."
    ),
    rooms: bool | None = typer.Option(
        None, "--rooms/--no-rooms", help="Change: rooms."
    ),
    broadcast: bool | None = typer.Option(
        None, "--broadcast/--no-broadcast", help="Change: broadcast."
    ),
    message_type: list[str] | None = typer.Option(
        None,
        "--message-type",
        "-m",
        help="Change: the extra message types (repeatable).",
    ),
    path: str | None = typer.Option(None, "--path", help="Change: the URL path."),
    client: str | None = typer.Option(None, "--client", help="Change: js, ts or none."),
    backend: str | None = typer.Option(
        None, "--backend", help="Change: memory or redis."
    ),
    project: Path | None = _project_option(),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan; write nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    no_verify: bool = typer.Option(
        False, "--no-verify", help="Skip verifying the route."
    ),
    template: str | None = _template_option(),
    vcs_ref: str | None = _vcs_ref_option(),
) -> None:
    """Re-render NAME with the current templates and its recorded options (or
    changed ones). Unedited files are replaced; edited files are merged three
    ways with what was generated before; conflicts are marked, exit code 1."""
    from wsgen.generate import project_root
    from wsgen.manifest import read_manifest

    try:
        name = _required_name(name, "upgrade")
        root = project_root(project)
        manifest = read_manifest(root)
        record = manifest.endpoints.get(name.replace("-", "_")) if manifest else None
        if record is None:
            known = ", ".join(sorted(manifest.endpoints)) if manifest else "none"
            raise UsageError(
                f"No endpoint {name!r} to upgrade (endpoints: {known}).",
                hint="Generate it first with `wsgen NAME`.",
            )
        options = record.options

        def pick(given: Any, key: str) -> Any:
            return options.get(key) if given is None else given

        _generate(
            record.name,
            bool(pick(auth, "auth")),
            bool(pick(rooms, "rooms")),
            bool(pick(broadcast, "broadcast")),
            list(pick(message_type or None, "message_types") or []),
            pick(path, "path"),
            project,
            options.get("app"),
            dry_run=dry_run, as_json=as_json, force=False, yes=True,
            verify=not no_verify, client=pick(client, "client"), merge=True,
            backend=pick(backend, "backend"),
            template=pick(template, "template"), template_ref=vcs_ref,
        )  # fmt: skip
    except WsgenError as error:
        _fail(error, as_json)


@cli.command("install-command")
def install_command(
    project: Path | None = _project_option(),
    force: bool = typer.Option(
        False, "--force", help="Replace a different existing command file."
    ),
) -> None:
    """Write .claude/commands/ws.md, a slash command that drives wsgen."""
    from wsgen.agent_command import build_install
    from wsgen.generate import project_root
    from wsgen.plan import apply

    try:
        root = project_root(project)
        plan = build_install(root, force=force)
        if plan.conflicts:
            raise WsgenError(
                f"{plan.conflicts[0].path} exists and differs.",
                hint="Re-run with --force to replace it.",
            )
        apply(root, plan)
    except WsgenError as error:
        _fail(error, False)
        return
    change = plan.changes[0]
    print(f"{change.action}: {change.path}")


def route_default_command(argv: list[str]) -> list[str]:
    """Insert `new` unless the first argument is a subcommand or a global flag."""
    if not argv:
        return ["new"] if _interactive() else ["--help"]
    first = argv[0]
    if first in COMMANDS or first in ("--help", "-h", "--version"):
        return argv
    return ["new", *argv]


def _click_exceptions() -> Any:
    """The exceptions module of the click that typer runs on: typer 0.26 and
    later carry their own copy (typer._click), earlier releases use click."""
    import importlib

    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:
        return importlib.import_module("click.exceptions")


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main(argv: list[str] | None = None) -> None:
    errors = _click_exceptions()
    args = route_default_command(list(sys.argv[1:] if argv is None else argv))
    command = typer.main.get_command(cli)
    # NoArgsIsHelpError appeared in click 8.2; with older ones nothing raises it.
    no_args_is_help = getattr(errors, "NoArgsIsHelpError", ())
    try:
        code = command.main(args=args, prog_name="wsgen", standalone_mode=False)
    except no_args_is_help as exc:
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        code = EXIT_USAGE
    except errors.UsageError as exc:
        message = _one_line(exc.format_message())
        print(f"wsgen: error: {message} (see `wsgen --help`)", file=sys.stderr)
        code = EXIT_USAGE
    except typer.Exit as exc:  # click's Exit in typer before 0.26
        code = exc.exit_code
    except typer.Abort:
        print("wsgen: aborted; nothing written.", file=sys.stderr)
        code = EXIT_REFUSED
    sys.exit(code if isinstance(code, int) else EXIT_OK)
