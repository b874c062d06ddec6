from datetime import timedelta

from fastapi.testclient import TestClient

from app.core.config import settings
from app.core.security import create_access_token


def test_get_access_token(client: TestClient) -> None:
    login_data = {
        "username": settings.FIRST_SUPERUSER,
        "password": settings.FIRST_SUPERUSER_PASSWORD,
    }
    r = client.post(f"{settings.API_V1_STR}/login/access-token", json=login_data)
    tokens = r.json()
    assert r.status_code == 200
    assert "access_token" in tokens
    assert tokens["access_token"]
    assert tokens["token_type"] == "bearer"


def test_get_access_token_incorrect_password(client: TestClient) -> None:
    login_data = {"username": settings.FIRST_SUPERUSER, "password": "incorrect"}
    r = client.post(f"{settings.API_V1_STR}/login/access-token", json=login_data)
    assert r.status_code == 400


def test_use_access_token(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    r = client.post(
        f"{settings.API_V1_STR}/login/test-token", headers=superuser_token_headers
    )
    result = r.json()
    assert r.status_code == 200
    assert result["email"] == settings.FIRST_SUPERUSER
    assert result["is_superuser"] is True


def test_missing_token(client: TestClient) -> None:
    r = client.post(f"{settings.API_V1_STR}/login/test-token")
    assert r.status_code in (401, 403)


def test_invalid_token(client: TestClient) -> None:
    r = client.post(
        f"{settings.API_V1_STR}/login/test-token",
        headers={"Authorization": "Bearer not-a-jwt"},
    )
    assert r.status_code == 403


def test_expired_token(client: TestClient) -> None:
    token = create_access_token("anyone", expires_delta=timedelta(minutes=-1))
    r = client.post(
        f"{settings.API_V1_STR}/login/test-token",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403


def test_read_user_me(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    r = client.get(f"{settings.API_V1_STR}/users/me", headers=normal_user_token_headers)
    assert r.status_code == 200
    assert r.json()["is_superuser"] is False


def test_list_users_requires_superuser(
    client: TestClient,
    superuser_token_headers: dict[str, str],
    normal_user_token_headers: dict[str, str],
) -> None:
    r = client.get(f"{settings.API_V1_STR}/users/", headers=normal_user_token_headers)
    assert r.status_code == 403
    r = client.get(f"{settings.API_V1_STR}/users/", headers=superuser_token_headers)
    assert r.status_code == 200
    assert settings.FIRST_SUPERUSER in {user["email"] for user in r.json()}
