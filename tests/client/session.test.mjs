// Generated client, one connection at a time: rooms rejoined after a
// reconnect, the bounded queue, promises that settle, the ping timeout.

import assert from "node:assert/strict";
import { test } from "node:test";

import { loadClient, makeClient, settle } from "./harness.mjs";

const { ClientError, SERVER_MESSAGE_TYPES } = await loadClient();

test("rooms are joined again after a reconnect, before queued frames", async () => {
  const { client, clock, sockets } = await makeClient();
  sockets[0].accept();
  const joined = client.joinRoom("lobby");
  await settle();
  sockets[0].push({ type: "room_joined", room_id: "lobby", users: ["alice"] });
  assert.deepEqual((await joined).users, ["alice"]);
  sockets[0].drop(1006);
  const queued = client.sendMessage("lobby", "while away");
  await clock.advance(1000);
  assert.equal(sockets.length, 2);
  assert.deepEqual(sockets[1].sent, [], "nothing before the server said connected");
  sockets[1].accept();
  await settle();
  assert.deepEqual(sockets[1].sent, [
    { type: "join_room", room_id: "lobby" },
    { type: "message", room_id: "lobby", content: "while away" },
  ]);
  sockets[1].push({
    type: "message", id: "m1", seq: 1, room_id: "lobby", user_id: "alice",
    content: "while away", timestamp: "2024-01-01T00:00:00+00:00",
  });
  assert.equal((await queued).id, "m1");
  assert.deepEqual(client.rooms, ["lobby"]);
  client.close();
});

test("the queue is bounded: overflow rejects at once, never drops silently", async () => {
  const { client, clock, sockets } = await makeClient({ maxQueue: 3, queueTimeout: 5000 });
  const results = [1, 2, 3, 4, 5].map((n) =>
    client.send("typing", { room_id: `r${n}` }).then(() => "sent", (error) => error.code),
  );
  await settle();
  assert.deepEqual(await Promise.all(results.slice(3)), ["queue_full", "queue_full"]);
  // Never connected in time: the queued frames reject too.
  await clock.advance(5000);
  assert.deepEqual(await Promise.all(results.slice(0, 3)), ["queue_timeout", "queue_timeout", "queue_timeout"]);
  assert.ok(sockets.length >= 1);
  client.close();
});

test("queued frames are written in order once connected", async () => {
  const { client, sockets } = await makeClient();
  const sends = [client.send("typing", { room_id: "a" }), client.ping(), client.send("typing", { room_id: "b" })];
  sockets[0].accept();
  await settle();
  assert.deepEqual(sockets[0].types(), ["typing", "ping", "typing"]);
  sockets[0].push({ type: "pong", timestamp: "t" });
  const [first, pong, last] = await Promise.all(sends);
  assert.equal(first, undefined);
  assert.equal(pong.type, "pong");
  assert.equal(last, undefined);
  client.close();
});

test("a message written but not echoed before a drop rejects as unconfirmed", async () => {
  const { client, sockets } = await makeClient();
  sockets[0].accept();
  const pending = client.sendMessage("lobby", "lost?").catch((error) => error);
  await settle();
  sockets[0].drop(1006);
  const error = await pending;
  assert.ok(error instanceof ClientError);
  assert.equal(error.code, "unconfirmed");
  client.close();
});

test("a refused join rejects and is not joined again", async () => {
  const { client, sockets } = await makeClient();
  sockets[0].accept();
  const joined = client.joinRoom("secret").catch((error) => error);
  await settle();
  sockets[0].push({ type: "error", code: "forbidden", message: "not allowed in room" });
  const error = await joined;
  assert.equal(error.code, "server_error");
  assert.equal(error.serverCode, "forbidden");
  assert.deepEqual(client.rooms, []);
  client.close();
});

test("a silent connection is dropped after the ping timeout and reconnects", async () => {
  const { client, clock, sockets, events } = await makeClient({ pingInterval: 1000, pingTimeout: 500 });
  sockets[0].accept();
  await clock.advance(1000);
  assert.deepEqual(sockets[0].types(), ["ping"]);
  sockets[0].push({ type: "pong", timestamp: "t" });
  await clock.advance(1000);
  assert.deepEqual(sockets[0].types(), ["ping", "ping"]);
  await clock.advance(500); // no answer: half-open
  assert.ok(sockets[0].closedWith, "the dead socket is closed");
  assert.equal(events.find((e) => e.state === "reconnecting").reason, "ping timeout");
  await clock.advance(1000);
  assert.equal(sockets.length, 2);
  client.close();
});

test("a socket that never says connected times out and reconnects", async () => {
  const { client, clock, sockets } = await makeClient({ connectTimeout: 2000 });
  await clock.advance(2000);
  assert.ok(sockets[0].closedWith);
  await clock.advance(1000);
  assert.equal(sockets.length, 2);
  client.close();
});

test("on(type) is called for every server frame type, state events in order", async () => {
  const { client, clock, sockets, events } = await makeClient();
  const seen = [];
  for (const type of SERVER_MESSAGE_TYPES) client.on(type, (frame) => seen.push(frame.type));
  const unsubscribe = client.on("typing", () => seen.push("second typing handler"));
  unsubscribe();
  sockets[0].accept();
  for (const type of SERVER_MESSAGE_TYPES.filter((t) => t !== "connected")) sockets[0].push({ type });
  assert.deepEqual(seen, [...SERVER_MESSAGE_TYPES]);
  sockets[0].drop(1006);
  await clock.advance(1000);
  client.close();
  assert.deepEqual(events.map((e) => e.state), ["connecting", "open", "reconnecting", "connecting", "closed"]);
  assert.equal(events[1].session.user_id, "alice");
});

test("a throwing handler does not break the client", async () => {
  const { client, sockets } = await makeClient();
  const errors = [];
  const original = console.error;
  console.error = (error) => errors.push(error);
  try {
    client.on("message", () => {
      throw new Error("boom");
    });
    sockets[0].accept();
    sockets[0].push({ type: "message", content: "x" });
  } finally {
    console.error = original;
  }
  assert.equal(client.state, "open");
  assert.equal(errors.length, 1);
  client.close();
});

test("sending after close() rejects; without a WebSocket the constructor throws", async () => {
  const { module, client } = await makeClient();
  client.close();
  await assert.rejects(client.sendMessage("lobby", "late"), { code: "closed" });
  assert.throws(() => new module.default({ url: "ws://127.0.0.1:9/", WebSocket: null, autoConnect: false }), TypeError);
  assert.throws(() => new module.default({ WebSocket: class {}, autoConnect: false }), TypeError);
});

test("nothing is written on an open socket before the server says connected", async () => {
  const { client, sockets } = await makeClient();
  sockets[0].readyState = 1; // the handshake is done, `connected` not there yet
  const sent = client.send("typing", { room_id: "a" });
  const joined = client.joinRoom("lobby");
  await settle();
  assert.deepEqual(sockets[0].sent, []);
  sockets[0].accept();
  await sent;
  assert.deepEqual(sockets[0].types(), ["join_room", "typing"]);
  sockets[0].push({ type: "room_joined", room_id: "lobby", users: [] });
  assert.equal((await joined).room_id, "lobby");
  client.close();
});

test("leaveRoom: answered by room_left, done at once while disconnected", async () => {
  const { client, clock, sockets } = await makeClient();
  sockets[0].accept();
  client.joinRoom("a").catch(() => {});
  client.joinRoom("b").catch(() => {});
  const left = client.leaveRoom("a");
  await settle();
  assert.deepEqual(sockets[0].sent.at(-1), { type: "leave_room", room_id: "a" });
  sockets[0].push({ type: "room_left", room_id: "a" });
  assert.equal((await left).type, "room_left");
  // Dropped before the answer: left all the same, never joined again.
  const leftB = client.leaveRoom("b");
  await settle();
  sockets[0].drop(1006);
  assert.deepEqual(await leftB, { type: "room_left", room_id: "b" });
  assert.deepEqual(await client.leaveRoom("c"), { type: "room_left", room_id: "c" });
  await clock.advance(1000);
  sockets[1].accept();
  assert.deepEqual(sockets[1].sent, []);
  assert.deepEqual(client.rooms, []);
  client.close();
});
