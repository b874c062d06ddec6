from fastapi.testclient import TestClient

from app.main import app

client = TestClient(app)


def test_list_users():
    response = client.get("/users/")
    assert response.status_code == 200
    assert {user["username"] for user in response.json()} == {"alice", "bob"}


def test_read_user():
    response = client.get("/users/alice")
    assert response.status_code == 200
    assert response.json() == {
        "username": "alice",
        "full_name": "Alice Liddell",
        "disabled": False,
    }


def test_read_user_not_found():
    response = client.get("/users/mallory")
    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}
