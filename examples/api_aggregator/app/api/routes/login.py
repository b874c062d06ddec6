from datetime import timedelta

from fastapi import APIRouter, HTTPException

from app import crud
from app.api.deps import CurrentUser
from app.core import security
from app.core.config import settings
from app.models import LoginRequest, Token, UserPublic

router = APIRouter(tags=["login"])


@router.post("/login/access-token")
def login_access_token(credentials: LoginRequest) -> Token:
    """Exchange an email and password for a bearer access token."""
    user = crud.authenticate(email=credentials.username, password=credentials.password)
    if not user:
        raise HTTPException(status_code=400, detail="Incorrect email or password")
    if not user.is_active:
        raise HTTPException(status_code=400, detail="Inactive user")
    access_token_expires = timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES)
    return Token(
        access_token=security.create_access_token(
            user.id, expires_delta=access_token_expires
        )
    )


@router.post("/login/test-token", response_model=UserPublic)
def test_token(current_user: CurrentUser) -> UserPublic:
    """Test access token."""
    return UserPublic.model_validate(current_user.model_dump())
