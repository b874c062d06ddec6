"""JWT authentication of WebSocket connections (needs ``pyjwt``).

Transports, enabled by ``WS_AUTH_TRANSPORTS`` and tried in this order:

- ``subprotocol``: ``Sec-WebSocket-Protocol: bearer, <token>`` (browsers
  can set it, it stays out of URLs and access logs; ``bearer`` is echoed);
- ``query``: ``?token=`` (redacted in uvicorn's logs; proxies may log it);
- ``cookie``: the HTTP-only cookie named by ``WS_AUTH_COOKIE``. Browsers
  attach it to cross-site handshakes too, so it is only trusted with an
  ``Origin`` from ``WS_ALLOWED_ORIGINS``: without an allowlist cookie
  tokens are refused (1011, logged as a misconfiguration);
- ``message``: when no other transport carried a token, the first frame
  must be ``{"type": "auth", "token": "..."}`` within ``WS_AUTH_TIMEOUT``.

The handshake is accepted first and then closed with a code the client can
read: 4001 unauthenticated, 4003 forbidden, 4009 token expired, 1011 when
the server cannot check tokens. On an open connection an ``auth`` frame
with a fresh token for the same user replaces the token (answered by
``{"type": "auth_ok", "expires_at": ...}``), so the connection outlives
the first token's ``exp``; otherwise it is closed with 4009 at ``exp``.
Keys and tokens are never logged.

The host's own JWT settings, when wsgen found them, are read through
``host.jwt_settings()``; the ``WS_JWT_*`` variables override them. The user
is the ``host.USER_CLAIM`` claim (``WS_JWT_USER_CLAIM``; ``sub`` when the
token lacks it). Tokens a ``type``, ``token_type`` or ``scope`` claim marks
as refresh (or other non-access) tokens are refused with 4001.

``authenticate(..., verify=check)`` hands the token to the host's own
``check(token)`` (sync or async) instead: what it returns is the user (an
id, or a dict or object with ``id``/``user_id``/``sub``); None, False or an
exception refuses the token (4009 when its ``exp`` has passed).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jwt
import structlog
from jwt.exceptions import PyJWKClientConnectionError, PyJWKSetError
from starlette.websockets import WebSocket

from .connection import Identity, Refresh
from .host import USER_CLAIM, jwt_settings
from .keys import MIN_SECRET_BYTES, key_problem, verification_key
from .protocol import CloseCode, ErrorCode, ProtocolError, auth_token
from .session import accept, refuse
from .settings import WebSocketSettings

__all__ = [
    "MIN_SECRET_BYTES",
    "JWTConfig",
    "authenticate",
    "decode_token",
    "load_jwt_config",
]

logger = structlog.get_logger(__name__)

SUBPROTOCOL: Final = "bearer"
UNAVAILABLE: Final = "authentication unavailable"
INVALID: Final = "invalid token"
NOT_ACCESS: Final = "not an access token"
# ``type``/``token_type`` values of tokens that may open a connection.
ACCESS_TYPES: Final = frozenset(
    {"access", "access_token", "bearer", "jwt", "at+jwt"},
)
# A host's token check: a token in, the user (or None) out.
Verify = Callable[[str], Any]


@dataclass(frozen=True)
class JWTConfig:
    secret: str | None
    algorithms: tuple[str, ...] = ("HS256",)
    audience: str | None = None
    issuer: str | None = None
    leeway: float = 10.0
    public_key: str | None = None
    jwks_url: str | None = None

    def problem(self) -> str | None:
        """Why tokens cannot be checked with this config, if they cannot."""
        return key_problem(
            self.algorithms,
            self.secret,
            self.public_key,
            self.jwks_url,
        )


class RefusedError(Exception):
    """A connection refused with a close code and a reason for the client."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def _pem(value: str | None) -> str | None:
    """PEM text from one environment line may spell newlines as ``\\n``."""
    return value.replace("\\n", "\n") if value else None


def load_jwt_config() -> JWTConfig:
    """Read the JWT settings now; environment variables take precedence."""
    public_key = _pem(_env("WS_JWT_PUBLIC_KEY"))
    jwks_url = _env("WS_JWT_JWKS_URL")
    host = jwt_settings()
    if host is not None:
        host_secret, host_algorithm = host
        secret = _env("WS_JWT_SECRET") or _plain(host_secret)
        default = _plain(host_algorithm) or "HS256"
    else:
        secret = _env("WS_JWT_SECRET")
        # A public key or key set alone means RS256 unless told otherwise.
        asymmetric = (public_key or jwks_url) and not secret
        default = "RS256" if asymmetric else "HS256"
    algorithms = _env("WS_JWT_ALGORITHMS") or default
    names = [name.strip() for name in algorithms.split(",")]
    return JWTConfig(
        secret=secret,
        algorithms=tuple(name for name in names if name),
        audience=_env("WS_JWT_AUDIENCE"),
        issuer=_env("WS_JWT_ISSUER"),
        leeway=float(_env("WS_JWT_LEEWAY") or 10),
        public_key=public_key,
        jwks_url=jwks_url,
    )


def _plain(value: Any) -> str | None:
    """Host settings may hold a pydantic ``SecretStr``."""
    if value is None:
        return None
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if callable(reveal) else value)


def decode_token(token: str, config: JWTConfig) -> dict[str, Any]:
    """Validate a token; raises ``jwt.PyJWTError`` subclasses.

    With ``WS_JWT_JWKS_URL`` the key lookup may fetch the key set: call it
    from a worker thread.
    """
    key = verification_key(
        token,
        config.algorithms,
        config.secret,
        config.public_key,
        config.jwks_url,
    )
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=list(config.algorithms),
        audience=config.audience,
        issuer=config.issuer,
        leeway=config.leeway,
        options={"require": ["exp"]},
    )
    user_id(claims)
    refuse_non_access(claims)
    # Older pyjwt checks only that ``iat`` is a number.
    issued_at = claims.get("iat")
    if issued_at is not None and issued_at > time.time() + config.leeway:
        raise jwt.ImmatureSignatureError("The token is not yet valid (iat)")
    return claims


def user_claim() -> str:
    return _env("WS_JWT_USER_CLAIM") or USER_CLAIM


def user_id(claims: Mapping[str, Any]) -> str:
    """The user a token names; raises ``MissingRequiredClaimError``."""
    for name in (user_claim(), "sub"):
        value = claims.get(name)
        if value is not None and str(value):
            return str(value)
    raise jwt.MissingRequiredClaimError(user_claim())


def refuse_non_access(claims: Mapping[str, Any]) -> None:
    """Refresh tokens (and other non-access tokens) are refused, by their
    ``type``/``token_type`` or a ``scope`` that names refresh."""
    for name in ("type", "token_type"):
        value = claims.get(name)
        if isinstance(value, str) and value.lower() not in ACCESS_TYPES:
            raise jwt.InvalidTokenError(NOT_ACCESS)
    scope = claims.get("scope")
    words = scope.split() if isinstance(scope, str) else scope
    if isinstance(words, list) and any(
        str(w).lower() in ("refresh", "refresh_token") for w in words
    ):
        raise jwt.InvalidTokenError(NOT_ACCESS)


async def _claims(token: str, config: JWTConfig) -> dict[str, Any]:
    """Checked claims of ``token``, or RefusedError."""
    try:
        if config.jwks_url:
            return await asyncio.to_thread(decode_token, token, config)
        return decode_token(token, config)
    except jwt.ExpiredSignatureError:
        raise RefusedError(CloseCode.TOKEN_EXPIRED, "token expired") from None
    except (PyJWKClientConnectionError, PyJWKSetError) as exc:
        logger.error("ws.jwks_unavailable", error=type(exc).__name__)
        raise RefusedError(CloseCode.INTERNAL_ERROR, UNAVAILABLE) from None
    except jwt.PyJWTError as exc:
        logger.info("ws.auth_failed", error=type(exc).__name__)
        reason = NOT_ACCESS if str(exc) == NOT_ACCESS else INVALID
        raise RefusedError(CloseCode.UNAUTHENTICATED, reason) from None


def _unverified(token: str) -> dict[str, Any]:
    """Claims of a token the host's check accepted (or refused), read
    without the key: for ``exp`` and the token's type only."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, options={"verify_signature": False, "verify_exp": False}
        )
    except jwt.PyJWTError:
        return {}
    return claims


def _user_of(result: Any) -> str | None:
    """The id of what the host's check returned: an id, a dict, an object."""
    if result is None or result is False:
        return None
    if isinstance(result, (str, int)) and not isinstance(result, bool):
        return str(result) or None
    for name in (user_claim(), "id", "user_id", "sub", "pk", "username"):
        value = (
            result.get(name)
            if isinstance(result, Mapping)
            else getattr(result, name, None)
        )
        if value is not None and str(value):
            return str(value)
    return None


async def _checked_by_host(token: str, verify: Verify) -> Identity:
    """The identity the host's own token check gives, or RefusedError."""
    claims = _unverified(token)
    try:
        result = verify(token)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:  # the host's check refuses by raising  # noqa: BLE001
        logger.info("ws.auth_failed", error=type(exc).__name__)
        result = None
    user = _user_of(result)
    exp = claims.get("exp")
    expired = isinstance(exp, (int, float)) and exp < time.time()
    if user is None:
        if expired:
            raise RefusedError(CloseCode.TOKEN_EXPIRED, "token expired")
        raise RefusedError(CloseCode.UNAUTHENTICATED, INVALID)
    try:
        refuse_non_access(claims)
    except jwt.InvalidTokenError:
        raise RefusedError(CloseCode.UNAUTHENTICATED, NOT_ACCESS) from None
    return Identity(
        user_id=user,
        authenticated=True,
        claims=claims,
        expires_at=float(exp) if isinstance(exp, (int, float)) else None,
        refresh=_refresher(user, verify),
    )


def _cookie_allowed(websocket: WebSocket, settings: WebSocketSettings) -> None:
    """A cookie rides along cross-site: only trust it from allowed origins.

    ``accept`` has already refused origins outside the allowlist.
    """
    if not settings.allowed_origins:
        logger.error(
            "ws.auth_misconfigured",
            problem="cookie tokens refused: WS_ALLOWED_ORIGINS is empty",
        )
        raise RefusedError(CloseCode.INTERNAL_ERROR, UNAVAILABLE)
    if websocket.headers.get("origin") is None:
        raise RefusedError(CloseCode.FORBIDDEN, "origin required")


async def _first_message(
    websocket: WebSocket,
    settings: WebSocketSettings,
) -> str | None:
    """The token of the first frame, ``{"type": "auth", "token": ...}``;
    None if the client left first."""
    loop = asyncio.get_running_loop()
    receiving = loop.create_task(websocket.receive())
    done, _ = await asyncio.wait({receiving}, timeout=settings.auth_timeout)
    if not done:
        receiving.cancel()
        raise RefusedError(CloseCode.UNAUTHENTICATED, "authentication timeout")
    message = receiving.result()
    if message["type"] == "websocket.disconnect":
        return None
    text: str | None = message.get("text")
    token = None
    if text is not None and len(text) <= settings.max_frame_bytes:
        token = auth_token(text)
    if token is None:
        raise RefusedError(CloseCode.UNAUTHENTICATED, "auth frame expected")
    return token


async def _token(
    websocket: WebSocket,
    settings: WebSocketSettings,
) -> str | None:
    """The token of the first enabled transport that has one; None if the
    client left while it was awaited."""
    transports = settings.auth_transports
    offered: list[str] = websocket.scope.get("subprotocols") or []
    if "subprotocol" in transports and SUBPROTOCOL in offered:
        position = offered.index(SUBPROTOCOL)
        if position + 1 < len(offered) and offered[position + 1]:
            return offered[position + 1]
    if "query" in transports:
        token = websocket.query_params.get("token")
        if token:
            return token
    if "cookie" in transports:
        token = websocket.cookies.get(settings.auth_cookie)
        if token:
            _cookie_allowed(websocket, settings)
            return token
    if "message" in transports:
        return await _first_message(websocket, settings)
    raise RefusedError(CloseCode.UNAUTHENTICATED, "missing token")


def _identity(claims: dict[str, Any]) -> Identity:
    user = user_id(claims)
    return Identity(
        user_id=user,
        authenticated=True,
        claims=claims,
        expires_at=float(claims["exp"]),
        refresh=_refresher(user),
    )


def _refresher(user: str, verify: Verify | None = None) -> Refresh:
    """Checks the token of an ``auth`` frame on an open connection."""

    async def refresh(token: str) -> Identity | ProtocolError:
        if verify is not None:
            try:
                identity = await _checked_by_host(token, verify)
            except RefusedError as refused:
                return ProtocolError(ErrorCode.INVALID_TOKEN, refused.reason)
            if identity.user_id != user:
                logger.warning("ws.auth_subject_changed", user_id=user)
                return ProtocolError(ErrorCode.FORBIDDEN, "not the same user")
            return identity
        config = load_jwt_config()
        problem = config.problem()
        if problem is not None:
            logger.error("ws.auth_misconfigured", problem=problem)
            return ProtocolError(ErrorCode.INTERNAL_ERROR, UNAVAILABLE)
        try:
            claims = await _claims(token, config)
        except RefusedError as refused:
            return ProtocolError(ErrorCode.INVALID_TOKEN, refused.reason)
        if user_id(claims) != user:
            logger.warning("ws.auth_subject_changed", user_id=user)
            return ProtocolError(ErrorCode.FORBIDDEN, "not the same user")
        return _identity(claims)

    return refresh


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
    config = load_jwt_config()
    problem = None if verify is not None else config.problem()
    try:
        if problem is not None:
            logger.error("ws.auth_misconfigured", problem=problem)
            raise RefusedError(CloseCode.INTERNAL_ERROR, UNAVAILABLE)
        token = await _token(websocket, settings)
        if token is None:
            return None  # gone before sending its auth frame
        if verify is not None:
            return await _checked_by_host(token, verify)
        return _identity(await _claims(token, config))
    except RefusedError as refused:
        await refuse(websocket, refused.code, refused.reason)
        return None
