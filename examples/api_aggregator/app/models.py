import uuid

from pydantic import BaseModel, Field


class UserBase(BaseModel):
    email: str = Field(max_length=255)
    is_active: bool = True
    is_superuser: bool = False
    full_name: str | None = Field(default=None, max_length=255)


class UserCreate(UserBase):
    password: str = Field(min_length=8, max_length=40)


class User(UserBase):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    hashed_password: str


class UserPublic(UserBase):
    id: uuid.UUID


class ItemBase(BaseModel):
    title: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)


class ItemCreate(ItemBase):
    pass


class Item(ItemBase):
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    owner_id: uuid.UUID


class ItemsPublic(BaseModel):
    data: list[Item]
    count: int


class LoginRequest(BaseModel):
    username: str
    password: str


class Message(BaseModel):
    message: str


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class TokenPayload(BaseModel):
    sub: str | None = None
