"""In-memory storage standing in for a database."""

import uuid

from app.core.config import settings
from app.core.security import get_password_hash, verify_password
from app.models import Item, ItemCreate, User, UserCreate

users: dict[uuid.UUID, User] = {}
items: dict[uuid.UUID, Item] = {}


def create_user(*, user_create: UserCreate) -> User:
    user = User(
        **user_create.model_dump(exclude={"password"}),
        hashed_password=get_password_hash(user_create.password),
    )
    users[user.id] = user
    return user


def get_user(user_id: uuid.UUID) -> User | None:
    return users.get(user_id)


def get_user_by_email(*, email: str) -> User | None:
    return next((user for user in users.values() if user.email == email), None)


def authenticate(*, email: str, password: str) -> User | None:
    user = get_user_by_email(email=email)
    if user is None or not verify_password(password, user.hashed_password):
        return None
    return user


def create_item(*, item_in: ItemCreate, owner_id: uuid.UUID) -> Item:
    item = Item(**item_in.model_dump(), owner_id=owner_id)
    items[item.id] = item
    return item


def init_db() -> None:
    if get_user_by_email(email=settings.FIRST_SUPERUSER) is None:
        create_user(
            user_create=UserCreate(
                email=settings.FIRST_SUPERUSER,
                password=settings.FIRST_SUPERUSER_PASSWORD,
                is_superuser=True,
            )
        )
