// Close-code policy of the generated client: which codes stop it, which
// reconnect at once, which refresh the token, which back off.

import assert from "node:assert/strict";
import { test } from "node:test";

import { loadClient, makeClient } from "./harness.mjs";

const { closePolicy, CloseCode, ClientError, restartDelay } = await loadClient();

test("the policy table follows the server's close codes", () => {
  assert.equal(closePolicy(CloseCode.UNAUTHENTICATED), "stop");
  assert.equal(closePolicy(CloseCode.FORBIDDEN), "stop");
  assert.equal(closePolicy(CloseCode.TOKEN_EXPIRED), "refresh");
  assert.equal(closePolicy(CloseCode.GOING_AWAY), "restart");
  assert.equal(closePolicy(CloseCode.SERVICE_RESTART), "restart");
  assert.equal(closePolicy(CloseCode.POLICY_VIOLATION), "slow");
  for (const code of [1000, 1006, 1009, 1011, 1013, 4000, 4999]) {
    assert.equal(closePolicy(code), "backoff", String(code));
  }
  assert.deepEqual(
    [
      CloseCode.UNAUTHENTICATED, CloseCode.FORBIDDEN, CloseCode.TOKEN_EXPIRED,
      CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART,
    ],
    [4001, 4003, 4009, 1001, 1012],
  );
});

for (const code of [4001, 4003]) {
  test(`${code} stops for good: no second attempt, sends reject`, async () => {
    const refreshed = [];
    const { client, clock, sockets, events } = await makeClient({
      refreshToken: (request) => {
        refreshed.push(request);
        return "t-new";
      },
    });
    const queued = client.send("ping");
    sockets[0].accept();
    await queued;
    const pending = client.sendMessage("lobby", "hi").catch((error) => error);
    sockets[0].drop(code, "refused");
    await clock.advance(10 * 60 * 1000);
    assert.equal(sockets.length, 1, "never reconnects");
    assert.deepEqual(refreshed, [], "no token refresh either");
    assert.equal(client.state, "closed");
    assert.equal(events.at(-1).code, code);
    assert.equal(events.at(-1).willRetry, false);
    const error = await pending;
    assert.ok(error instanceof ClientError && error.code === "closed", String(error));
    await assert.rejects(client.send("ping"), { code: "closed" });
  });
}

test("a refusal before any connection stops too (invalid token at the handshake)", async () => {
  const { client, clock, sockets } = await makeClient();
  sockets[0].readyState = 1;
  sockets[0].drop(4001, "invalid token");
  await clock.advance(10 * 60 * 1000);
  assert.equal(sockets.length, 1);
  assert.equal(client.state, "closed");
});

test("4009 refreshes the token and reconnects at once with it", async () => {
  const refreshed = [];
  const { client, clock, sockets, events } = await makeClient({
    refreshToken: (request) => {
      refreshed.push(request.reason);
      return `t${refreshed.length}`;
    },
  });
  assert.deepEqual(sockets[0].protocols, ["bearer", "t0"]);
  sockets[0].accept();
  sockets[0].drop(4009, "token expired");
  assert.equal(events.at(-1).state, "reconnecting");
  assert.equal(events.at(-1).delay, 0);
  await clock.advance(0);
  assert.deepEqual(refreshed, ["expired"]);
  assert.equal(sockets.length, 2);
  assert.deepEqual(sockets[1].protocols, ["bearer", "t1"]);
  // A fresh token refused as expired again: back off instead of spinning.
  sockets[1].drop(4009, "token expired");
  assert.ok(events.at(-1).delay > 0);
  client.close();
});

test("4009 without a refresh callback stops: the same token would fail", async () => {
  const { client, clock, sockets } = await makeClient();
  sockets[0].accept();
  sockets[0].drop(4009, "token expired");
  await clock.advance(60000);
  assert.equal(sockets.length, 1);
  assert.equal(client.state, "closed");
});

test("the refresh callback runs before every reconnect; the query transport carries it", async () => {
  const reasons = [];
  const { client, clock, sockets } = await makeClient({
    tokenTransport: "query",
    refreshToken: ({ reason }) => {
      reasons.push(reason);
      return `fresh-${reasons.length}`;
    },
  });
  assert.equal(new URL(sockets[0].url).searchParams.get("token"), "t0");
  assert.equal(sockets[0].protocols, undefined);
  sockets[0].drop(1006);
  await clock.advance(1000);
  sockets[1].drop(1011);
  await clock.advance(1000);
  assert.deepEqual(reasons, ["reconnect", "reconnect"]);
  assert.equal(new URL(sockets[2].url).searchParams.get("token"), "fresh-2");
  client.close();
});

test("a refresh callback returning null stops the client", async () => {
  const { client, clock, sockets } = await makeClient({ refreshToken: () => null });
  sockets[0].drop(1006);
  await clock.advance(60000);
  assert.equal(sockets.length, 1);
  assert.equal(client.state, "closed");
});

for (const code of [1012, 1001]) {
  test(`${code}: back within a second while the server restarts, then backs off`, async () => {
    const { client, clock, sockets, events } = await makeClient({ restart: { attempts: 3 } });
    sockets[0].accept();
    sockets[0].drop(code, "server shutting down");
    // random() is 0.5: 250 + 0.5 * 750 ms, under a second.
    assert.equal(events.at(-1).delay, 625);
    await clock.advance(625);
    assert.equal(sockets.length, 2);
    // The server is still down: the next tries stay quick...
    sockets[1].drop(1006);
    assert.equal(events.at(-1).delay, 625);
    await clock.advance(625);
    sockets[2].drop(1006);
    assert.equal(events.at(-1).delay, 625);
    await clock.advance(625);
    // ...until `restart.attempts` are spent: then the usual backoff.
    sockets[3].drop(1006);
    assert.equal(events.at(-1).delay, 2000); // 0.5 * 500 * 2**3 (fourth failure)
    await clock.advance(2000);
    // Back: a later restart gets quick retries again.
    sockets[4].accept();
    sockets[4].drop(code);
    assert.equal(events.at(-1).delay, 625);
    client.close();
  });
}

test("restartDelay spreads retries over [delay/4, delay)", () => {
  assert.equal(restartDelay(1000, () => 0), 250);
  assert.equal(restartDelay(1000, () => 0.999), 999);
  assert.equal(restartDelay(400, () => 0.5), 250);
});

test("1008 backs off slower, other codes back off from the first step", async () => {
  const { client, sockets, events } = await makeClient();
  sockets[0].accept();
  sockets[0].drop(1008, "rate limit exceeded");
  assert.equal(events.at(-1).delay, 2000); // 0.5 * 500 * 2**3
  client.close();
  for (const code of [1000, 1006, 1011, 1013]) {
    const other = await makeClient();
    other.sockets[0].accept();
    other.sockets[0].drop(code);
    assert.equal(other.events.at(-1).delay, 250, String(code));
    other.client.close();
  }
});

test("close() stops reconnecting, even during a backoff wait", async () => {
  const { client, clock, sockets, events } = await makeClient();
  sockets[0].accept();
  sockets[0].drop(1006);
  assert.equal(client.state, "reconnecting");
  client.close();
  assert.equal(client.state, "closed");
  await clock.advance(10 * 60 * 1000);
  assert.equal(sockets.length, 1);
  assert.equal(events.filter((e) => e.state === "closed").length, 1);
  // And on an open connection: the socket is closed with 1000.
  const open = await makeClient();
  open.sockets[0].accept();
  open.client.close();
  assert.deepEqual(open.sockets[0].closedWith, { code: 1000, reason: "client closed" });
  await open.clock.advance(10 * 60 * 1000);
  assert.equal(open.sockets.length, 1);
});
