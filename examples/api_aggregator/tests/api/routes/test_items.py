import uuid

from fastapi.testclient import TestClient

from app.core.config import settings

ITEMS_URL = f"{settings.API_V1_STR}/items/"


def _create_item(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    data = {"title": "Foo", "description": "Fighters"}
    r = client.post(ITEMS_URL, headers=headers, json=data)
    assert r.status_code == 200
    return r.json()


def test_create_item(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    content = _create_item(client, superuser_token_headers)
    assert content["title"] == "Foo"
    assert content["description"] == "Fighters"
    assert "id" in content
    assert "owner_id" in content


def test_read_item(client: TestClient, superuser_token_headers: dict[str, str]) -> None:
    item = _create_item(client, superuser_token_headers)
    r = client.get(f"{ITEMS_URL}{item['id']}", headers=superuser_token_headers)
    assert r.status_code == 200
    assert r.json() == item


def test_read_item_not_found(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    r = client.get(f"{ITEMS_URL}{uuid.uuid4()}", headers=superuser_token_headers)
    assert r.status_code == 404
    assert r.json()["detail"] == "Item not found"


def test_read_item_not_enough_permissions(
    client: TestClient,
    superuser_token_headers: dict[str, str],
    normal_user_token_headers: dict[str, str],
) -> None:
    item = _create_item(client, superuser_token_headers)
    r = client.get(f"{ITEMS_URL}{item['id']}", headers=normal_user_token_headers)
    assert r.status_code == 403
    assert r.json()["detail"] == "Not enough permissions"


def test_read_items_only_returns_own_items(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    item = _create_item(client, normal_user_token_headers)
    r = client.get(ITEMS_URL, headers=normal_user_token_headers)
    assert r.status_code == 200
    content = r.json()
    assert content["count"] == len(content["data"])
    assert {i["owner_id"] for i in content["data"]} == {item["owner_id"]}


def test_delete_item(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    item = _create_item(client, normal_user_token_headers)
    r = client.delete(f"{ITEMS_URL}{item['id']}", headers=normal_user_token_headers)
    assert r.status_code == 200
    assert r.json()["message"] == "Item deleted successfully"
    r = client.get(f"{ITEMS_URL}{item['id']}", headers=normal_user_token_headers)
    assert r.status_code == 404


def test_items_require_authentication(client: TestClient) -> None:
    r = client.get(ITEMS_URL)
    assert r.status_code in (401, 403)
