// Cross-worker variant of load.js's latency and fanout scenarios.
//
// The same measurement as load.js (paced sender stamping performance.now()
// into the content, spinning the last half millisecond; percentiles over
// every receiver's copy), but the sender and the receivers may connect to
// different servers: `sender_url` and `receiver_urls` (receivers are spread
// over these round-robin). Used by bench/redis_bench.py; argv[2] is a JSON
// config, one JSON result line goes to stdout. Only 127.0.0.1.
'use strict';

const { performance } = require('perf_hooks');
const WebSocket = require('ws');

const cfg = JSON.parse(process.argv[2]);
for (const url of [cfg.sender_url, ...cfg.receiver_urls]) {
  if (!/^ws:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error('benchmarks only talk to 127.0.0.1');
}

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HEAD = 80; // room history (--recover) puts seq and epoch before the type
const MESSAGE_TYPE = /"type": ?"message"/;
const isMessage = (data) => data.length > 16 && MESSAGE_TYPE.test(data.toString('latin1', 0, HEAD));
let lastAnyFrame = 0;
// The sender's timestamp, read where it starts in the content: parsing the
// JSON of 20,000 frames/s would take the CPU the servers compete for.
const CONTENT = Buffer.from('"content":"');
const stampOf = (data) => {
  const start = data.indexOf(CONTENT) + CONTENT.length;
  return Number(data.toString('latin1', start, data.indexOf(0x7c, start)));
};

function openClient(url, room, timeoutMs) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const c = { ws, joined: false, count: 0, doneAt: null, onMessage: null, closeCode: null };
    const timer = setTimeout(() => { if (!c.joined) { ws.terminate(); resolve(c); } }, timeoutMs);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'join_room', room_id: room })));
    ws.on('message', (data) => {
      lastAnyFrame = now();
      if (c.onMessage !== null) { c.onMessage(c, data); return; }
      if (!c.joined && data.toString().includes('room_joined')) { c.joined = true; clearTimeout(timer); resolve(c); }
    });
    ws.on('close', (code) => { c.closeCode = code; clearTimeout(timer); resolve(c); });
    ws.on('error', () => {});
  });
}

async function openMany(n, concurrency, timeoutMs) {
  const out = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const k = next++;
      out[k] = await openClient(cfg.receiver_urls[k % cfg.receiver_urls.length], 'bench', timeoutMs);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

async function settle(quietMs, maxMs) {
  const t0 = now();
  while (now() - t0 < maxMs) {
    if (now() - lastAnyFrame >= quietMs) return;
    await sleep(Math.min(50, quietMs));
  }
}

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k];
}

const pad = (prefix, size) => (prefix.length >= size ? prefix : prefix + 'x'.repeat(size - prefix.length));
const closeAll = (clients) => { for (const c of clients) { try { c.ws.terminate(); } catch (e) { /* gone */ } } };

async function setupRoom(R) {
  const clients = await openMany(R, 50, 20000);
  const sender = await openClient(cfg.sender_url, 'bench', 20000);
  await settle(300, 10000);
  return { clients, sender, joined: clients.filter((c) => c.joined).length };
}

async function latency() {
  const R = cfg.receivers, rate = cfg.rate, M = Math.round(rate * cfg.duration_s);
  const { clients, sender, joined } = await setupRoom(R);
  if (joined < R || !sender.joined) return { error: `joined ${joined}/${R}, sender ${sender.joined}` };
  const lat = new Float64Array(R * M);
  let n = 0;
  const onMsg = (c, data) => {
    if (!isMessage(data)) return;
    const sentAt = stampOf(data);
    if (n < lat.length) lat[n++] = now() - sentAt;
    c.count++;
  };
  for (const c of clients) c.onMessage = onMsg;
  sender.onMessage = () => {};
  const t0 = now();
  const interval = 1000 / rate;
  for (let k = 0; k < M; k++) {
    const due = t0 + k * interval;
    const wait = due - now();
    if (wait > 1) await sleep(wait - 0.5);
    while (now() < due) { /* spin the last half millisecond */ }
    sender.ws.send(JSON.stringify({ type: 'message', room_id: 'bench', content: pad(`${now().toFixed(3)}|${k}|`, cfg.size) }));
  }
  const deadline = now() + cfg.drain_ms;
  while (n < R * M && now() < deadline) await sleep(5);
  closeAll(clients); closeAll([sender]);
  const sorted = Array.from(lat.subarray(0, n)).sort((a, b) => a - b);
  return {
    receivers: R, rate, messages: M, delivered: n, expected: R * M,
    p50_ms: pct(sorted, 50), p90_ms: pct(sorted, 90), p99_ms: pct(sorted, 99),
    max_ms: sorted.length ? sorted[sorted.length - 1] : null,
  };
}

async function fanout() {
  const R = cfg.receivers, M = cfg.messages;
  const { clients, sender, joined } = await setupRoom(R);
  if (joined < R || !sender.joined) return { error: `joined ${joined}/${R}, sender ${sender.joined}` };
  let n = 0;
  let lastAt = 0;
  const onMsg = (c, data) => { if (isMessage(data)) { n++; c.count++; lastAt = now(); } };
  for (const c of clients) c.onMessage = onMsg;
  sender.onMessage = () => {};
  const t0 = now();
  for (let k = 0; k < M; k++) {
    while (sender.ws.bufferedAmount > 1 << 20) await sleep(1);
    sender.ws.send(JSON.stringify({ type: 'message', room_id: 'bench', content: pad(`${k}|`, cfg.size) }));
  }
  const deadline = now() + cfg.drain_ms;
  while (n < R * M && now() < deadline) await sleep(5);
  closeAll(clients); closeAll([sender]);
  const seconds = (lastAt - t0) / 1000;
  return {
    receivers: R, messages: M, delivered: n, expected: R * M,
    seconds, deliveries_per_s: seconds > 0 ? n / seconds : null,
  };
}

(async () => {
  const hard = setTimeout(() => { process.stdout.write(JSON.stringify({ error: 'client hard timeout' }) + '\n'); process.exit(2); }, 180000);
  let result;
  try {
    result = await ({ latency, fanout })[cfg.scenario]();
  } catch (e) {
    result = { error: String((e && e.stack) || e) };
  }
  clearTimeout(hard);
  process.stdout.write(JSON.stringify(result) + '\n');
  setTimeout(() => process.exit(0), 200);
})();
