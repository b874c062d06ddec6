from fastapi.testclient import TestClient

from app.main import app

client = TestClient(app)


def test_list_items():
    response = client.get("/items/")
    assert response.status_code == 200
    names = [item["name"] for item in response.json()]
    assert "Hammer" in names


def test_read_item():
    response = client.get("/items/1")
    assert response.status_code == 200
    assert response.json()["name"] == "Hammer"


def test_read_item_not_found():
    response = client.get("/items/999")
    assert response.status_code == 404


def test_create_item():
    response = client.post("/items/", json={"name": "Wrench", "price": 9.99})
    assert response.status_code == 201
    item = response.json()
    assert item["name"] == "Wrench"
    assert item["quantity"] == 0
    assert client.get(f"/items/{item['id']}").status_code == 200


def test_create_item_rejects_invalid_price():
    response = client.post("/items/", json={"name": "Free lunch", "price": 0})
    assert response.status_code == 422
