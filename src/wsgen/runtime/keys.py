"""The settings and keys that verify JWT signatures (needs ``pyjwt``;
RS/ES/PS need ``cryptography``, as in ``pyjwt[crypto]``).

One family per configuration, never both: HMAC algorithms (HS256/384/512)
verify with a shared secret of at least 32 bytes, public-key algorithms
(RS*, PS*, ES*, EdDSA) with ``WS_JWT_PUBLIC_KEY`` (PEM) or the keys
published at ``WS_JWT_JWKS_URL``. Because the algorithms are pinned and a
family has one kind of key, a token cannot pick its own algorithm:
``alg: none`` and an HS256 token signed with the RSA public key as its
secret are both refused.

JWKS keys are looked up by the token's ``kid`` and cached by one
``PyJWKClient`` per URL for the life of the process (an unknown ``kid``
refetches the set). Fetching blocks, so callers run it in a worker thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Final
from urllib.parse import urlsplit

import jwt
from jwt.algorithms import get_default_algorithms, has_crypto
from jwt.exceptions import InvalidKeyError

from .host import jwt_settings

__all__ = ["MIN_SECRET_BYTES", "JWTConfig", "jwks_client", "load_jwt_config"]

MIN_SECRET_BYTES: Final = 32
HMAC: Final = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    | {"ES256", "ES384", "ES512", "EdDSA"}
)
# Seconds the fetched key set is reused, and a fetch may take.
JWKS_LIFESPAN: Final = 300.0
JWKS_TIMEOUT: Final = 5.0
LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class JWTConfig:
    """How tokens are checked (``load_jwt_config`` reads it)."""

    secret: str | None
    algorithms: tuple[str, ...] = ("HS256",)
    audience: str | None = None
    issuer: str | None = None
    leeway: float = 10.0
    public_key: str | None = None
    jwks_url: str | None = None

    def problem(self) -> str | None:
        """Why no token could be verified with these settings, if so."""
        chosen = set(self.algorithms)
        unknown = chosen - HMAC - PUBLIC_KEY
        if not chosen or unknown:
            return f"unsupported JWT algorithms {sorted(unknown)}"
        if chosen <= HMAC:
            if not self.secret:
                return "no JWT secret configured (WS_JWT_SECRET)"
            if len(self.secret.encode()) < MIN_SECRET_BYTES:
                return f"JWT secret shorter than {MIN_SECRET_BYTES} bytes"
            return None
        if not chosen <= PUBLIC_KEY:
            return "WS_JWT_ALGORITHMS mixes HMAC and public-key algorithms"
        if not has_crypto:
            return "public-key JWT algorithms need `pip install pyjwt[crypto]`"
        if self.public_key and self.jwks_url:
            return "set WS_JWT_PUBLIC_KEY or WS_JWT_JWKS_URL, not both"
        if self.jwks_url:
            return _url_problem(self.jwks_url)
        if self.public_key:
            return _pem_problem(self.public_key, self.algorithms)
        return "no JWT public key (WS_JWT_PUBLIC_KEY or WS_JWT_JWKS_URL)"

    def key(self, token: str) -> Any:
        """The key to check ``token`` with; a JWKS lookup may block."""
        if set(self.algorithms) <= HMAC:
            return self.secret
        if self.jwks_url:
            client = jwks_client(self.jwks_url)
            return client.get_signing_key_from_jwt(token).key
        return self.public_key


def env_value(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def _plain(value: Any) -> str | None:
    """Host settings may hold a pydantic ``SecretStr``."""
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if callable(reveal) else value) if value else None


def load_jwt_config() -> JWTConfig:
    """Read the JWT settings now; environment variables take precedence."""
    public_key = env_value("WS_JWT_PUBLIC_KEY")
    jwks_url = env_value("WS_JWT_JWKS_URL")
    host_secret, host_algorithm = jwt_settings() or (None, None)
    secret = env_value("WS_JWT_SECRET") or _plain(host_secret)
    # A public key or key set alone means RS256 unless told otherwise.
    asymmetric = (public_key or jwks_url) and not secret
    default = _plain(host_algorithm) or ("RS256" if asymmetric else "HS256")
    names = (env_value("WS_JWT_ALGORITHMS") or default).split(",")
    return JWTConfig(
        secret=secret,
        algorithms=tuple(name.strip() for name in names if name.strip()),
        audience=env_value("WS_JWT_AUDIENCE"),
        issuer=env_value("WS_JWT_ISSUER"),
        leeway=float(env_value("WS_JWT_LEEWAY") or 10),
        # PEM text on one line (a .env file) may spell newlines as ``\n``.
        public_key=public_key and public_key.replace("\\n", "\n"),
        jwks_url=jwks_url,
    )


@cache  # one client per URL: its key cache outlives the sockets
def jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(
        url, cache_keys=True, lifespan=JWKS_LIFESPAN, timeout=JWKS_TIMEOUT
    )


def _url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return None  # a sidecar or a test server on this machine
    return "WS_JWT_JWKS_URL must be an https:// URL"


@lru_cache(maxsize=8)  # checked on every connect; a key parses once
def _pem_problem(pem: str, algorithms: tuple[str, ...]) -> str | None:
    if "PRIVATE KEY" in pem:
        return "WS_JWT_PUBLIC_KEY holds a private key; give the public one"
    registry = get_default_algorithms()
    for name in algorithms:
        try:
            registry[name].prepare_key(pem)
        except (InvalidKeyError, ValueError, TypeError):
            return f"WS_JWT_PUBLIC_KEY is not a PEM public key for {name}"
    return None
