"""Recoverable rooms (`--recover --backend redis`) in headless Chromium: the
generated client on a page loses its connection when the worker it used
stops, reconnects to a second worker on the same redis-server, and shows
every message sent meanwhile exactly once, in order.

All on loopback: the page and its client files come from a static server,
its WebSocket goes through a small TCP relay (a load balancer's part) whose
upstream moves from worker one to worker two; a Python client on worker two
sends the messages. Needs Chromium (conftest.py) and Debian's
`redis-server`: skipped without them, except under CI, where they fail.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import copy_example, free_port
from tests.e2e.test_recovery import ROOM, generate, join, say
from tests.e2e.test_redis import (
    Worker,
    open_as,
    start_worker,
    token_for,
    worker_env,
)
from tests.redis_server import RedisServer, redis_server_binary

pytestmark = pytest.mark.live

T = TypeVar("T")
WAIT_MS = 30_000  # longest wait for any page condition
BEFORE, MISSED, LIVE = 3, 20, 30

# The page: the generated client, every message it shows kept in order.
PAGE = """\
<!doctype html>
<meta charset="utf-8">
<title>recoverable room</title>
<ul id="log"></ul>
<script type="module">
  import { ChatClient } from "./chat_client.js";
  const params = new URLSearchParams(location.hash.slice(1));
  const client = new ChatClient({ url: params.get("url"), token: params.get("token") });
  window.shown = [];
  window.recovered = [];
  client.on("message", (frame) => {
    window.shown.push(frame.content);
    const line = document.createElement("li");
    line.textContent = `${frame.user_id}: ${frame.content}`;
    document.getElementById("log").append(line);
  });
  client.on("recovered", (event) => window.recovered.push(event));
  window.chatClient = client;
  client.joinRoom(params.get("room")).then(() => { window.joined = true; });
</script>
"""


class Relay:
    """A TCP relay on loopback: each new connection goes to the port in
    ``upstream`` at that moment; one to a stopped worker is closed at once."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    "127.0.0.1", self.upstream
                )
            except OSError:
                return
            try:
                await asyncio.gather(
                    self._pipe(reader, up_writer), self._pipe(up_reader, writer)
                )
            finally:
                up_writer.close()
        finally:
            writer.close()
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()  # either side gone: both are


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Loop:
    """An event loop in a thread: the relay and the Python client run there
    while the test drives the page (Playwright's sync API) in this one."""

    loop: asyncio.AbstractEventLoop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


async def cancel_all() -> None:
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def loop() -> Iterator[Loop]:
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    try:
        yield Loop(running)
    finally:
        Loop(running).run(cancel_all())  # what a failed test left open
        running.call_soon_threadsafe(running.stop)
        thread.join(10)
        running.close()


@pytest.fixture
def project(browser: Any, tmp_path: Path) -> Path:
    redis_server_binary()
    root = generate(copy_example("api_aggregator", tmp_path), "--backend", "redis")
    (root / "static/recover.html").write_text(PAGE)
    return root


@pytest.fixture
def redis(project: Path) -> Iterator[RedisServer]:
    server = RedisServer(redis_server_binary(), free_port(), project / "redis.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def static(project: Path) -> Iterator[str]:
    handler = functools.partial(Quiet, directory=str(project / "static"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


def shown(page: Any) -> list[str]:
    contents: list[str] = page.evaluate("window.shown")
    return contents


def wait_shown(page: Any, content: str) -> None:
    page.wait_for_function(
        "(content) => window.shown.includes(content)", arg=content, timeout=WAIT_MS
    )


async def say_slowly(ws: Any, contents: list[str], pause: float) -> None:
    for content in contents:
        await say(ws, [content])
        await asyncio.sleep(pause)


def test_a_page_reconnected_to_another_worker_shows_each_missed_message_once(
    browser: Any,
    project: Path,
    redis: RedisServer,
    workers: list[Worker],
    static: str,
    loop: Loop,
) -> None:
    env = worker_env(redis.url)
    workers.append(start_worker(project, "one", env))
    workers.append(start_worker(project, "two", env))
    one, two = workers
    relay = Relay(one.port)
    loop.run(relay.start())
    context = browser.new_context()
    try:
        page = context.new_page()
        url = f"ws://127.0.0.1:{relay.port}/api/v1/ws/chat"
        # Neither the URL nor a JWT needs escaping in the fragment.
        fragment = f"url={url}&room={ROOM}&token={token_for('bob')}"
        page.goto(f"{static}/recover.html#{fragment}")
        page.wait_for_function("window.joined === true", timeout=WAIT_MS)

        # Alice, on worker two, talks to bob's page, on worker one.
        alice = loop.run(open_as(two, "alice"))
        loop.run(join(alice))
        before = [f"before {i}" for i in range(BEFORE)]
        loop.run(say(alice, before))
        wait_shown(page, before[-1])

        # Worker one stops: the page keeps retrying through the relay, which
        # still points at it, while alice goes on talking.
        one.stop()
        page.wait_for_function("window.chatClient.state !== 'open'", timeout=WAIT_MS)
        missed = [f"missed {i}" for i in range(MISSED)]
        loop.run(say(alice, missed))
        assert page.evaluate("window.chatClient.state") != "open"
        assert shown(page) == before

        # The relay now leads to worker two: the page rejoins with `since`
        # while alice keeps talking (live ones around the replay).
        relay.upstream = two.port
        live = [f"live {i}" for i in range(LIVE)]
        loop.run(say_slowly(alice, live, 0.05))
        wait_shown(page, live[-1])  # the last one: the others came before it
        page.wait_for_timeout(500)  # a late duplicate would be here by now

        assert shown(page) == before + missed + live
        assert page.evaluate("window.recovered") == [
            {"room_id": ROOM, "recovered": True}
        ]
        assert page.evaluate("window.chatClient.state") == "open"
        loop.run(alice.close())
    finally:
        context.close()
        loop.run(relay.stop())
