from fastapi import APIRouter, HTTPException, status

from app.schemas import Item, ItemCreate

router = APIRouter(prefix="/items", tags=["items"])

_items: dict[int, Item] = {
    1: Item(id=1, name="Hammer", price=12.5, quantity=10),
    2: Item(id=2, name="Screwdriver", price=4.0, quantity=25),
}


@router.get("/")
def list_items(skip: int = 0, limit: int = 100) -> list[Item]:
    return list(_items.values())[skip : skip + limit]


@router.get("/{item_id}")
def read_item(item_id: int) -> Item:
    item = _items.get(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail="Item not found")
    return item


@router.post("/", status_code=status.HTTP_201_CREATED)
def create_item(payload: ItemCreate) -> Item:
    item = Item(id=max(_items, default=0) + 1, **payload.model_dump())
    _items[item.id] = item
    return item
