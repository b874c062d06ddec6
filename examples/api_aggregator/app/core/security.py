import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt

from app.core.config import settings

_HASH_NAME = "sha256"
_ITERATIONS = 100_000


def create_access_token(subject: str | Any, expires_delta: timedelta) -> str:
    expire = datetime.now(timezone.utc) + expires_delta
    to_encode = {"exp": expire, "sub": str(subject)}
    return jwt.encode(to_encode, settings.SECRET_KEY, algorithm=settings.ALGORITHM)


def get_password_hash(password: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac(
        _HASH_NAME, password.encode(), bytes.fromhex(salt), _ITERATIONS
    )
    return f"{salt}${digest.hex()}"


def verify_password(plain_password: str, hashed_password: str) -> bool:
    salt, _, expected = hashed_password.partition("$")
    digest = hashlib.pbkdf2_hmac(
        _HASH_NAME, plain_password.encode(), bytes.fromhex(salt), _ITERATIONS
    )
    return hmac.compare_digest(digest.hex(), expected)
