"""The generated JavaScript client in headless Chromium, against a real
uvicorn server running the generated endpoint in a copy of the src_factory
example (its static folder serves chat.html and chat_client.js).

Chromium: the ``browser`` fixture of conftest.py (Debian's, no download;
skipped without it, except under CI).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.conftest import copy_example, free_port, run_wsgen

pytestmark = pytest.mark.live

SECRET = "browser-test-secret-" + "x" * 40
WAIT_MS = 30_000  # longest wait for any page condition

# Counts WebSocket constructions in the page: "one attempt" is measurable.
COUNT_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = 0;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets += 1;
    }
  };
})();
"""


def token_for(user: str, *, minutes: int = 10) -> str:
    now = int(time.time())
    return jwt.encode(
        {"sub": user, "iat": now, "exp": now + minutes * 60}, SECRET, algorithm="HS256"
    )


class Server:
    """uvicorn on a fixed loopback port; stopped and started again at will."""

    def __init__(self, project: Path, port: int) -> None:
        self.project = project
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = project / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(self.project / "src"),
            "WS_JWT_SECRET": SECRET,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "shop.app:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--ws",
                    "shop.websocket.uvicorn_protocol:WebSocketProtocol",
                ],
                cwd=self.project,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/api/health", timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"uvicorn did not start: {self.log()[-2000:]}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def handshakes(self) -> int:
        """WebSocket handshakes uvicorn logged so far."""
        return sum(
            1
            for line in self.log().splitlines()
            if '"WebSocket /ws/chat"' in line and "[accepted]" in line
        )


@pytest.fixture(scope="module")
def server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    project = copy_example("src_factory", tmp_path_factory.mktemp("browser"))
    result = run_wsgen(
        "chat",
        "--auth",
        "--rooms",
        "--broadcast",
        "--client",
        "js",
        "--accelerator",
        "uvicorn",
        "--yes",
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "src/shop/static/chat_client.js").is_file()
    assert not (project / "src/shop/static/chat_client.d.ts").exists()
    live = Server(project, free_port())
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    ctx.add_init_script(COUNT_SOCKETS)
    try:
        yield ctx
    finally:
        ctx.close()


def open_chat(context: Any, server: Server, token: str, room: str = "lobby") -> Any:
    page = context.new_page()
    page.goto(f"{server.base}/chat.html#token={token}&room={room}")
    return page


def wait_open(page: Any) -> None:
    page.wait_for_function(
        "window.chatClient && window.chatClient.state === 'open'", timeout=WAIT_MS
    )


def wait_line(page: Any, text: str) -> None:
    page.locator("#log li", has_text=text).first.wait_for(timeout=WAIT_MS)


def say(page: Any, text: str) -> None:
    page.fill("#send input[name=text]", text)
    page.press("#send input[name=text]", "Enter")


def count_joins(page: Any) -> None:
    # A function: a string whose value is a function would have that
    # function (here the unsubscribe) called by Playwright.
    page.evaluate(
        "() => { window.__joined = 0;"
        " window.chatClient.on('room_joined', () => { window.__joined += 1; }); }"
    )


def test_two_pages_chat_and_survive_a_server_restart(
    context: Any, server: Server
) -> None:
    alice = open_chat(context, server, token_for("alice"))
    wait_line(alice, "in lobby with alice")
    bob = open_chat(context, server, token_for("bob"))
    wait_line(bob, "in lobby with")
    wait_line(alice, "bob joined")
    for page in (alice, bob):
        assert page.evaluate("window.chatClient.session.user_id") in ("alice", "bob")
        count_joins(page)

    say(alice, "hello bob")
    wait_line(bob, "alice: hello bob")
    say(bob, "hi alice")
    wait_line(alice, "bob: hi alice")

    # Stop the server: both pages notice and keep trying.
    server.stop()
    for page in (alice, bob):
        page.wait_for_function(
            "['reconnecting', 'connecting'].includes(window.chatClient.state)",
            timeout=WAIT_MS,
        )
    # Sent while the server is down: queued, not dropped and not failed.
    say(alice, "sent while down")
    time.sleep(1.0)
    assert alice.locator("#log li.failed").count() == 0

    server.start()
    for page in (alice, bob):
        wait_open(page)
        # Rejoined without the page asking: the room_joined of the rejoin.
        page.wait_for_function("window.__joined >= 1", timeout=WAIT_MS)
    # The queued message went out after the rejoin: its echo is the proof
    # the server accepted it in the room.
    wait_line(alice, "alice: sent while down")
    assert alice.locator("#log li.failed").count() == 0

    say(bob, "back again")
    wait_line(alice, "bob: back again")
    say(alice, "welcome back")
    wait_line(bob, "alice: welcome back")
    # One socket before the restart and a few after it, for each page.
    for page in (alice, bob):
        assert page.evaluate("window.__sockets") >= 2


def test_an_invalid_token_stops_after_the_first_refusal(
    context: Any, server: Server
) -> None:
    before = server.handshakes()
    page = open_chat(context, server, "not-a-jwt")
    page.wait_for_function(
        "window.chatClient && window.chatClient.state === 'closed'", timeout=WAIT_MS
    )
    wait_line(page, "closed: 4001")
    # Longer than the first backoff steps: any retry would have happened.
    page.wait_for_timeout(3000)
    assert page.evaluate("window.chatClient.state") == "closed"
    assert page.evaluate("window.__sockets") == 1
    assert server.handshakes() - before == 1
    # Sending now rejects explicitly.
    code = page.evaluate(
        "window.chatClient.sendMessage('lobby', 'x').then(() => 'sent', (e) => e.code)"
    )
    assert code == "closed"


def test_sends_while_disconnected_reject_explicitly_when_they_cannot_wait(
    context: Any, server: Server
) -> None:
    page = context.new_page()
    page.goto(f"{server.base}/chat.html")
    nobody = free_port()  # nothing listens there: the client keeps retrying
    results = page.evaluate(
        """async (url) => {
          const { ChatClient } = await import('./chat_client.js');
          const client = new ChatClient({
            url, token: 'any', maxQueue: 2, queueTimeout: 1500,
          });
          const outcome = (promise) => promise.then(() => 'sent', (e) => e.code);
          const sends = [
            outcome(client.sendMessage('lobby', 'one')),
            outcome(client.sendMessage('lobby', 'two')),
            outcome(client.sendMessage('lobby', 'three')),
          ];
          const all = await Promise.all(sends);
          const state = client.state;
          client.close();
          return { all, state };
        }""",
        f"ws://127.0.0.1:{nobody}/ws/chat",
    )
    assert results["all"] == ["queue_timeout", "queue_timeout", "queue_full"]
    assert results["state"] in ("connecting", "reconnecting")
