from fastapi.testclient import TestClient

from main import app

client = TestClient(app)


def test_health():
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_create_and_read_note():
    response = client.post("/notes", json={"title": "Groceries", "body": "Milk"})
    assert response.status_code == 201
    note = response.json()
    assert note["title"] == "Groceries"

    response = client.get(f"/notes/{note['id']}")
    assert response.status_code == 200
    assert response.json() == note


def test_read_missing_note():
    response = client.get("/notes/9999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Note not found"}
