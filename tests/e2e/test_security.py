"""Security of a generated ``--auth`` endpoint against real uvicorn servers
on loopback, one per configuration (WS_* environment variables).

Every hostile token is refused with the documented close code, every
transport admits a valid token, RS256 works with a PEM public key and with
a JWKS served from a local HTTP server, expiry is enforced on an open
connection (and moved by an ``auth`` refresh), and no token a client sent
ever shows up in the servers' logs (uvicorn and structlog lines alike).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import copy_example, free_port, run_wsgen

pytestmark = pytest.mark.live

crypto = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")

SECRET = "security-test-secret-" + "s" * 40
AUDIENCE = "wsgen-tests"
ISSUER = "https://issuer.example"
GOOD_ORIGIN = "https://app.example"
EVIL_ORIGIN = "https://evil.example"
ROUTE = "/api/v1/ws/chat"
KID = "test-key-1"
# Every token a client sent: none may show up in any server's log.
SENT: list[str] = []

PRIVATE_KEY = crypto.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = (
    PRIVATE_KEY.public_key()
    .public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    .decode()
)
OTHER_KEY = crypto.generate_private_key(public_exponent=65537, key_size=2048)


def sent(token: str) -> str:
    SENT.append(token)
    return token


def claims(sub: str | None = "alice", ttl: int = 300, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + ttl, "aud": AUDIENCE, "iss": ISSUER}
    payload.update(extra)
    return {k: v for k, v in payload.items() if v is not None}


def hs256(sub: str | None = "alice", *, key: str = SECRET, **extra: Any) -> str:
    return sent(jwt.encode(claims(sub, **extra), key, algorithm="HS256"))


def rs256(sub: str = "alice", *, key: Any = PRIVATE_KEY, kid: str = KID) -> str:
    return sent(jwt.encode(claims(sub), key, algorithm="RS256", headers={"kid": kid}))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(alg: str, key: bytes | None, kid: str | None = KID) -> str:
    """A token whose header picks its own algorithm: ``none``, or HS256
    keyed with the server's RSA public key (what pyjwt will not encode)."""
    header = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = (
        b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims()).encode())
    )
    signature = b""
    if key is not None:
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return sent(signing_input + "." + b64(signature))


# -- servers -------------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class JwksServer:
    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_example("api_aggregator", tmp_path_factory.mktemp("security"))
    # WS_JWT_* only: the example's own SECRET_KEY must not be used.
    result = run_wsgen(
        "chat", "--auth", "--rooms", "--no-host-jwt", "--yes", "--no-verify", cwd=root
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return root


# Servers started with more than the defaults: uvicorn's most verbose log
# level (headers, frames, ASGI scopes) and no lifespan at all.
SERVER_ARGS = {"hs-trace": ["--log-level", "trace", "--lifespan", "off"]}


def launch(project: Path, name: str, settings: dict[str, str]) -> Server:
    port = free_port()
    proxies = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("WS_")}
    env = {k: v for k, v in env.items() if k.lower() not in proxies}
    env.update(settings, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    log_path = project / f"server-{name}.log"
    with log_path.open("wb") as log:  # a file: an unread pipe would block
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app"]
            + ["--host", "127.0.0.1", "--port", str(port)]
            + SERVER_ARGS.get(name, []),
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Server(name, f"ws://127.0.0.1:{port}{ROUTE}", proc, log_path)


def wait_ready(server: Server) -> None:
    health = server.url.replace("ws://", "http://").replace(
        ROUTE, "/api/v1/openapi.json"
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(health, timeout=1).close()
            return
        except OSError:
            if server.proc.poll() is not None or time.monotonic() > deadline:
                server.proc.kill()
                pytest.fail(
                    f"uvicorn {server.name} did not start: {server.log()[-2000:]}"
                )
            time.sleep(0.1)


def stop(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    """The public key published as a JWKS on loopback; counts fetches."""
    key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(PRIVATE_KEY.public_key()))
    body = json.dumps({"keys": [{**key, "kid": KID, "alg": "RS256", "use": "sig"}]})
    state = JwksServer("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/.well-known/jwks.json"
    yield state
    httpd.shutdown()
    httpd.server_close()


def configurations(jwks_url: str) -> dict[str, dict[str, str]]:
    common = {"WS_JWT_AUDIENCE": AUDIENCE, "WS_JWT_ISSUER": ISSUER}
    return {
        # HS256; subprotocol, query and first message; an Origin allowlist.
        "hs": {
            **common,
            "WS_JWT_SECRET": SECRET,
            "WS_JWT_ALGORITHMS": "HS256",
            "WS_AUTH_TRANSPORTS": "subprotocol,query,message",
            "WS_AUTH_TIMEOUT": "1",
            "WS_ALLOWED_ORIGINS": GOOD_ORIGIN,
        },
        # The same, served at --log-level trace with --lifespan off.
        "hs-trace": {
            **common,
            "WS_JWT_SECRET": SECRET,
            "WS_JWT_ALGORITHMS": "HS256",
            "WS_AUTH_TRANSPORTS": "subprotocol,query,message",
        },
        # The cookie transport only, with the allowlist it requires...
        "cookie": {
            **common,
            "WS_JWT_SECRET": SECRET,
            "WS_AUTH_TRANSPORTS": "cookie",
            "WS_AUTH_COOKIE": "session_jwt",
            "WS_ALLOWED_ORIGINS": f"{GOOD_ORIGIN},https://admin.example",
        },
        # ... and without it.
        "cookie-open": {
            **common,
            "WS_JWT_SECRET": SECRET,
            "WS_AUTH_TRANSPORTS": "cookie",
        },
        # RS256, the PEM public key with newlines escaped as in a .env file.
        "rs-pem": {
            **common,
            "WS_JWT_PUBLIC_KEY": PUBLIC_PEM.replace("\n", "\\n"),
            "WS_JWT_ALGORITHMS": "RS256",
        },
        # RS256, keys from the JWKS server above.
        "rs-jwks": {
            **common,
            "WS_JWT_JWKS_URL": jwks_url,
            "WS_JWT_ALGORITHMS": "RS256",
        },
    }


@pytest.fixture(scope="module")
def servers(project: Path, jwks: JwksServer) -> Iterator[dict[str, Server]]:
    """One uvicorn per configuration, started side by side."""
    started = {
        name: launch(project, name, settings)
        for name, settings in configurations(jwks.url).items()
    }
    try:
        for server in started.values():
            wait_ready(server)
        yield started
    finally:
        for server in started.values():
            stop(server)


@pytest.fixture(scope="module")
def hs(servers: dict[str, Server]) -> Server:
    return servers["hs"]


@pytest.fixture(scope="module")
def cookie(servers: dict[str, Server]) -> Server:
    return servers["cookie"]


@pytest.fixture(scope="module")
def cookie_without_allowlist(servers: dict[str, Server]) -> Server:
    return servers["cookie-open"]


@pytest.fixture(scope="module")
def rs_pem(servers: dict[str, Server]) -> Server:
    return servers["rs-pem"]


@pytest.fixture(scope="module")
def rs_jwks(servers: dict[str, Server]) -> Server:
    return servers["rs-jwks"]


# -- client helpers --------------------------------------------------------------


def open_socket(
    url: str,
    *,
    token: str | None = None,
    query: str | None = None,
    cookie: tuple[str, str] | None = None,
    origin: str | None = None,
) -> ClientConnection:
    headers = {"Cookie": f"{cookie[0]}={cookie[1]}"} if cookie else None
    return connect(
        url + (f"?token={query}" if query else ""),
        subprotocols=["bearer", token] if token else None,  # type: ignore[list-item]
        additional_headers=headers,
        origin=origin,  # type: ignore[arg-type]
        proxy=None,
        open_timeout=5,
    )


def receive(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return frame


def closed_with(ws: ClientConnection, timeout: float = 5) -> tuple[int | None, str]:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=timeout)
    rcvd = closed.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd else (None, "")


def refused(url: str, **how: Any) -> tuple[int | None, str]:
    with open_socket(url, **how) as ws:
        return closed_with(ws)


def admitted(ws: ClientConnection) -> str:
    frame = receive(ws)
    assert frame["type"] == "connected", frame
    ws.send(json.dumps({"type": "ping"}))
    assert receive(ws)["type"] == "pong"
    return str(frame["user_id"])


# -- refusals ------------------------------------------------------------------

UNAUTHENTICATED = (4001, "invalid token")

HS_REFUSALS: dict[str, tuple[Callable[[], str], tuple[int, str]]] = {
    "malformed": (lambda: sent("not-a-jwt"), UNAUTHENTICATED),
    "bad-signature": (lambda: hs256(key="w" * 48), UNAUTHENTICATED),
    "alg-none": (lambda: forged("none", None), UNAUTHENTICATED),
    "expired": (lambda: hs256(ttl=-300), (4009, "token expired")),
    "not-yet-valid": (lambda: hs256(nbf=int(time.time()) + 300), UNAUTHENTICATED),
    "issued-in-future": (lambda: hs256(iat=int(time.time()) + 300), UNAUTHENTICATED),
    "wrong-audience": (lambda: hs256(aud="someone-else"), UNAUTHENTICATED),
    "wrong-issuer": (lambda: hs256(iss="https://evil.example"), UNAUTHENTICATED),
    "missing-sub": (lambda: hs256(None), UNAUTHENTICATED),
    "missing-exp": (lambda: hs256(exp=None), UNAUTHENTICATED),
}


@pytest.mark.parametrize("case", sorted(HS_REFUSALS))
def test_hs256_refusals(hs: Server, case: str) -> None:
    make, expected = HS_REFUSALS[case]
    assert refused(hs.url, token=make()) == expected
    # The same verdict whichever transport carried the token.
    assert refused(hs.url, query=make()) == expected


def test_no_token_is_refused(rs_pem: Server, cookie: Server) -> None:
    assert refused(rs_pem.url) == (4001, "missing token")
    assert refused(cookie.url, origin=GOOD_ORIGIN) == (4001, "missing token")


def test_first_message_must_come_in_time(hs: Server) -> None:
    assert refused(hs.url) == (4001, "authentication timeout")
    with open_socket(hs.url) as ws:
        ws.send(json.dumps({"type": "join_room", "room_id": "lobby"}))
        assert closed_with(ws) == (4001, "auth frame expected")
    with open_socket(hs.url) as ws:
        ws.send(json.dumps({"type": "auth", "token": hs256(key="x" * 48)}))
        assert closed_with(ws) == UNAUTHENTICATED


def test_origin_outside_allowlist_is_refused(hs: Server) -> None:
    assert refused(hs.url, token=hs256(), origin=EVIL_ORIGIN) == (
        4003,
        "origin not allowed",
    )


def test_cookie_from_evil_origin_is_refused(cookie: Server) -> None:
    jar = ("session_jwt", hs256())
    assert refused(cookie.url, cookie=jar, origin=EVIL_ORIGIN) == (
        4003,
        "origin not allowed",
    )
    # A cookie without any Origin cannot be told apart from a forged one.
    assert refused(cookie.url, cookie=jar) == (4003, "origin required")
    # A token under another cookie name is no token.
    wrong = ("access_token", hs256())
    assert refused(cookie.url, cookie=wrong, origin=GOOD_ORIGIN) == (
        4001,
        "missing token",
    )


def test_cookie_without_allowlist_is_never_trusted(
    cookie_without_allowlist: Server,
) -> None:
    server = cookie_without_allowlist
    jar = ("access_token", hs256())
    for origin in (GOOD_ORIGIN, EVIL_ORIGIN):
        assert refused(server.url, cookie=jar, origin=origin) == (
            1011,
            "authentication unavailable",
        )
    assert "WS_ALLOWED_ORIGINS is empty" in server.log()


@pytest.mark.parametrize("server_name", ["rs_pem", "rs_jwks"])
def test_rs256_refusals(server_name: str, request: pytest.FixtureRequest) -> None:
    server: Server = request.getfixturevalue(server_name)
    public = PUBLIC_PEM.encode()
    # HS/RS confusion: the public key is public, so anyone can HMAC with it.
    assert refused(server.url, token=forged("HS256", public)) == UNAUTHENTICATED
    assert refused(server.url, token=forged("none", None)) == UNAUTHENTICATED
    assert refused(server.url, token=rs256(key=OTHER_KEY)) == UNAUTHENTICATED
    assert refused(server.url, token=hs256()) == UNAUTHENTICATED


def test_jwks_unknown_kid_is_refused(rs_jwks: Server) -> None:
    assert refused(rs_jwks.url, token=rs256(kid="rotated-away")) == UNAUTHENTICATED


def test_expiry_mid_connection_closes_with_4009(hs: Server) -> None:
    token = hs256(ttl=2)
    with open_socket(hs.url, token=token) as ws:
        assert admitted(ws) == "alice"
        assert closed_with(ws, timeout=10) == (4009, "token expired")


# -- valid connections -------------------------------------------------------------


def test_subprotocol_transport(hs: Server) -> None:
    with open_socket(hs.url, token=hs256(), origin=GOOD_ORIGIN) as ws:
        assert ws.subprotocol == "bearer"
        assert admitted(ws) == "alice"


def test_query_transport(hs: Server) -> None:
    with open_socket(hs.url, query=hs256("bob")) as ws:
        assert ws.subprotocol is None
        assert admitted(ws) == "bob"


def test_first_message_transport(hs: Server) -> None:
    with open_socket(hs.url) as ws:
        ws.send(json.dumps({"type": "auth", "token": hs256("carol")}))
        assert admitted(ws) == "carol"


def test_cookie_transport_with_allowed_origin(cookie: Server) -> None:
    for origin in (GOOD_ORIGIN, "https://admin.example"):
        jar = ("session_jwt", hs256("dave"))
        with open_socket(cookie.url, cookie=jar, origin=origin) as ws:
            assert admitted(ws) == "dave"


def test_rs256_with_public_key(rs_pem: Server) -> None:
    with open_socket(rs_pem.url, token=rs256("erin")) as ws:
        assert admitted(ws) == "erin"


def test_rs256_with_jwks_keys_are_cached(rs_jwks: Server, jwks: JwksServer) -> None:
    for user in ("frank", "grace", "heidi"):
        with open_socket(rs_jwks.url, token=rs256(user)) as ws:
            assert admitted(ws) == user
    # Fetched once for all three (a refusal above may have added a refetch).
    fetches = len(jwks.hits)
    with open_socket(rs_jwks.url, token=rs256("ivan")) as ws:
        assert admitted(ws) == "ivan"
    assert len(jwks.hits) == fetches
    assert fetches >= 1


def test_auth_frame_refreshes_the_token(hs: Server) -> None:
    with open_socket(hs.url, token=hs256(ttl=2)) as ws:
        assert admitted(ws) == "alice"
        ws.send(json.dumps({"type": "auth", "token": hs256("mallory")}))
        assert receive(ws)["code"] == "forbidden"  # another user: refused
        ws.send(json.dumps({"type": "auth", "token": hs256(ttl=600)}))
        ok = receive(ws)
        assert ok["type"] == "auth_ok"
        assert ok["expires_at"] > time.time() + 500
        time.sleep(3)  # the first token has expired by now
        ws.send(json.dumps({"type": "ping"}))
        assert receive(ws)["type"] == "pong"


# -- logs --------------------------------------------------------------------------


def test_no_token_in_a_trace_log_without_lifespan(
    servers: dict[str, Server],
) -> None:
    """uvicorn at ``--log-level trace`` logs handshake headers, frames and
    ASGI scopes, and with ``--lifespan off`` no startup ever runs: every
    transport's token stays out of the log all the same."""
    server = servers["hs-trace"]
    tokens = [hs256(), hs256(), hs256(), hs256(ttl=600), hs256("mallory")]
    with open_socket(server.url, query=tokens[0]) as ws:
        assert admitted(ws) == "alice"
    with open_socket(server.url, token=tokens[1]) as ws:
        assert admitted(ws) == "alice"
        ws.send(json.dumps({"type": "auth", "token": tokens[3]}))
        assert receive(ws)["type"] == "auth_ok"
        ws.send(json.dumps({"type": "auth", "token": tokens[4]}))
        assert receive(ws)["code"] == "forbidden"
    with open_socket(server.url) as ws:
        ws.send(json.dumps({"type": "auth", "token": tokens[2]}))
        assert admitted(ws) == "alice"
    stop(server)  # flushes the last lines
    log = server.log()
    assert "TRACE" in log and "ASGI [" in log  # the trace level was on
    assert "bearer, [redacted]" in log  # the handshake headers were logged
    assert '"token": "[redacted]"' in log  # and so were the auth frames
    pieces = {part for token in tokens for part in token.split(".")}
    leaked = [piece for piece in pieces if len(piece) > 20 and piece in log]
    assert leaked == [], log[-3000:]


def test_no_token_in_any_server_log(servers: dict[str, Server]) -> None:
    """Runs last: every server's log (uvicorn and structlog) is free of
    every token sent to any of them, even refused and forged ones."""
    for server in servers.values():
        stop(server)  # flushes the last lines
    logs = {name: server.log() for name, server in servers.items()}
    assert "?token=[redacted]" in logs["hs"]  # the handshakes were logged
    assert "ws.refused" in logs["hs"]  # and so were the refusals
    assert len(SENT) >= 30
    for name, log in logs.items():
        leaked = [token for token in SENT if token in log]
        assert leaked == [], f"{name}: {log[-2000:]}"
        # Nor any piece of a token long enough to matter (signatures).
        pieces = {part for token in SENT for part in token.split(".") if len(part) > 40}
        assert not [part for part in pieces if part in log], name
