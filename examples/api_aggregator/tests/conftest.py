from collections.abc import Generator

import pytest
from fastapi.testclient import TestClient

from app import crud
from app.core.config import settings
from app.main import app
from app.models import UserCreate

NORMAL_USER_EMAIL = "user@example.com"
NORMAL_USER_PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def client() -> Generator[TestClient, None, None]:
    with TestClient(app) as c:
        yield c


def _token_headers(client: TestClient, username: str, password: str) -> dict[str, str]:
    r = client.post(
        f"{settings.API_V1_STR}/login/access-token",
        json={"username": username, "password": password},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="session")
def superuser_token_headers(client: TestClient) -> dict[str, str]:
    return _token_headers(
        client, settings.FIRST_SUPERUSER, settings.FIRST_SUPERUSER_PASSWORD
    )


@pytest.fixture(scope="session")
def normal_user_token_headers(client: TestClient) -> dict[str, str]:
    if crud.get_user_by_email(email=NORMAL_USER_EMAIL) is None:
        crud.create_user(
            user_create=UserCreate(
                email=NORMAL_USER_EMAIL, password=NORMAL_USER_PASSWORD
            )
        )
    return _token_headers(client, NORMAL_USER_EMAIL, NORMAL_USER_PASSWORD)
