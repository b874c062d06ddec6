// Shared helpers of the client's Node tests: the generated module, a fake
// WebSocket driven by the test, and a manual clock.
//
// WSGEN_CLIENT_MODULE names an endpoint's generated client, NAME_client.js
// (test_client_node.py renders one and sets it). It re-exports the shared
// core beside it (ws_client.js and the ws_*.js modules it imports), so the
// tests reach the policy, the queue and the client through one module.

import { pathToFileURL } from "node:url";

export async function loadClient() {
  const path = process.env.WSGEN_CLIENT_MODULE;
  if (!path) throw new Error("set WSGEN_CLIENT_MODULE to a generated *_client.js");
  return import(pathToFileURL(path).href);
}

/** setTimeout/clearTimeout on a clock that moves only when told to. */
export class ManualClock {
  constructor() {
    this.now = 0;
    this.nextId = 1;
    this.timers = new Map(); // id -> {at, callback, delay}
    this.scheduled = []; // every delay ever asked for, in order
    this.api = {
      setTimeout: (callback, delay) => {
        const id = this.nextId++;
        this.timers.set(id, { at: this.now + Math.max(0, delay), callback, delay });
        this.scheduled.push(delay);
        return id;
      },
      clearTimeout: (id) => {
        this.timers.delete(id);
      },
    };
  }

  /** Run every timer due within `ms`, in time order, settling promises between them. */
  async advance(ms) {
    const end = this.now + ms;
    for (let guard = 0; guard < 10000; guard++) {
      await settle();
      let nextId = null;
      let next = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (next === null || timer.at < next.at)) {
          nextId = id;
          next = timer;
        }
      }
      if (next === null) break;
      this.timers.delete(nextId);
      this.now = next.at;
      next.callback();
    }
    this.now = end;
    await settle();
  }
}

/** Let pending promise callbacks run. */
export async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A WebSocket whose server side is the test. */
export function fakeWebSocketClass() {
  const sockets = [];
  class FakeSocket {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      this.sent = [];
      this.closedWith = null;
      this.onopen = null;
      this.onmessage = null;
      this.onclose = null;
      this.onerror = null;
      sockets.push(this);
    }

    send(data) {
      if (this.readyState !== 1) throw new Error("not open");
      this.sent.push(JSON.parse(data));
    }

    close(code, reason) {
      this.closedWith = { code, reason };
      this.readyState = 3;
    }

    // -- the server's side
    accept(userId = "alice") {
      this.readyState = 1;
      if (this.onopen) this.onopen({});
      this.push({ type: "connected", user_id: userId, connection_id: "c" + sockets.length, message: "connected" });
    }

    push(frame) {
      if (this.onmessage) this.onmessage({ data: JSON.stringify(frame) });
    }

    drop(code, reason = "") {
      this.readyState = 3;
      if (this.onclose) this.onclose({ code, reason });
    }

    types() {
      return this.sent.map((frame) => frame.type);
    }
  }
  return { FakeSocket, sockets };
}

/** A client on a fake socket and a manual clock; random fixed at 0.5 unless given. */
export async function makeClient(options = {}) {
  const module = await loadClient();
  const Client = module.default;
  const clock = new ManualClock();
  const { FakeSocket, sockets } = fakeWebSocketClass();
  const events = [];
  const client = new Client({
    url: "ws://127.0.0.1:9/ws/chat",
    token: "t0",
    WebSocket: FakeSocket,
    timers: clock.api,
    random: () => 0.5,
    ...options,
  });
  for (const state of module.STATES) client.on(state, (event) => events.push(event));
  await settle();
  return { module, client, clock, sockets, events };
}
