"""What wsgen reads of the host's FastAPI, server and secret."""

from __future__ import annotations

import pytest

from wsgen.hostfit import serving_requirements
from wsgen.projectconfig import ProjectConfig


def requirements(text: str, locks: tuple[str, ...] = ()) -> ProjectConfig:
    return ProjectConfig(
        requirements_file="requirements.txt",
        requirements_text=text,
        lock_texts=list(locks),
    )


@pytest.mark.parametrize(
    ("spec", "ceiling"),
    [
        ("fastapi==0.110.0", (0, 110, 0)),
        ('fastapi[standard]==0.109.1 ; python_version > "3"', (0, 109, 1)),
        ("fastapi<0.112", (0, 111, 999)),
        ("fastapi<=0.112.1", (0, 112, 1)),
        ("fastapi~=0.110.0", (0, 110, 999)),
        ("fastapi>=0.100", None),
        ("fastapi", None),
    ],
)
def test_fastapi_ceiling_from_requirements(
    spec: str, ceiling: tuple[int, ...] | None
) -> None:
    assert requirements(spec + "\n").fastapi_ceiling() == ceiling


def test_a_lock_file_outranks_the_range() -> None:
    lock = '[[package]]\nname = "fastapi"\nversion = "0.111.1"\n'
    assert requirements("fastapi>=0.100\n", (lock,)).fastapi_ceiling() == (0, 111, 1)


def test_poetry_caret_on_zero_major_caps_the_minor() -> None:
    config = ProjectConfig(
        pyproject={"tool": {"poetry": {"dependencies": {"fastapi": "^0.110.0"}}}}
    )
    assert config.fastapi_ceiling() == (0, 110, 999)


@pytest.mark.parametrize(
    ("text", "locks", "added"),
    [
        ("fastapi\nuvicorn>=0.30\n", (), True),
        ("fastapi\nuvicorn[standard]\n", (), False),
        ("fastapi[standard]\nuvicorn\n", (), False),
        ("fastapi\nuvicorn\nwsproto\n", (), False),
        (
            "fastapi\nuvicorn\n",
            ('[[package]]\nname = "websockets"\nversion = "13"\n',),
            False,
        ),
        ("fastapi\nhypercorn\n", (), False),
    ],
)
def test_plain_uvicorn_gets_a_websocket_library(
    text: str, locks: tuple[str, ...], added: bool
) -> None:
    wanted = serving_requirements(requirements(text, locks))
    assert (wanted == {"websockets": "websockets>=10.4"}) is added
