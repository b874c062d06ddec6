from fastapi import APIRouter, Depends

from app import crud
from app.api.deps import CurrentUser, get_current_active_superuser
from app.models import UserPublic

router = APIRouter(prefix="/users", tags=["users"])


@router.get(
    "/",
    dependencies=[Depends(get_current_active_superuser)],
    response_model=list[UserPublic],
)
def read_users(skip: int = 0, limit: int = 100) -> list[UserPublic]:
    """Retrieve users (superusers only)."""
    users = list(crud.users.values())[skip : skip + limit]
    return [UserPublic.model_validate(user.model_dump()) for user in users]


@router.get("/me", response_model=UserPublic)
def read_user_me(current_user: CurrentUser) -> UserPublic:
    """Get current user."""
    return UserPublic.model_validate(current_user.model_dump())
