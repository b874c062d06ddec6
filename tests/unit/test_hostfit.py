"""What wsgen reads of the host's FastAPI, server and secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_discover import APP, layout_of
from wsgen.host.fit import serving_requirements, short_secret_warning
from wsgen.host.projectconfig import ProjectConfig


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


SETTINGS = """
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    SECRET_KEY: str = {default}
    ALGORITHM: str = "HS256"


settings = Settings()
"""


@pytest.mark.parametrize(
    ("default", "env", "warned"),
    [
        ('"changethis"', {}, True),
        ("secrets.token_urlsafe(32)", {}, False),
        ("secrets.token_urlsafe(32)", {".env": "SECRET_KEY=changethis\n"}, True),
        ('"' + "s" * 40 + '"', {".env": "# SECRET_KEY=short\n"}, False),
    ],
)
def test_a_host_secret_too_short_for_hs256_is_warned(
    tmp_path: Path, default: str, env: dict[str, str], warned: bool
) -> None:
    layout = layout_of(
        tmp_path,
        {"app/__init__.py": "", "app/main.py": APP,
         "app/config.py": SETTINGS.format(default=default)},
    )  # fmt: skip
    warning = short_secret_warning(layout, env)
    assert (warning is not None) is warned
    if warning:
        assert "every connection would close 1011" in warning


@pytest.mark.parametrize(
    ("creator", "claim"),
    [
        ('{"user_id": uid, "exp": exp, "type": "access"}', "user_id"),
        ('{"sub": str(uid), "exp": exp}', "sub"),
        ('{"identifier": uid, "exp": exp}', "identifier"),
        ('{"sub": str(uid), "user_id": uid, "exp": exp}', None),
        ("dict(email=uid, exp=exp)", "email"),
    ],
)
def test_the_user_claim_of_the_hosts_tokens(
    tmp_path: Path, creator: str, claim: str | None
) -> None:
    security = f"def create_access_token(uid, exp):\n    return {creator}\n"
    layout = layout_of(
        tmp_path,
        {"app/__init__.py": "", "app/main.py": APP, "app/security.py": security},
    )
    assert layout.user_claim == claim
