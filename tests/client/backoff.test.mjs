// Backoff schedule of the generated client: full jitter within bounds, a
// capped ceiling, no attempt cap by default.

import assert from "node:assert/strict";
import { test } from "node:test";

import { loadClient, makeClient } from "./harness.mjs";

const { backoffDelay, DEFAULT_BACKOFF } = await loadClient();

function ceiling(attempt, { initialDelay, maxDelay, factor } = DEFAULT_BACKOFF) {
  return Math.min(maxDelay, initialDelay * factor ** attempt);
}

test("the ceiling doubles from initialDelay up to maxDelay", () => {
  const almostOne = () => 1 - Number.EPSILON;
  const ceilings = [];
  for (let attempt = 0; attempt < 10; attempt++) {
    ceilings.push(backoffDelay(attempt, {}, almostOne) + 1);
  }
  assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
});

test("full jitter: every delay is in [0, ceiling), spread over the whole range", () => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648; // a seeded LCG
    return seed / 2147483648;
  };
  for (let attempt = 0; attempt < 12; attempt++) {
    const top = ceiling(attempt);
    const delays = Array.from({ length: 400 }, () => backoffDelay(attempt, {}, random));
    for (const delay of delays) {
      assert.ok(Number.isInteger(delay) && delay >= 0 && delay < top, `${delay} not in [0, ${top})`);
    }
    // Full jitter, not "ceiling plus a little": low and high quarters both occur.
    assert.ok(delays.some((d) => d < top / 4), `attempt ${attempt}: nothing low`);
    assert.ok(delays.some((d) => d >= (3 * top) / 4), `attempt ${attempt}: nothing high`);
  }
});

test("the extremes of random() give 0 and just under the ceiling", () => {
  assert.equal(backoffDelay(3, {}, () => 0), 0);
  assert.equal(backoffDelay(3, {}, () => 0.999999), 3999);
});

test("the cap holds for huge attempt numbers and custom options", () => {
  const options = { initialDelay: 100, maxDelay: 5000, factor: 3 };
  for (const attempt of [5, 50, 1000, 1e6, Number.MAX_SAFE_INTEGER]) {
    const delay = backoffDelay(attempt, options, () => 0.999999);
    assert.ok(Number.isFinite(delay) && delay <= 5000 && delay >= 4999, `${attempt}: ${delay}`);
  }
  assert.equal(backoffDelay(0, options, () => 0.5), 50);
  assert.equal(backoffDelay(2, options, () => 0.5), 450);
});

test("the client waits the schedule between failed attempts, with no attempt cap", async () => {
  const { client, clock, sockets, events } = await makeClient({ random: () => 0.5 });
  // 40 refused connections in a row (network errors: 1006).
  for (let i = 0; i < 40; i++) {
    const socket = sockets.at(-1);
    socket.drop(1006);
    const event = events.at(-1);
    assert.equal(event.state, "reconnecting");
    assert.equal(event.delay, Math.floor(0.5 * ceiling(i)));
    assert.equal(sockets.length, i + 1, "no new socket before the delay");
    await clock.advance(event.delay);
    assert.equal(sockets.length, i + 2, `attempt ${i + 1} made`);
  }
  assert.equal(client.state, "connecting");
  // Connected: the schedule starts again from the first step.
  sockets.at(-1).accept();
  sockets.at(-1).drop(1006);
  assert.equal(events.at(-1).delay, 250);
  client.close();
});

test("maxAttempts, when set, ends with a closed state", async () => {
  const { client, clock, sockets, events } = await makeClient({ maxAttempts: 2 });
  for (let i = 0; i < 3; i++) {
    sockets.at(-1).drop(1006);
    await clock.advance(60000);
  }
  assert.equal(sockets.length, 3);
  assert.equal(client.state, "closed");
  assert.equal(events.at(-1).willRetry, false);
});
