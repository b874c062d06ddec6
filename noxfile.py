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
    session.run("mypy")


@nox.session
def speed(session: nox.Session) -> None:
    """Wall time of the generator's commands (hyperfine), for BENCHMARKS.md."""
    session.install("-e", ".[test]")
    session.run("python", "bench/generator_speed.py", *session.posargs)
