"""JWT authentication of WebSocket connections (needs ``pyjwt``).

``authenticate`` accepts the handshake, reads the token from the first
transport of ``WS_AUTH_TRANSPORTS`` that has one (``settings.py``), and
closes with a code the client can read when it cannot admit the user:
4001 unauthenticated, 4003 forbidden, 4009 token expired, 1011 when tokens
cannot be checked. An ``auth`` frame with a fresh token for the same user
replaces the token (``auth_ok``); else the connection closes with 4009 at
the token's ``exp``. Refresh tokens (by ``type``, ``token_type`` or
``scope``) are refused with 4001.

``keys.load_jwt_config`` reads the settings (``WS_JWT_*`` over the host's
own); the user is the ``host.USER_CLAIM`` claim (``WS_JWT_USER_CLAIM``,
else ``sub``). With ``verify=check`` the host's ``check(token)`` (sync or
async) decides instead: it returns the user (an id, or a dict or object
with ``id``/``user_id``/``sub``); None, False or an exception refuses.

Keys and tokens are never logged; importing this module hides tokens in
the server's own log lines (``logs.py``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final

import jwt
import structlog
from jwt.exceptions import PyJWKClientConnectionError, PyJWKSetError
from pydantic_core import from_json
from starlette.exceptions import WebSocketException as Refused
from starlette.websockets import WebSocket

from .connection import Identity, finished
from .host import USER_CLAIM
from .keys import JWTConfig, env_value, load_jwt_config
from .logs import install_log_redaction
from .protocol import CloseCode, ErrorCode, ProtocolError
from .session import accept, refuse
from .settings import WebSocketSettings

__all__ = ["JWTConfig", "authenticate", "decode_token", "load_jwt_config"]

logger = structlog.get_logger(__name__)

# At import, that is when the app imports its endpoint: before the server
# logs a handshake, at every log level, with or without a lifespan.
install_log_redaction()

SUBPROTOCOL: Final = "bearer"
UNAVAILABLE: Final = "authentication unavailable"
INVALID: Final = "invalid token"
EXPIRED: Final = "token expired"
TIMEOUT: Final = "authentication timeout"
NOT_ACCESS: Final = "not an access token"
# ``type``/``token_type`` of tokens that may open a connection, and the
# ``scope`` words of those that may not.
ACCESS: Final = frozenset(
    {"access", "access_token", "bearer", "jwt", "at+jwt"},
)
REFRESH: Final = frozenset({"refresh", "refresh_token"})
# A host's token check: a token in, the user (or None) out.
Verify = Callable[[str], Any]
Claims = dict[str, Any]


def decode_token(token: str, config: JWTConfig) -> dict[str, Any]:
    """Check a token (raises ``jwt.PyJWTError``); a JWKS lookup may block."""
    claims: dict[str, Any] = jwt.decode(
        token,
        config.key(token),
        algorithms=list(config.algorithms),
        audience=config.audience,
        issuer=config.issuer,
        leeway=config.leeway,
        options={"require": ["exp"]},
    )
    user_id(claims)
    if not is_access(claims):
        raise jwt.InvalidTokenError(NOT_ACCESS)
    # Older pyjwt checks only that ``iat`` is a number.
    if float(claims.get("iat", 0)) > time.time() + config.leeway:
        raise jwt.ImmatureSignatureError("The token is not yet valid (iat)")
    return claims


def user_claim() -> str:
    return env_value("WS_JWT_USER_CLAIM") or USER_CLAIM


def user_id(claims: Mapping[str, Any]) -> str:
    """The user a token names; raises ``MissingRequiredClaimError``."""
    for name in (user_claim(), "sub"):
        value = claims.get(name)
        if value is not None and str(value):
            return str(value)
    raise jwt.MissingRequiredClaimError(user_claim())


def is_access(claims: Mapping[str, Any]) -> bool:
    """False for refresh (and other non-access) tokens: by their ``type``
    or ``token_type``, or a ``scope`` that names refresh."""
    kinds = [claims.get("type"), claims.get("token_type")]
    if any(isinstance(k, str) and k.lower() not in ACCESS for k in kinds):
        return False
    scope = claims.get("scope")
    words = scope.split() if isinstance(scope, str) else scope
    if not isinstance(words, list):
        return True
    return not {str(word).lower() for word in words} & REFRESH


async def _checked_by_host(token: str, verify: Verify) -> tuple[str, Claims]:
    """The user the host's check names, and the claims read without the key
    (for the expiry and type only); raises ``jwt.PyJWTError``."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        claims = {}  # not a JWT: the host's check alone decides
    try:
        user = verify(token)
        user = _user_of(await user if inspect.isawaitable(user) else user)
    except Exception as exc:  # the host's check refuses by raising  # noqa: BLE001
        logger.info("ws.host_check_refused", error=type(exc).__name__)
        user = None
    if user is None:
        expiry = _expiry(claims)
        if expiry is not None and expiry < time.time():
            raise jwt.ExpiredSignatureError(EXPIRED)
        raise jwt.InvalidTokenError(INVALID)
    if not is_access(claims):
        raise jwt.InvalidTokenError(NOT_ACCESS)
    return user, claims


def _user_of(result: Any) -> str | None:
    """The id of what the host's check returned: an id, a dict, an object."""
    if isinstance(result, (str, int)) and not isinstance(result, bool):
        return str(result) or None
    for name in (user_claim(), "id", "user_id", "sub", "pk", "username"):
        if isinstance(result, Mapping):
            value = result.get(name)
        else:
            value = getattr(result, name, None)
        if value is not None and str(value):
            return str(value)
    return None


def _expiry(claims: Mapping[str, Any]) -> float | None:
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, (int, float)) else None


async def identify(token: str, verify: Verify | None = None) -> Identity:
    """The identity ``token`` proves (``verify``: the host's own check;
    None checks JWTs here); raises Refused with a close code and reason."""
    config = load_jwt_config()
    problem = None if verify else config.problem()
    try:
        if problem is not None:
            logger.error("ws.auth_misconfigured", problem=problem)
            raise Refused(CloseCode.INTERNAL_ERROR, UNAVAILABLE)
        if verify is not None:
            user, claims = await _checked_by_host(token, verify)
        elif config.jwks_url:  # fetching the key set blocks: off the loop
            claims = await asyncio.to_thread(decode_token, token, config)
            user = user_id(claims)
        else:
            claims = decode_token(token, config)
            user = user_id(claims)
    except jwt.ExpiredSignatureError:
        raise Refused(CloseCode.TOKEN_EXPIRED, EXPIRED) from None
    except (PyJWKClientConnectionError, PyJWKSetError) as exc:
        logger.error("ws.jwks_unavailable", error=type(exc).__name__)
        raise Refused(CloseCode.INTERNAL_ERROR, UNAVAILABLE) from None
    except jwt.PyJWTError as exc:
        logger.info("ws.auth_failed", error=type(exc).__name__)
        reason = NOT_ACCESS if str(exc) == NOT_ACCESS else INVALID
        raise Refused(CloseCode.UNAUTHENTICATED, reason) from None
    return Identity(
        user_id=user,
        authenticated=True,
        claims=claims,
        expires_at=_expiry(claims),
        refresh=partial(_refresh, user, verify),
    )


async def _refresh(
    user: str, verify: Verify | None, text: str
) -> Identity | ProtocolError | None:
    """An ``auth`` frame on an open connection: the identity its fresh
    token proves, or why not; None for any other frame."""
    token = auth_token(text)
    if token is None:
        return None
    try:
        identity = await identify(token, verify)
    except Refused as refused:
        return ProtocolError(ErrorCode.INVALID_TOKEN, refused.reason)
    if identity.user_id != user:
        logger.warning("ws.auth_subject_changed", user_id=user)
        return ProtocolError(ErrorCode.FORBIDDEN, "not the same user")
    return identity


def auth_token(text: str) -> str | None:
    """The token of an ``{"type": "auth", "token": ...}`` frame, else None.

    The substring test spares other frames a second parse; pydantic's
    parser, unlike ``json``, bounds nesting (ValueError, not RecursionError).
    """
    if '"auth"' not in text:
        return None
    try:
        frame = from_json(text)
    except ValueError:
        return None
    if not isinstance(frame, dict) or frame.get("type") != "auth":
        return None
    token = frame.get("token")
    return token if isinstance(token, str) and token else None


async def _first_message(
    websocket: WebSocket, settings: WebSocketSettings
) -> str | None:
    """The token of the first frame, ``{"type": "auth", "token": ...}``;
    None if the client left first."""
    receiving = asyncio.ensure_future(websocket.receive())
    if not await finished(receiving, settings.auth_timeout):
        raise Refused(CloseCode.UNAUTHENTICATED, TIMEOUT)
    message = receiving.result()
    if message["type"] == "websocket.disconnect":
        return None
    text: str = message.get("text") or ""
    token = None
    if len(text) <= settings.max_frame_bytes:
        token = auth_token(text)
    if token is None:
        raise Refused(CloseCode.UNAUTHENTICATED, "auth frame expected")
    return token


async def _token(
    websocket: WebSocket, settings: WebSocketSettings, offered: list[str]
) -> str | None:
    """The token of the first enabled transport that has one; None if the
    client left while it was awaited."""
    transports = settings.auth_transports
    if "subprotocol" in transports and SUBPROTOCOL in offered:
        after = offered[offered.index(SUBPROTOCOL) + 1 :]
        if after and after[0]:
            return after[0]
    if "query" in transports and websocket.query_params.get("token"):
        return websocket.query_params["token"]
    cookie = websocket.cookies.get(settings.auth_cookie)
    if "cookie" in transports and cookie:
        # Browsers attach cookies cross-site: trust them only from allowed
        # origins (``accept`` has refused the others).
        if not settings.allowed_origins:
            problem = "cookie tokens refused: WS_ALLOWED_ORIGINS is empty"
            logger.error("ws.auth_misconfigured", problem=problem)
            raise Refused(CloseCode.INTERNAL_ERROR, UNAVAILABLE)
        if websocket.headers.get("origin") is None:
            raise Refused(CloseCode.FORBIDDEN, "origin required")
        return cookie
    if "message" in transports:
        return await _first_message(websocket, settings)
    raise Refused(CloseCode.UNAUTHENTICATED, "missing token")


async def authenticate(
    websocket: WebSocket,
    settings: WebSocketSettings,
    verify: Verify | None = None,
) -> Identity | None:
    """Accept the handshake and identify the user, or close and return None.

    ``verify``: the host's own token check; None checks JWTs here."""
    offered: list[str] = websocket.scope.get("subprotocols") or []
    # Browsers drop a socket whose offered subprotocol is not echoed.
    echo = SUBPROTOCOL if SUBPROTOCOL in offered else None
    if not await accept(websocket, settings, subprotocol=echo):
        return None
    try:
        token = await _token(websocket, settings, offered)
        if token is None:
            return None  # gone before sending its auth frame
        return await identify(token, verify)
    except Refused as refused:
        await refuse(websocket, refused.code, refused.reason)
        return None
