"""Verification imports the app with the host's Python, says which, and
names what that Python lacks with the command of the host's tool."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.conftest import copy_example
from wsgen.errors import EXIT_VERIFY_MISSING

# A module only the host's environment has: the app imports it, so an import
# with any other Python fails.
HOST_ONLY = "host_only_dependency"
HIDER = '''
import sys
HIDDEN = {hidden!r}
class HideModules:
    """Makes the listed modules look not installed."""
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, HideModules)
'''


def make_venv(where: Path, *, hidden: tuple[str, ...] = ()) -> Path:
    """A virtualenv seeing this test run's packages (a .pth file, no pip:
    fast), plus HOST_ONLY, minus `hidden`. Returns its python."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(where)], check=True
    )
    python = where / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    ours = sysconfig.get_paths()
    (site / "tests_shared.pth").write_text(f"{ours['purelib']}\n{ours['platlib']}\n")
    (site / f"{HOST_ONLY}.py").write_text("MARK = 1\n")
    if hidden:
        (site / "hide_modules.py").write_text(HIDER.format(hidden=list(hidden)))
        (site / "00_hide_modules.pth").write_text("import hide_modules\n")
    return python


def host_project(tmp_path: Path) -> Path:
    project = copy_example("app_package", tmp_path)
    main = project / "app" / "main.py"
    main.write_text(f"import {HOST_ONLY}  # noqa: F401\n" + main.read_text())
    return project


def run(
    project: Path, *args: str, virtual_env: Path | None = None, path: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", COLUMNS="200")
    if virtual_env is not None:
        env["VIRTUAL_ENV"] = str(virtual_env)
    if path:
        env["PATH"] = path + os.pathsep + env.get("PATH", "")
    return subprocess.run(  # noqa: PLW1510 - callers assert on returncode
        [sys.executable, "-m", "wsgen", *args],
        cwd=project, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip


def test_verification_uses_the_activated_virtualenv(tmp_path: Path) -> None:
    project = host_project(tmp_path)
    venv = tmp_path / "elsewhere-venv"
    python = make_venv(venv)
    result = run(project, "chat", "--yes", "--json", virtual_env=venv)
    assert result.returncode == 0, result.stdout + result.stderr
    verify = json.loads(result.stdout)["verify"]
    assert verify["ok"] is True, verify
    assert verify["python"] == str(python)
    assert "VIRTUAL_ENV" in verify["python_from"]


def test_verification_uses_the_project_venv_and_says_so(tmp_path: Path) -> None:
    project = host_project(tmp_path)
    python = make_venv(project / ".venv")
    result = run(project, "chat", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verified:" in result.stdout
    assert f"Imported with {python} (the project's .venv)" in result.stdout


def test_a_missing_runtime_package_names_the_pip_command(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    python = make_venv(project / ".venv", hidden=("structlog",))
    result = run(project, "chat", "--yes", "--json")
    assert result.returncode == EXIT_VERIFY_MISSING, result.stdout + result.stderr
    verify = json.loads(result.stdout)["verify"]
    assert verify["ok"] is False
    assert verify["missing"] == ["structlog>=24.1"]
    assert verify["install"] == f"{python} -m pip install 'structlog>=24.1'"
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("wsgen: error: ")
    assert "structlog" in line and "--install" in line
    assert "--no-verify" in line and "wsgen destroy chat" in line


def fake_uv(folder: Path, venv: Path) -> Path:
    """A `uv` that records its arguments and "installs" by un-hiding."""
    folder.mkdir()
    log = folder / "calls.txt"
    uv = folder / "uv"
    uv.write_text(
        f'#!/bin/sh\necho "$PWD $*" >> {log}\n'
        f"rm -f {venv}/lib/*/site-packages/00_hide_modules.pth\n"
    )
    uv.chmod(uv.stat().st_mode | stat.S_IEXEC)
    return log


def test_a_uv_project_gets_uv_add_and_install_runs_it(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    (project / "uv.lock").write_text("version = 1\n")
    make_venv(project / ".venv", hidden=("structlog", "jwt"))

    generated = run(project, "chat", "--auth", "--yes", "--no-verify")
    assert generated.returncode == 0, generated.stderr
    failed = run(project, "chat", "--yes")
    assert failed.returncode == EXIT_VERIFY_MISSING, failed.stdout + failed.stderr
    assert "uv add 'pyjwt>=2.8' 'structlog>=24.1'" in failed.stdout

    log = fake_uv(tmp_path / "bin", project / ".venv")
    installed = run(project, "chat", "--yes", "--install", path=str(log.parent))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert log.read_text() == f"{project} add pyjwt>=2.8 structlog>=24.1\n"
    assert "Installed: uv add 'pyjwt>=2.8' 'structlog>=24.1'" in installed.stdout
    assert "Verified:" in installed.stdout


def test_a_failed_install_keeps_the_exit_code_and_says_why(tmp_path: Path) -> None:
    project = copy_example("app_package", tmp_path)
    (project / "uv.lock").write_text("version = 1\n")
    make_venv(project / ".venv", hidden=("structlog",))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    uv = bin_dir / "uv"
    uv.write_text("#!/bin/sh\nexit 3\n")
    uv.chmod(uv.stat().st_mode | stat.S_IEXEC)
    result = run(project, "chat", "--yes", "--install", path=str(bin_dir))
    assert result.returncode == EXIT_VERIFY_MISSING, result.stdout + result.stderr
    assert "`uv add 'structlog>=24.1'` failed (exit code 3)" in result.stderr


def test_a_slow_import_says_what_it_is_doing(tmp_path: Path) -> None:
    project = host_project(tmp_path)
    python = make_venv(project / ".venv")
    main = project / "app" / "main.py"
    main.write_text("import time\n\ntime.sleep(1.5)\n" + main.read_text())
    result = run(project, "chat", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.splitlines() == [f"importing app.main with {python}…"]


def test_without_a_project_environment_nothing_is_installed_into_wsgens(
    tmp_path: Path,
) -> None:
    """wsgen installed as a tool, no virtualenv anywhere: its own Python has
    no fastapi, and the advice is to find the project's, not to pip install."""
    from types import SimpleNamespace

    from wsgen.host.probe import FALLBACK, Interpreter, verify_route

    project = copy_example("app_package", tmp_path)
    python = make_venv(tmp_path / "tool-venv", hidden=("fastapi",))
    layout = SimpleNamespace(
        root=project,
        import_root=".",
        app=SimpleNamespace(module="app.main", export="app", export_is_factory=False),
    )
    result = verify_route(
        layout,  # type: ignore[arg-type]
        "/ws/chat",
        {"fastapi": "fastapi>=0.115"},
        name="chat",
        interpreter=Interpreter(str(python), FALLBACK),
        on_slow=None,
    )
    assert result["ok"] is False and "install" not in result
    assert "found no environment of the project" in result["error"]
    assert result["next"].startswith("Next: activate the project's virtualenv")
