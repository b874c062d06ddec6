import uuid

from fastapi import APIRouter, HTTPException

from app import crud
from app.api.deps import CurrentUser
from app.models import Item, ItemCreate, ItemsPublic, Message

router = APIRouter(prefix="/items", tags=["items"])


def _get_owned_item(item_id: uuid.UUID, current_user: CurrentUser) -> Item:
    item = crud.items.get(item_id)
    if not item:
        raise HTTPException(status_code=404, detail="Item not found")
    if not current_user.is_superuser and item.owner_id != current_user.id:
        raise HTTPException(status_code=403, detail="Not enough permissions")
    return item


@router.get("/")
def read_items(
    current_user: CurrentUser, skip: int = 0, limit: int = 100
) -> ItemsPublic:
    """Retrieve items."""
    visible = [
        item
        for item in crud.items.values()
        if current_user.is_superuser or item.owner_id == current_user.id
    ]
    return ItemsPublic(data=visible[skip : skip + limit], count=len(visible))


@router.get("/{id}")
def read_item(current_user: CurrentUser, id: uuid.UUID) -> Item:
    """Get item by ID."""
    return _get_owned_item(id, current_user)


@router.post("/")
def create_item(current_user: CurrentUser, item_in: ItemCreate) -> Item:
    """Create new item."""
    return crud.create_item(item_in=item_in, owner_id=current_user.id)


@router.delete("/{id}")
def delete_item(current_user: CurrentUser, id: uuid.UUID) -> Message:
    """Delete an item."""
    item = _get_owned_item(id, current_user)
    del crud.items[item.id]
    return Message(message="Item deleted successfully")
