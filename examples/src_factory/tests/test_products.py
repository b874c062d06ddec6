import pytest
from fastapi.testclient import TestClient

from shop.app import create_app


@pytest.fixture
def client():
    with TestClient(create_app()) as test_client:
        yield test_client


def test_list_products(client):
    response = client.get("/api/products")
    assert response.status_code == 200
    skus = {product["sku"] for product in response.json()}
    assert skus == {"TEA-001", "TEA-002", "MUG-001"}


def test_filter_in_stock(client):
    response = client.get("/api/products", params={"in_stock": True})
    assert response.status_code == 200
    assert all(product["in_stock"] for product in response.json())
    assert len(response.json()) == 2


def test_read_product(client):
    response = client.get("/api/products/TEA-001")
    assert response.status_code == 200
    assert response.json()["name"] == "Sencha"


def test_read_missing_product(client):
    response = client.get("/api/products/NOPE")
    assert response.status_code == 404


def test_health(client):
    assert client.get("/api/health").json() == {"status": "ok"}


def test_storefront_is_served(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "<h1>Shop</h1>" in response.text
