from pydantic import BaseModel, Field


class ItemCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    price: float = Field(gt=0)
    quantity: int = Field(default=0, ge=0)


class Item(ItemCreate):
    id: int


class User(BaseModel):
    username: str
    full_name: str | None = None
    disabled: bool = False
