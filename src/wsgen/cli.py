"""The `wsgen` command line: parse, call, print.

`wsgen chat --auth` means `wsgen new chat --auth`: generating is the default
command, so a first argument that is not a subcommand is routed to `new`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from wsgen import __version__
from wsgen.errors import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    EXIT_VERIFY_MISSING,
    RefusedError,
    UsageError,
    WsgenError,
)

if TYPE_CHECKING:
    from wsgen.build.options import Choices, EndpointOptions
    from wsgen.build.plan import Plan

# "\b" keeps click from re-wrapping the next paragraph: one example a line.
HELP = """Generate production-grade WebSocket endpoints into an existing FastAPI project.

\b
  wsgen chat --auth --rooms --broadcast  generate the `chat` endpoint
  wsgen check                            verify generated files (for CI)
  wsgen list                             endpoints generated here
  wsgen destroy chat                     undo a generation exactly
  wsgen upgrade chat [--auth ...]        re-render, merging your edits
  wsgen install-command                  add the /ws skill for agents
  wsgen schema                           the JSON Schema of --json output

Exit codes: 0 done, 1 refused (conflict, unsafe edit, nothing to edit),
2 usage error; `check` adds 3 missing, 4 unregistered, 5 edited, 6 stale;
7 the app's Python lacks packages the endpoint needs (the command is printed).
"""

cli = typer.Typer(
    help=HELP,
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
COMMANDS = ("new", "check", "list", "destroy", "upgrade", "install-command", "schema")


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


def _expect_plan_option() -> Any:
    # `new`, `upgrade` and `destroy`: apply only the plan that was shown.
    return typer.Option(
        None,
        "--expect-plan",
        metavar="HASH",
        help="Apply only if the plan's plan_hash (from --dry-run --json) is HASH.",
    )


def _check_expected_plan(plan: Plan, expected: str | None) -> None:
    if expected is None:
        return
    actual = plan.plan_hash()
    if actual != expected.strip():
        raise RefusedError(
            f"The plan changed since it was shown (plan_hash {actual}, expected {expected.strip()}).",
            hint="Nothing was written; run with --dry-run --json again and review the new plan.",
            code="stale_plan",
        )


def _vcs_ref_option() -> Any:
    return typer.Option(
        None,
        "--vcs-ref",
        help="With --template: the git tag or commit (default: the newest tag).",
    )


def _install_option() -> Any:
    # `new` and `upgrade` verify, and so can install what verifying lacks.
    return typer.Option(
        False,
        "--install",
        help="When the app's Python lacks packages the endpoint needs, install "
        "them with the project's tool (uv, Poetry or pip) and verify again.",
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
        print(json.dumps(error.to_json()))
    print(f"wsgen: error: {error.one_line()}", file=sys.stderr)
    raise typer.Exit(error.exit_code)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _check_before_asking(
    name: str | None, project: Path | None, app_ref: str | None
) -> None:
    """Refuse, before the first question, what no answer can change: a bad
    name given on the command line, a project without one clear app."""
    from wsgen.build.spec import normalize_name
    from wsgen.commands.generate import project_root
    from wsgen.host.discover import find_app
    from wsgen.host.projectconfig import load_config
    from wsgen.host.sources import scan_project

    if name is not None:
        normalize_name(name)
    root = project_root(project)
    find_app(scan_project(root), load_config(root), app_ref)


def _recorded(project: Path | None, name: str) -> EndpointOptions | None:
    """The options the manifest records for the endpoint NAME, if any."""
    from wsgen.build.manifest import read_manifest
    from wsgen.build.options import EndpointOptions
    from wsgen.build.spec import normalize_name
    from wsgen.commands.generate import project_root

    snake = normalize_name(name)[0]  # a bad name is the first error
    manifest = read_manifest(project_root(project))
    record = manifest.endpoints.get(snake) if manifest else None
    return EndpointOptions.from_record(record.options) if record else None


def _ask(name: str | None, given: Choices, project: Path | None) -> tuple[str, Choices]:
    """The questions asked before writing an endpoint; each answer defaults
    to the endpoint's recorded option, or for a new one to the default
    `--yes` takes too."""
    from dataclasses import replace

    from rich.prompt import Confirm, Prompt

    from wsgen.build.options import DEFAULTS

    name = name or Prompt.ask("Endpoint name (e.g. chat, notifications)")
    start = _recorded(project, name) or DEFAULTS
    auth = Confirm.ask("Require a JWT to connect?", default=start.auth)
    rooms = Confirm.ask("Support rooms (join/leave, presence)?", default=start.rooms)
    broadcast = Confirm.ask("Broadcast to every connection?", default=start.broadcast)
    extra = Prompt.ask(
        "Extra message types (space-separated, empty for none)",
        default=" ".join(start.message_types),
    )
    answers = replace(
        given,
        auth=auth,
        rooms=rooms,
        broadcast=broadcast,
        message_types=tuple(extra.split()),
    )
    return name, answers


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
    accelerator: str | None = typer.Option(
        None,
        "--accelerator",
        help="uvicorn: also write the runtime's uvicorn protocol (opt-in).",
    ),
    asyncapi: bool | None = typer.Option(
        None,
        "--asyncapi/--no-asyncapi",
        help="Write the endpoint's AsyncAPI 3.0 document (kept fresh by check).",
    ),
    recover: bool | None = typer.Option(
        None,
        "--recover/--no-recover",
        help="Keep room history: clients rejoining with `since` get what they missed.",
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
    auth_with: str | None = typer.Option(
        None,
        "--auth-with",
        help="Check tokens with your own function, MODULE:FUNC (implies --auth;"
        " none: wsgen's JWT checks).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan; write nothing."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the plan (and result) as JSON; never prompt."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Overwrite existing files that differ; take authentication away"
        " without a question.",
    ),
    yes: bool = typer.Option(
        False,
        "--yes",
        "-y",
        help="Never prompt; options not given keep the endpoint's recorded ones"
        " (a new endpoint: the defaults).",
    ),
    no_verify: bool = typer.Option(
        False, "--no-verify", help="Skip importing the app to verify the route."
    ),
    install: bool = _install_option(),
    template: str | None = _template_option(),
    vcs_ref: str | None = _vcs_ref_option(),
    expect_plan: str | None = _expect_plan_option(),
) -> None:
    """Generate a WebSocket endpoint (the default command: `wsgen NAME` works too)."""
    from wsgen.build.options import Choices
    from wsgen.build.spec import normalize_jwt_settings

    try:
        if auth is None and auth_with not in (None, "none"):
            auth = True  # a token check of the host's is authentication
        given = Choices(
            auth=auth, rooms=rooms, broadcast=broadcast, auth_with=auth_with,
            message_types=tuple(message_type) or None, path=path, client=client,
            backend=backend, template=template, app=app_ref, accelerator=accelerator,
            asyncapi=asyncapi, recover=recover,
        )  # fmt: skip
        if (
            not yes
            and not as_json
            and _interactive()
            and (name is None or not given.features_given)
        ):
            _check_before_asking(name, project, app_ref)
            name, given = _ask(name, given, project)
        if name is None:
            raise UsageError(
                "Missing the endpoint name.",
                hint="Run e.g. `wsgen chat --auth --rooms`.",
            )
        _generate(
            name, given, project, dry_run=dry_run, as_json=as_json, force=force,
            yes=yes, verify=not no_verify,
            jwt_settings=normalize_jwt_settings(jwt_settings, not no_host_jwt),
            template_ref=vcs_ref, install=install, expect_plan=expect_plan,
        )  # fmt: skip
    except WsgenError as error:
        _fail(error, as_json)


def _generate(
    name: str,
    given: Choices,
    project: Path | None,
    *,
    dry_run: bool,
    as_json: bool,
    force: bool,
    yes: bool,
    verify: bool,
    merge: bool = False,
    jwt_settings: str | None = None,
    template_ref: str | None = None,
    install: bool = False,
    remove_auth: bool | None = None,
    expect_plan: str | None = None,
) -> None:
    """Generate NAME: options not given keep the endpoint's recorded ones (or
    the defaults); without a question to ask, taking authentication away
    needs `remove_auth` (default: `force`)."""
    from wsgen.build.options import DEFAULTS
    from wsgen.build.plan import apply
    from wsgen.build.spec import build_spec
    from wsgen.commands.generate import build_generation, project_root

    if install and not verify:
        raise UsageError(
            "--install installs what verifying finds missing; --no-verify skips it.",
            hint="Drop one of the two.",
        )
    recorded = _recorded(project, name)
    chosen = given.over(recorded or DEFAULTS)
    template = chosen.template
    if template is not None:
        from wsgen.build.copier_source import resolve_source

        template = resolve_source(template, template_ref, Path.cwd())
    elif template_ref is not None:
        raise UsageError("--vcs-ref needs --template.", hint="Add --template SOURCE.")

    spec = build_spec(
        name,
        auth=chosen.auth,
        rooms=chosen.rooms,
        broadcast=chosen.broadcast,
        message_types=chosen.message_types,
        path=chosen.path,
        client=chosen.client,
        backend=chosen.backend,
        jwt_settings=jwt_settings,
        template=template,
        template_ref=template_ref,
        accelerator=chosen.accelerator,
        asyncapi=chosen.asyncapi,
        auth_with=chosen.auth_with,
        recover=chosen.recover,
    )
    root = project_root(project)
    generation = build_generation(
        root, spec, app_ref=chosen.app, force=force, merge=merge
    )
    plan = generation.plan
    kept = given.kept(recorded) if recorded is not None else []
    if kept:
        flags = " ".join(flag for flag, _ in kept)
        offs = ", ".join(off for _, off in kept if off)
        off = f"; to turn off: {offs}" if offs else ""
        plan.notes.append(
            f"{spec.name!r} keeps {flags} from .wsgen.toml (not given{off})"
        )
    removes_auth = recorded is not None and recorded.auth and not spec.auth
    if removes_auth:
        plan.warnings.append(
            f"this removes authentication from {spec.name!r}: any client can connect"
            " (keep it with --auth)"
        )
    asks = not yes and not as_json and _interactive()
    if not dry_run:
        _check_expected_plan(plan, expect_plan)
    if not as_json:
        from wsgen.output import print_plan

        print_plan(plan, dry_run=dry_run)
    if plan.conflicts and not dry_run:
        paths = ", ".join(c.path for c in plan.conflicts)
        error = WsgenError(
            f"{len(plan.conflicts)} file(s) exist and differ: {paths}.",
            hint="Nothing was written; re-run with --force to overwrite, or move them.",
            code="conflict",
        )
        if as_json:
            print(
                json.dumps({**plan.to_json(applied=False), **error.to_json()}, indent=2)
            )
            print(f"wsgen: error: {error.one_line()}", file=sys.stderr)
            raise typer.Exit(EXIT_REFUSED)
        _fail(error, False)
    if dry_run:
        if as_json:
            print(json.dumps(plan.to_json(applied=False), indent=2))
        raise typer.Exit(EXIT_REFUSED if plan.conflicts else EXIT_OK)
    if (
        removes_auth
        and not asks
        and not (force if remove_auth is None else remove_auth)
    ):
        raise RefusedError(
            f"This run removes authentication from the endpoint {spec.name!r}.",
            hint="Nothing was written; add --force to remove it, or keep it with --auth.",
        )
    if asks and plan.writes:
        from rich.prompt import Confirm

        if not Confirm.ask("Apply this plan?", default=not removes_auth):
            print("Nothing written.")
            raise typer.Exit(EXIT_OK)
    apply(root, plan)
    result = _verify(generation.layout, spec, install) if verify else None
    from wsgen.build.plan import Group

    tests = [c.path for c in plan.changes if c.group == Group.TESTS]
    tests_path = tests[0] if tests else "tests"
    refusal = _applied_refusal(plan, result)
    if as_json:
        report = plan.to_json(applied=True, verify=result)
        if refusal is not None:
            report.update(refusal.to_json())
        print(json.dumps(report, indent=2))
    else:
        from wsgen.output import accelerated_serve_command, print_applied

        accelerated = spec.accelerator == "uvicorn"
        serve = accelerated_serve_command(generation.layout) if accelerated else None
        print_applied(plan, result, tests_path, serve=serve)
    if refusal is not None:
        # The text report already said why, and what to do next.
        if as_json or refusal.code == "merge_conflict":
            print(f"wsgen: error: {refusal.one_line()}", file=sys.stderr)
        elif result is not None and not result.get("ok"):
            print(f"wsgen: error: {result['error']}. {result['next']}", file=sys.stderr)
        raise typer.Exit(refusal.exit_code)


def _verify(layout: Any, spec: Any, install: bool) -> dict[str, Any]:
    """Import the app with the host's Python; with --install, install what
    it lacks with the host's tool and verify again."""
    from wsgen.build import features
    from wsgen.commands.generate import spec_options
    from wsgen.host.probe import run_install, verify_route

    requirements = features.requirements(features.features_of(spec_options(spec)))
    result = verify_route(layout, spec.path, requirements, name=spec.name)
    if install and result.get("install_argv"):
        command = result["install"]
        failed = run_install(result["install_argv"], layout.root)
        if failed is None:
            result = verify_route(layout, spec.path, requirements, name=spec.name)
            result["installed"] = command
        else:
            result["error"] += f"; {failed}"
    result.pop("install_argv", None)
    return result


def _applied_refusal(plan: Plan, verify: dict[str, Any] | None) -> WsgenError | None:
    """Why an applied run still ends in a non-zero exit, for the JSON report."""
    from wsgen.build.plan import Action

    marked = [c.path for c in plan.changes if c.action == Action.MERGE_CONFLICT]
    if marked:
        return WsgenError(
            f"conflicts marked in {', '.join(marked)}.",
            hint="Resolve the <<<<<<< blocks, then run `wsgen check`.",
            code="merge_conflict",
        )
    if verify is not None and not verify.get("ok"):
        missing = bool(verify.get("missing"))
        error = WsgenError(
            f"Verification failed: {verify.get('error')}.",
            hint=verify.get("next") or "The files were written; see `verify`.",
            code="missing_dependencies" if missing else "verify_failed",
        )
        error.exit_code = EXIT_VERIFY_MISSING if missing else EXIT_REFUSED
        return error
    return None


@cli.command("check")
def check(
    project: Path | None = _project_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    accept: list[str] = typer.Option(
        [],
        "--accept",
        metavar="FILE",
        help="Keep your edit of this generated runtime file: its hash is recorded "
        "in .wsgen.toml, and check passes (repeatable).",
    ),
) -> None:
    """Check generated files: missing (3), unregistered (4), edited (5), stale (6).
    Your route module may be edited freely: it must exist, parse and be registered."""
    from wsgen.commands.check import accept as accept_files
    from wsgen.commands.check import next_step, run_check
    from wsgen.commands.generate import project_root

    try:
        root = project_root(project)
        accepted = accept_files(root, accept, Path.cwd()) if accept else []
        report = run_check(root)
    except WsgenError as error:
        _fail(error, as_json)
        return
    if as_json:
        print(json.dumps({**report.to_json(), "accepted": accepted}, indent=2))
    else:
        from wsgen.output import print_check

        for path in accepted:
            print(f"Accepted: {path} (its hash is recorded in .wsgen.toml).")
        print_check(report)
    if report.findings:
        # A CI log ends with what to do about it.
        print(
            f"wsgen: error: check found {len(report.findings)} problem(s). "
            f"{next_step(report)}",
            file=sys.stderr,
        )
    raise typer.Exit(report.exit_code)


@cli.command("list")
def list_endpoints(
    project: Path | None = _project_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the endpoints as JSON."),
) -> None:
    """List the endpoints in the manifest, with their options and status."""
    from wsgen.build.manifest import read_manifest
    from wsgen.commands.check import run_check
    from wsgen.commands.generate import project_root

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
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask before removing (a terminal asks)."
    ),
    expect_plan: str | None = _expect_plan_option(),
) -> None:
    """Undo a generation: remove its files, registration and (last) runtime."""
    from wsgen.build.plan import apply
    from wsgen.commands.destroy import build_destroy
    from wsgen.commands.generate import project_root

    try:
        name = _required_name(name, "destroy")
        root = project_root(project)
        plan = build_destroy(root, name, force=force)
        if not dry_run:
            _check_expected_plan(plan, expect_plan)
        if not as_json:
            from wsgen.output import print_plan

            print_plan(plan, dry_run=dry_run)
        if not dry_run and not yes and not as_json and _interactive():
            from rich.prompt import Confirm

            if not Confirm.ask(f"Remove {plan.endpoint}?", default=False):
                print("Nothing changed.")
                raise typer.Exit(EXIT_OK)
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
    accelerator: str | None = typer.Option(
        None, "--accelerator", help="Change: uvicorn or none."
    ),
    asyncapi: bool | None = typer.Option(
        None, "--asyncapi/--no-asyncapi", help="Change: the AsyncAPI document."
    ),
    recover: bool | None = typer.Option(
        None, "--recover/--no-recover", help="Change: room history and rejoin."
    ),
    project: Path | None = _project_option(),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan; write nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Never prompt."),
    force: bool = typer.Option(
        False, "--force", help="With --no-auth: take authentication away, no question."
    ),
    no_verify: bool = typer.Option(
        False, "--no-verify", help="Skip verifying the route."
    ),
    install: bool = _install_option(),
    template: str | None = _template_option(),
    vcs_ref: str | None = _vcs_ref_option(),
    expect_plan: str | None = _expect_plan_option(),
) -> None:
    """Re-render NAME with the current templates and its recorded options (or
    changed ones). Unedited files are replaced; edited files are merged three
    ways with what was generated before; conflicts are marked, exit code 1."""
    from wsgen.build.manifest import read_manifest
    from wsgen.commands.generate import project_root

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
                code="unknown_endpoint",
            )
        from wsgen.build.options import Choices

        given = Choices(
            auth=auth, rooms=rooms, broadcast=broadcast,
            message_types=tuple(message_type) if message_type else None,
            path=path, client=client, backend=backend, template=template,
            accelerator=accelerator, asyncapi=asyncapi, recover=recover,
        )  # fmt: skip
        _generate(
            record.name, given, project, dry_run=dry_run, as_json=as_json,
            force=False, yes=yes, verify=not no_verify, merge=True,
            template_ref=vcs_ref, remove_auth=force, install=install,
            expect_plan=expect_plan,
        )  # fmt: skip
    except WsgenError as error:
        _fail(error, as_json)


@cli.command("install-command")
def install_command(
    project: Path | None = _project_option(),
    agents_md: bool = typer.Option(
        False,
        "--agents-md",
        help="Also write the steps into AGENTS.md, between markers.",
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask before writing (a terminal asks)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace a skill (or AGENTS.md section) edited by hand."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Write .claude/skills/ws/SKILL.md, the /ws skill that drives wsgen."""
    from wsgen.build.plan import apply
    from wsgen.commands.generate import project_root
    from wsgen.commands.install_command import build_install

    try:
        root = project_root(project)
        plan = build_install(root, force=force, agents_md=agents_md)
        if plan.conflicts:
            paths = ", ".join(f"{c.path} ({c.reason})" for c in plan.conflicts)
            error = RefusedError(
                f"{paths} differs from what wsgen wrote.",
                hint="Nothing was written; re-run with --force to replace it.",
                code="conflict",
            )
            if as_json:
                print(json.dumps({**plan.to_json(applied=False), **error.to_json()}))
            print(f"wsgen: error: {error.one_line()}", file=sys.stderr)
            raise typer.Exit(error.exit_code)
        if plan.writes and not yes and not as_json and _interactive():
            from rich.prompt import Confirm

            paths = ", ".join(c.path for c in plan.writes)
            if not Confirm.ask(f"Write {paths}?", default=True):
                print("Nothing written.")
                raise typer.Exit(EXIT_OK)
        apply(root, plan)
    except WsgenError as error:
        _fail(error, as_json)
        return
    if as_json:
        print(json.dumps(plan.to_json(applied=True), indent=2))
        return
    for change in plan.changes:
        print(f"{change.action}: {change.path}")
    for warning in plan.warnings:
        print(f"warning: {warning}")


@cli.command("schema")
def schema() -> None:
    """Print the JSON Schema of every --json output: plans, results, check, list, errors."""
    from wsgen.outputschema import schema_text

    sys.stdout.write(schema_text())


def route_default_command(argv: list[str]) -> list[str]:
    """Insert `new` unless the first argument is a subcommand or a global flag."""
    if not argv:
        return ["new"] if _interactive() else ["--help"]
    first = argv[0]
    if first in COMMANDS or first in ("--help", "-h", "--version"):
        return argv
    return ["new", *argv]


def _wants_json(args: list[str]) -> bool:
    """`--json` among the options, so that even a flag error is JSON."""
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options


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
        error = UsageError(f"{_one_line(exc.format_message())} (see `wsgen --help`)")
        if _wants_json(args):
            print(json.dumps(error.to_json()))
        print(f"wsgen: error: {error.one_line()}", file=sys.stderr)
        code = EXIT_USAGE
    except typer.Exit as exc:  # click's Exit in typer before 0.26
        code = exc.exit_code
    except typer.Abort:
        if _wants_json(args):
            aborted = RefusedError("aborted; nothing written.", code="aborted")
            print(json.dumps(aborted.to_json()))
        print("wsgen: aborted; nothing written.", file=sys.stderr)
        code = EXIT_REFUSED
    sys.exit(code if isinstance(code, int) else EXIT_OK)
