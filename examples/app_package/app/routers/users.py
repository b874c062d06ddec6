from fastapi import APIRouter, HTTPException

from app.schemas import User

router = APIRouter(tags=["users"])

_users: dict[str, User] = {
    "alice": User(username="alice", full_name="Alice Liddell"),
    "bob": User(username="bob", full_name="Bob Builder", disabled=True),
}


@router.get("/")
def list_users() -> list[User]:
    return list(_users.values())


@router.get("/{username}")
def read_user(username: str) -> User:
    user = _users.get(username)
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    return user
