"""Keys that verify JWT signatures (needs ``pyjwt``; RS/ES/PS need
``cryptography``, as in ``pyjwt[crypto]``).

One family per configuration, never both: HMAC algorithms (HS256/384/512)
verify with a shared secret, public-key algorithms (RS*, PS*, ES*, EdDSA)
with ``WS_JWT_PUBLIC_KEY`` (PEM) or the keys published at
``WS_JWT_JWKS_URL``. Because the algorithms are pinned and a family has one
kind of key, a token cannot pick its own algorithm: ``alg: none`` and an
HS256 token signed with the RSA public key as its secret are both refused.

JWKS keys are looked up by the token's ``kid`` and cached by one
``PyJWKClient`` per URL for the life of the process (an unknown ``kid``
refetches the set, at most once per cooldown on recent pyjwt). Fetching
blocks, so callers run it in a worker thread.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any, Final
from urllib.parse import urlsplit

import jwt
from jwt.algorithms import get_default_algorithms, has_crypto
from jwt.exceptions import InvalidKeyError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "MIN_SECRET_BYTES",
    "jwks_client",
    "key_problem",
    "verification_key",
]

MIN_SECRET_BYTES: Final = 32
HMAC_ALGORITHMS: Final = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS: Final = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
    }
)
# Seconds the fetched key set is reused, and a fetch may take.
JWKS_LIFESPAN: Final = 300.0
JWKS_TIMEOUT: Final = 5.0
LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})

_clients: dict[str, jwt.PyJWKClient] = {}
_clients_lock = threading.Lock()


def jwks_client(url: str) -> jwt.PyJWKClient:
    """The process-wide client of ``url``: its key cache outlives sockets."""
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = jwt.PyJWKClient(
                url,
                cache_keys=True,
                lifespan=JWKS_LIFESPAN,
                timeout=JWKS_TIMEOUT,
            )
            _clients[url] = client
        return client


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


def key_problem(
    algorithms: tuple[str, ...],
    secret: str | None,
    public_key: str | None,
    jwks_url: str | None,
) -> str | None:
    """Why no token could be verified with these settings, if so."""
    chosen = set(algorithms)
    unsupported = chosen - HMAC_ALGORITHMS - ASYMMETRIC_ALGORITHMS
    if not chosen or unsupported:
        return f"unsupported JWT algorithms {sorted(unsupported)}"
    if chosen <= HMAC_ALGORITHMS:
        if not secret:
            return "no JWT secret configured (WS_JWT_SECRET)"
        if len(secret.encode()) < MIN_SECRET_BYTES:
            return f"JWT secret shorter than {MIN_SECRET_BYTES} bytes"
        return None
    if not chosen <= ASYMMETRIC_ALGORITHMS:
        return "WS_JWT_ALGORITHMS mixes HMAC and public-key algorithms"
    if not has_crypto:
        return "public-key JWT algorithms need `pip install pyjwt[crypto]`"
    if public_key and jwks_url:
        return "set WS_JWT_PUBLIC_KEY or WS_JWT_JWKS_URL, not both"
    if jwks_url:
        return _url_problem(jwks_url)
    if public_key:
        return _pem_problem(public_key, algorithms)
    return "no JWT public key configured (WS_JWT_PUBLIC_KEY, WS_JWT_JWKS_URL)"


def verification_key(
    token: str,
    algorithms: tuple[str, ...],
    secret: str | None,
    public_key: str | None,
    jwks_url: str | None,
) -> Any:
    """The key to check ``token`` with; a JWKS lookup may block."""
    if set(algorithms) <= HMAC_ALGORITHMS:
        return secret
    if jwks_url:
        return jwks_client(jwks_url).get_signing_key_from_jwt(token).key
    return public_key
