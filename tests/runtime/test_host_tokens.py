"""Tokens a host issues: the user claim, refresh tokens, the host's own check."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest
from starlette.exceptions import WebSocketException

from wsgen.runtime import auth
from wsgen.runtime.auth import JWTConfig, decode_token

SECRET = "a-test-secret-that-is-long-enough-0123"
CONFIG = JWTConfig(secret=SECRET)


def token(**claims: Any) -> str:
    return jwt.encode({"exp": int(time.time()) + 60, **claims}, SECRET)


def test_the_user_claim_is_configurable_and_falls_back_to_sub(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WS_JWT_USER_CLAIM", "user_id")
    assert auth.user_id(decode_token(token(user_id=7), CONFIG)) == "7"
    assert auth.user_id(decode_token(token(sub="ann"), CONFIG)) == "ann"
    with pytest.raises(jwt.MissingRequiredClaimError):
        decode_token(token(name="ann"), CONFIG)


def test_the_host_module_names_the_default_claim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WS_JWT_USER_CLAIM", raising=False)
    monkeypatch.setattr(auth, "USER_CLAIM", "identifier")
    claims = decode_token(token(identifier="u-1", sub="other"), CONFIG)
    assert auth.user_id(claims) == "u-1"


@pytest.mark.parametrize(
    "claims",
    [
        {"type": "refresh"},
        {"token_type": "refresh_token"},
        {"type": "email-verification"},
        {"scope": "refresh"},
        {"scope": ["read", "refresh_token"]},
    ],
)
def test_non_access_tokens_are_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(jwt.InvalidTokenError, match="not an access token"):
        decode_token(token(sub="ann", **claims), CONFIG)


@pytest.mark.parametrize(
    "claims", [{"type": "access"}, {"token_type": "Bearer"}, {"scope": "read write"}]
)
def test_access_tokens_are_accepted(claims: dict[str, Any]) -> None:
    assert decode_token(token(sub="ann", **claims), CONFIG)["sub"] == "ann"


class User:
    id = 42


@pytest.mark.parametrize(
    ("result", "expected"),
    [("ann", "ann"), (7, "7"), ({"id": 3}, "3"), ({"sub": "s"}, "s"), (User(), "42")],
)
def test_what_the_hosts_check_returns_is_the_user(result: Any, expected: str) -> None:
    async def check(_token: str) -> Any:
        return result

    identity = asyncio.run(auth.identify(token(sub="x"), check))
    assert identity.user_id == expected
    assert identity.authenticated
    assert identity.expires_at is not None


@pytest.mark.parametrize(
    ("claims", "code", "reason"),
    [
        ({}, 4001, "invalid token"),
        ({"exp": int(time.time()) - 60}, 4009, "token expired"),
    ],
)
def test_a_refusing_host_check_closes_the_connection(
    claims: dict[str, Any], code: int, reason: str
) -> None:
    def check(_token: str) -> Any:
        raise ValueError("no")

    with pytest.raises(WebSocketException) as refused:
        asyncio.run(auth.identify(token(sub="x", **claims), check))
    assert (refused.value.code, refused.value.reason) == (code, reason)


def test_refresh_tokens_stay_refused_when_the_host_accepts_them() -> None:
    with pytest.raises(WebSocketException) as refused:
        asyncio.run(auth.identify(token(type="refresh"), lambda _t: 5))
    assert refused.value.reason == "not an access token"
