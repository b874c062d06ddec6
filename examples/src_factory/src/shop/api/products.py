from decimal import Decimal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

router = APIRouter()


class Product(BaseModel):
    sku: str
    name: str
    price: Decimal
    in_stock: bool = True


CATALOGUE: dict[str, Product] = {
    product.sku: product
    for product in (
        Product(sku="TEA-001", name="Sencha", price=Decimal("8.50")),
        Product(sku="TEA-002", name="Assam", price=Decimal("6.90")),
        Product(
            sku="MUG-001",
            name="Stoneware mug",
            price=Decimal("14.00"),
            in_stock=False,
        ),
    )
}


@router.get("")
def list_products(in_stock: bool | None = None) -> list[Product]:
    products = list(CATALOGUE.values())
    if in_stock is not None:
        products = [p for p in products if p.in_stock == in_stock]
    return products


@router.get("/{sku}")
def read_product(sku: str) -> Product:
    try:
        return CATALOGUE[sku]
    except KeyError:
        raise HTTPException(
            status_code=404, detail="Product not found"
        ) from None
