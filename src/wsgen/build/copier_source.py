"""`--template SOURCE`: an endpoint's files rendered by a copier template.

copier renders into a temporary folder, never into the project. What it
wrote there, its answers file included, comes back as ordinary rendered
files, so the plan, conflicts, the atomic apply, the manifest, `check` and
`destroy` treat them exactly like the files of wsgen's own templates.

copier is optional and heavy: it is imported only when a run uses
`--template`, never by the modules `wsgen --help` loads.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsgen.build.plan import Group
from wsgen.build.render import RenderedFile
from wsgen.errors import (
    TemplateRefusedError,
    TemplateUsageError,
    WsgenError,
    require_folder,
)

CONFIG_NAMES = ("copier.yml", "copier.yaml")
INSTALL_HINT = "Install it with `pip install 'wsgen[copier]'`."
# Folders and files no template may write: wsgen's own records and git's.
FORBIDDEN_TOP = (".git", ".wsgen", ".wsgen.toml")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REQUIRED = re.compile(r'Question "([^"]+)" is required')


@dataclass(frozen=True)
class TemplateOutput:
    files: list[RenderedFile]
    notes: list[str]


def answers_file(name: str) -> str:
    """One answers file per endpoint, so several endpoints can share a template."""
    return f".copier-answers.wsgen-{name}.yml"


def is_remote(source: str) -> bool:
    return bool(_SCHEME.match(source)) or source.startswith(("git@", "gh:", "gl:"))


def resolve_source(raw: str, ref: str | None, cwd: Path) -> str:
    """The template as copier is to read it: a git URL, or an absolute folder.

    copier takes a `scheme://` URL for a git repository only with a `git+`
    prefix (or a `.git` suffix); without one it reads the URL as a local
    path. The prefix is added here, and kept in the answers file, so that
    `copier update` reads the same repository.
    """
    require_copier()
    source = raw.strip()
    if not source:
        raise TemplateUsageError(
            "--template is empty.", hint="Give a copier template folder or git URL."
        )
    if ref is not None and not ref.strip():
        raise TemplateUsageError(
            "--vcs-ref is empty.", hint="Give a git tag or commit."
        )
    if is_remote(source):
        if _SCHEME.match(source) and not source.startswith(("git+", "git://")):
            source = "git+" + source
        return source
    folder = (cwd / Path(source).expanduser()).resolve()
    require_folder(
        folder,
        f"--template {raw}",
        missing="Give a copier template folder or a git URL.",
        is_file="Give the folder that holds copier.yml.",
        code="template",
    )
    if not any((folder / name).is_file() for name in CONFIG_NAMES):
        raise TemplateUsageError(
            f"--template {raw} is not a copier template (no copier.yml or copier.yaml).",
            hint="Give the folder that holds the template's copier.yml.",
        )
    return folder.as_posix()


def require_copier() -> None:
    try:
        import copier  # noqa: F401
    except ImportError:
        raise TemplateUsageError(
            "--template needs copier, which is not installed.", hint=INSTALL_HINT
        ) from None


def render(source: str, ref: str | None, context: dict[str, Any]) -> TemplateOutput:
    """Run copier on `source` with wsgen's template variables as answers."""
    import copier

    name = str(context["name"])
    answers = answers_file(name)
    # Not the user's copier settings: their trust list must not let tasks
    # run (they would act on the temporary folder), and defaults from one
    # machine must not change what another renders.
    settings = getattr(copier, "Settings", None)
    extra: dict[str, Any] = {} if settings is None else {"settings": settings()}
    sink = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="wsgen-copier-") as tmp:
        out = Path(tmp) / "out"
        # copier prints some notices even when quiet; they become plan notes.
        with (
            warnings.catch_warnings(record=True) as caught,
            redirect_stdout(sink),
            redirect_stderr(sink),
        ):
            warnings.simplefilter("always")
            try:
                copier.run_copy(
                    source,
                    out,
                    data=dict(context),
                    answers_file=answers,
                    vcs_ref=ref,
                    defaults=True,
                    overwrite=True,
                    quiet=True,
                    unsafe=False,
                    **extra,
                )
            except Exception as exc:  # noqa: BLE001 - every failure: one line
                raise translate(exc, source) from None
        files = collect(out, str(context["tests_dir"]), source)
    route_file = f"{context['routes_dir']}/{name}.py"
    check_output(files, source, answers, route_file)
    notes = [
        f"endpoint files from the copier template {source}"
        + (f" at {ref}" if ref else "")
    ]
    notes += _notes(sink.getvalue(), [str(w.message) for w in caught])
    return TemplateOutput(files, notes)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines()]
    line = next((line for line in lines if line), "")
    return line if len(line) <= 240 else line[:237] + "..."


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _notes(printed: str, warned: list[str]) -> list[str]:
    lines = [_first_line(line) for line in printed.splitlines()]
    lines += [_first_line(message) for message in warned]
    seen: list[str] = []
    for line in lines:
        if line and line not in seen:
            seen.append(line)
    return [f"copier: {line}" for line in seen]


def translate(exc: BaseException, source: str) -> WsgenError:
    """A copier (or git, or jinja) failure as one line and an exit code.

    Matched by class name so that this stays a pure function, testable
    without copier.
    """
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    text = _first_line(str(exc))
    where = f"--template {source}"
    if "UnsafeTemplateError" in kinds:
        features = text.split(":", 1)[-1].strip().rstrip(".")
        return TemplateUsageError(
            f"{where} needs copier's unsafe features ({features}), which wsgen never runs.",
            hint="Remove them from the template (wsgen renders into a temporary"
            " folder); nothing was written.",
        )
    if "ForbiddenPathError" in kinds:
        return TemplateRefusedError(
            f"{where} renders a path outside the project ({text}).",
            hint="Nothing was written; fix the template's file names.",
        )
    if "ProcessExecutionError" in kinds:
        stderr = str(getattr(exc, "stderr", "") or "")
        fatal = [line for line in stderr.splitlines() if "fatal:" in line]
        detail = _first_line(fatal[0] if fatal else stderr) or text
        detail = detail.split("fatal:", 1)[-1].strip()
        return TemplateUsageError(
            f"{where}: git cannot fetch it ({detail}).",
            hint="Check the URL and --vcs-ref; nothing was written.",
        )
    if "ConfigFileError" in kinds:
        return TemplateUsageError(
            f"{where}: its copier.yml is not valid.",
            hint="Fix the YAML (`copier copy` shows the details).",
        )
    if "TemplateError" in kinds:
        return TemplateUsageError(
            f"{where}: template error: {_sentence(text)}",
            hint="Fix the template; nothing was written.",
        )
    required = _REQUIRED.search(text)
    if required:
        return TemplateUsageError(
            f"{where} asks {required.group(1)!r}, which wsgen does not answer.",
            hint="Give that question a default in copier.yml.",
        )
    if "Unknown revision" in text:
        return TemplateUsageError(
            f"{where}: {_sentence(text)}",
            hint="Give a tag or commit of the template with --vcs-ref.",
        )
    if "CopierError" in kinds or "ValueError" in kinds:
        return TemplateUsageError(
            f"{where}: {_sentence(text)}", hint="Nothing was written."
        )
    return TemplateUsageError(
        f"{where}: copier failed ({type(exc).__name__}: {text}).",
        hint="Nothing was written.",
    )


def collect(out: Path, tests_dir: str, source: str) -> list[RenderedFile]:
    """The files copier wrote under `out`, as paths relative to the project."""
    files: list[RenderedFile] = []
    if not out.is_dir():
        return files
    for dirpath, dirnames, filenames in os.walk(out):
        here = Path(dirpath)
        for entry in sorted(dirnames) + sorted(filenames):
            path = here / entry
            rel = path.relative_to(out).as_posix()
            if rel.split("/")[0] in FORBIDDEN_TOP:
                raise TemplateRefusedError(
                    f"--template {source} writes {rel}, which belongs to wsgen or git.",
                    hint="Nothing was written; remove it from the template.",
                )
            if path.is_symlink():
                raise TemplateRefusedError(
                    f"--template {source} renders a symbolic link, {rel}.",
                    hint="wsgen writes regular files only; nothing was written.",
                )
            if entry in dirnames:
                continue  # folders come with their files; empty ones are dropped
            try:
                text = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                raise TemplateUsageError(
                    f"--template {source} renders {rel}, which is not UTF-8 text.",
                    hint="wsgen generates text files only; nothing was written.",
                ) from None
            in_tests = rel.startswith(tests_dir.rstrip("/") + "/")
            group = Group.TESTS if in_tests else Group.ENDPOINT
            files.append(RenderedFile(rel, text, group))
    return sorted(files, key=lambda item: item.path)


def check_output(
    files: list[RenderedFile], source: str, answers: str, route_file: str
) -> None:
    """The two files the contract asks for: the answers file and the route."""
    paths = {item.path for item in files}
    if answers not in paths:
        raise TemplateUsageError(
            f"--template {source} writes no copier answers file, so `copier update` could not work.",
            hint="Add the file `{{ _copier_conf.answers_file }}.jinja` containing"
            " `{{ _copier_answers|to_nice_yaml }}` to the template.",
        )
    if route_file not in paths:
        raise TemplateUsageError(
            f"--template {source} does not render {route_file}, the route module wsgen registers.",
            hint="Name it `{{ routes_dir }}/{{ name }}.py.jinja` in the template,"
            " with a module-level `router`.",
        )


def refuse_collisions(
    files: list[RenderedFile], reserved: dict[str, str], source: str
) -> None:
    """Template files must not land on paths wsgen writes or records itself."""
    for item in files:
        what = reserved.get(item.path)
        if what is not None:
            raise TemplateRefusedError(
                f"--template {source} writes {item.path}, which is {what}.",
                hint="Nothing was written; rename it in the template.",
            )
