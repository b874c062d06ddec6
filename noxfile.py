"""Sessions: `nox -s tests`, `nox -s lint`, `nox -s speed` (generator timings).

The runtime benchmarks live in the `bench` session.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite, as the README runs it."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("ruff", "check", "src", "tests")
    session.run("ruff", "format", "--check", "src", "tests")
    # The runtime is copied into projects: it keeps to their narrowest style.
    runtime = ["--line-length", "79", "src/wsgen/runtime"]
    session.run("ruff", "check", *runtime)
    session.run("ruff", "format", "--check", *runtime)
    session.run("mypy")


@nox.session
def speed(session: nox.Session) -> None:
    """Wall time of the generator's commands (hyperfine), for BENCHMARKS.md."""
    session.install("-e", ".[test]")
    session.run("python", "bench/generator_speed.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Runtime benchmarks: generated endpoint vs the seed pattern and the ceiling.

    Needs Node.js 18+ and npm: bench/run.py installs the load client
    (bench/client, from package-lock.json) on first use.
    ``nox -s bench`` runs everything (about 25 minutes on 2 cores);
    ``nox -s bench -- --quick`` is a smoke run; other arguments go to
    bench/run.py (``python bench/run.py --help``).
    """
    session.install(
        "-e",
        ".",
        "fastapi>=0.115",
        "uvicorn[standard]>=0.30",
        "websockets>=12",
        "pyjwt>=2.8",
        "structlog>=24",
    )
    session.run("python", "bench/run.py", *session.posargs)
