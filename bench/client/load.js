// Load client for the wsgen WebSocket benchmarks.
//
// One process, one scenario per run; the orchestrator (bench/run.py) passes a
// JSON config as argv[2] and reads one JSON result line from stdout.
// Scenarios: fanout, latency, stall, idle. Every loop is bounded in count and
// time, and every URL must point at 127.0.0.1.
//
// The client is kept cheaper per frame than the servers it measures: frames
// are classified by their first bytes, and only the latency scenario parses
// JSON (it needs the sender's timestamp from the content).
'use strict';

const fs = require('fs');
const crypto = require('crypto');
const { performance } = require('perf_hooks');
const WebSocket = require('ws');

const cfg = JSON.parse(process.argv[2]);
if (!/^ws:\/\/127\.0\.0\.1:\d+\//.test(cfg.url)) {
  throw new Error('benchmarks only talk to 127.0.0.1');
}

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => { if (cfg.verbose) console.error('[client]', ...a); };

// ---------------------------------------------------------------- server probes

function rssKiB() {
  try {
    const status = fs.readFileSync(`/proc/${cfg.server_pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return m ? Number(m[1]) : null;
  } catch (e) {
    return null;
  }
}

// The server's own CPU time (user + system, ms) from /proc/PID/stat: holds
// even when the client is what saturates. Fields 14 and 15, after the
// parenthesised command name (which may contain spaces).
const TICKS_PER_S = Number(process.env.CLK_TCK || 100);
// Besides, from /proc/PID/io, the write system calls the server made
// (syscw): frames per write tells how much the server's transports batch.
function serverUsage() {
  try {
    const stat = fs.readFileSync(`/proc/${cfg.server_pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const user = (Number(fields[11]) * 1000) / TICKS_PER_S;
    const sys = (Number(fields[12]) * 1000) / TICKS_PER_S;
    let writes = null;
    try {
      const io = fs.readFileSync(`/proc/${cfg.server_pid}/io`, 'utf8');
      const m = /syscw:\s+(\d+)/.exec(io);
      writes = m ? Number(m[1]) : null;
    } catch (e) { /* not readable here: no write counts */ }
    // The window's wall time and the client's own CPU: which side is busy.
    return { total: user + sys, sys, writes, at: now(), client: process.cpuUsage() };
  } catch (e) {
    return null;
  }
}

function cpuPerDelivery(before, delivered) {
  const after = serverUsage();
  if (before === null || after === null || !delivered) return {};
  const cpuMs = after.total - before.total;
  const out = {
    server_cpu_ms: cpuMs,
    cpu_us_per_delivery: (cpuMs * 1000) / delivered,
    sys_us_per_delivery: ((after.sys - before.sys) * 1000) / delivered,
  };
  const wallMs = after.at - before.at;
  const client = process.cpuUsage(before.client);
  out.server_busy = cpuMs / wallMs;
  out.client_busy = (client.user + client.system) / 1000 / wallMs;
  if (before.writes !== null && after.writes !== null) {
    out.writes_per_delivery = (after.writes - before.writes) / delivered;
  }
  return out;
}

// State of the server's side of the TCP connection to a client port, from
// /proc/net/tcp: '01' ESTABLISHED, other codes once the server started to
// close it, null once the socket is gone.
function serverSocketState(clientPort) {
  const hex = (p) => p.toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hex(cfg.port)}`;
  const remote = `0100007F:${hex(clientPort)}`;
  const lines = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n');
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote) return f[3];
  }
  return null;
}

// ---------------------------------------------------------------- connections

const HEAD = 80; // room history (--recover) puts seq and epoch before the type
const MESSAGE_TYPE = /"type": ?"message"/;
function isMessage(data) {
  // '{"type":"message"' or '{"type": "message"', within the first bytes.
  return data.length > 16 && MESSAGE_TYPE.test(data.toString('latin1', 0, HEAD));
}

let tokens = null;
function connUrlAndProtocols(i) {
  let url = cfg.url;
  let protocols;
  if (cfg.user_query) url += (url.includes('?') ? '&' : '?') + `user_id=u${i}`;
  if (cfg.tokens_file) {
    if (tokens === null) tokens = JSON.parse(fs.readFileSync(cfg.tokens_file, 'utf8'));
    protocols = ['bearer', tokens[i % tokens.length]];
  }
  return { url, protocols };
}

// Opens a client, joins `room`, resolves once `room_joined` arrived.
function openClient(i, room, timeoutMs) {
  return new Promise((resolve) => {
    const { url, protocols } = connUrlAndProtocols(i);
    const ws = new WebSocket(url, protocols, {
      perMessageDeflate: !!cfg.deflate,
      handshakeTimeout: timeoutMs,
      maxPayload: 64 * 1024 * 1024,
    });
    const c = {
      i, ws, joined: false, count: 0, frames: 0, doneAt: null,
      closeCode: null, closeAt: null, errors: 0, lastFrameAt: 0, onMessage: null,
    };
    const timer = setTimeout(() => { if (!c.joined) { ws.terminate(); resolve(c); } }, timeoutMs);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'join_room', room_id: room })));
    ws.on('message', (data, isBinary) => {
      c.frames++;
      c.lastFrameAt = now();
      lastAnyFrame = c.lastFrameAt;
      if (c.onMessage !== null) { c.onMessage(c, data); return; }
      if (!c.joined) {
        const s = data.toString();
        if (s.includes('room_joined')) { c.joined = true; clearTimeout(timer); resolve(c); }
        else if (s.includes('"error"')) { c.errors++; }
      }
    });
    ws.on('close', (code) => { c.closeCode = code; c.closeAt = now(); clearTimeout(timer); resolve(c); });
    ws.on('error', () => { c.errors++; });
  });
}

let lastAnyFrame = 0;

async function openMany(n, roomOf, concurrency, timeoutMs, offset = 0) {
  const out = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const k = next++;
      out[k] = await openClient(offset + k, roomOf(k), timeoutMs);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

// Waits until no frame arrived for `quietMs` (presence floods after joins).
async function settle(quietMs, maxMs) {
  const t0 = now();
  while (now() - t0 < maxMs) {
    if (now() - lastAnyFrame >= quietMs) return;
    await sleep(Math.min(50, quietMs));
  }
}

function closeAll(clients) {
  for (const c of clients) { try { c.ws.terminate(); } catch (e) { /* gone */ } }
}

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k];
}

function closeSummary(clients) {
  const codes = {};
  for (const c of clients) if (c.closeCode !== null) codes[c.closeCode] = (codes[c.closeCode] || 0) + 1;
  return codes;
}

function pad(prefix, size) {
  return prefix.length >= size ? prefix : prefix + 'x'.repeat(size - prefix.length);
}

async function sendBounded(ws, text, maxBuffered, deadline) {
  while (ws.bufferedAmount > maxBuffered && now() < deadline) await sleep(1);
  ws.send(text);
}

// ---------------------------------------------------------------- scenarios

async function setupRoom(receivers) {
  const openTimeout = cfg.open_timeout_ms || 20000;
  const clients = await openMany(receivers, () => 'bench', cfg.concurrency || 50, openTimeout);
  const sender = await openClient(receivers, 'bench', openTimeout);
  await settle(300, 10000);
  const joined = clients.filter((c) => c.joined).length;
  return { clients, sender, joined };
}

async function fanout() {
  const R = cfg.receivers, M = cfg.messages;
  const { clients, sender, joined } = await setupRoom(R);
  if (joined < R || !sender.joined) return { error: `joined ${joined}/${R}, sender ${sender.joined}` };
  let finished = 0, tEnd = null;
  const t0 = now();
  const onMsg = (c, data) => {
    if (!isMessage(data)) return;
    if (++c.count === M) { c.doneAt = now(); if (++finished === R) tEnd = c.doneAt; }
  };
  for (const c of clients) c.onMessage = onMsg;
  let senderErrors = 0;
  sender.onMessage = (c, data) => { if (data.toString('latin1', 0, HEAD).includes('error')) senderErrors++; };
  const cpuBefore = serverUsage();
  const deadline = t0 + cfg.time_bound_ms;
  for (let k = 0; k < M; k++) sender.ws.send(JSON.stringify({ type: 'message', room_id: 'bench', content: pad(`m${k}|`, cfg.size) }));
  while (tEnd === null && now() < deadline) await sleep(2);
  const end = tEnd === null ? now() : tEnd;
  const delivered = clients.reduce((s, c) => s + c.count, 0);
  const cpu = cpuPerDelivery(cpuBefore, delivered);
  const elapsed = (end - t0) / 1000;
  closeAll(clients); closeAll([sender]);
  return {
    receivers: R, messages: M, delivered, expected: R * M, complete: tEnd !== null,
    elapsed_s: elapsed, deliveries_per_s: delivered / elapsed, ...cpu,
    sender_errors: senderErrors, closes: closeSummary(clients),
  };
}

async function latency() {
  const R = cfg.receivers, rate = cfg.rate, M = Math.round(rate * cfg.duration_s);
  const { clients, sender, joined } = await setupRoom(R);
  if (joined < R || !sender.joined) return { error: `joined ${joined}/${R}, sender ${sender.joined}` };
  const lat = new Float64Array(R * M);
  let n = 0;
  const onMsg = (c, data) => {
    if (!isMessage(data)) return;
    const content = JSON.parse(data.toString()).content;
    const sentAt = Number(content.slice(0, content.indexOf('|')));
    if (n < lat.length) lat[n++] = now() - sentAt;
    c.count++;
  };
  for (const c of clients) c.onMessage = onMsg;
  let senderErrors = 0;
  sender.onMessage = (c, data) => { if (data.toString('latin1', 0, HEAD).includes('error')) senderErrors++; };
  const cpuBefore = serverUsage();
  const t0 = now();
  const interval = 1000 / rate;
  for (let k = 0; k < M; k++) {
    const due = t0 + k * interval;
    const wait = due - now();
    if (wait > 1) await sleep(wait - 0.5);
    while (now() < due) { /* spin the last half millisecond */ }
    sender.ws.send(JSON.stringify({ type: 'message', room_id: 'bench', content: pad(`${now().toFixed(3)}|${k}|`, cfg.size) }));
  }
  const sendSeconds = (now() - t0) / 1000;
  const deadline = now() + cfg.drain_ms;
  while (n < R * M && now() < deadline) await sleep(5);
  const cpu = cpuPerDelivery(cpuBefore, n);
  closeAll(clients); closeAll([sender]);
  const sorted = Array.from(lat.subarray(0, n)).sort((a, b) => a - b);
  return {
    receivers: R, rate, messages: M, send_seconds: sendSeconds,
    delivered: n, expected: R * M,
    p50_ms: pct(sorted, 50), p90_ms: pct(sorted, 90), p99_ms: pct(sorted, 99),
    max_ms: sorted.length ? sorted[sorted.length - 1] : null, ...cpu,
    sender_errors: senderErrors, closes: closeSummary(clients),
  };
}

async function stall() {
  const R = cfg.receivers, M = cfg.messages, size = cfg.size;
  const openTimeout = cfg.open_timeout_ms || 20000;
  const clients = await openMany(R, () => 'bench', 20, openTimeout);
  const stalled = await openClient(R, 'bench', openTimeout);
  const sender = await openClient(R + 1, 'bench', openTimeout);
  await settle(300, 5000);
  if (clients.some((c) => !c.joined) || !stalled.joined || !sender.joined) return { error: 'join failed' };
  const stalledPort = stalled.ws._socket.localPort;
  stalled.ws._socket.pause(); // stops reading: the kernel buffers fill, then the server's writes stall
  stalled.onMessage = (c, data) => { if (isMessage(data)) c.count++; };
  // Incompressible: fresh random bytes per message, base64 so it fits a JSON string.
  const payloads = Array.from({ length: M }, (_, k) => JSON.stringify({
    type: 'message', room_id: 'bench',
    content: `${k}|` + crypto.randomBytes(Math.ceil((size * 3) / 4)).toString('base64').slice(0, size),
  }));
  // Eviction as the room sees it: servers with presence announce the stalled
  // user's departure with `user_left` as soon as they drop the connection.
  let evictedAt = null;
  const onMsg = (c, data) => {
    if (isMessage(data)) { if (++c.count === M) c.doneAt = now(); }
    else if (evictedAt === null && data.toString('latin1', 0, HEAD).includes('user_left')) evictedAt = now();
  };
  for (const c of clients) c.onMessage = onMsg;
  sender.onMessage = onMsg;
  const rssBefore = rssKiB();
  let rssMax = rssBefore;
  let stalledClosedAt = null, stalledState = '01';
  const t0 = now();
  const probe = setInterval(() => {
    const r = rssKiB();
    if (r !== null && r > rssMax) rssMax = r;
    if (stalledClosedAt === null) {
      const st = serverSocketState(stalledPort);
      if (st !== '01') { stalledClosedAt = now(); stalledState = st; }
    }
  }, cfg.probe_ms || 50);
  const hardDeadline = t0 + cfg.time_bound_ms;
  // `window` > 0: the sender stays at most `window` messages ahead of the
  // slowest live reader (healthy readers that keep up; only the stalled one
  // falls behind). 0: the sender bursts as fast as its socket takes frames.
  let stop = false;
  const minLive = () => clients.reduce((m, c) => Math.min(m, c.count), Infinity);
  const sending = (async () => {
    for (let k = 0; k < M && !stop && now() < hardDeadline; k++) {
      if (cfg.window > 0) while (!stop && k - minLive() > cfg.window && now() < hardDeadline) await sleep(1);
      await sendBounded(sender.ws, payloads[k], 1 << 20, hardDeadline);
    }
  })();
  // Stop when every live reader has everything, or delivery made no progress
  // for `stuck_ms` (a frozen room), or at the hard time bound.
  let lastTotal = -1, lastProgress = now();
  while (now() < hardDeadline) {
    const total = clients.reduce((s, c) => s + c.count, 0);
    if (total === R * M) break;
    if (total !== lastTotal) { lastTotal = total; lastProgress = now(); }
    else if (now() - lastProgress > cfg.stuck_ms) break;
    await sleep(20);
  }
  stop = true;
  const liveDoneAt = clients.every((c) => c.doneAt !== null) ? Math.max(...clients.map((c) => c.doneAt)) : null;
  await sending;
  // Give the server time to free the stalled connection's queue, then sample.
  const waitClose = now() + (cfg.close_wait_ms || 6000);
  while (stalledClosedAt === null && now() < waitClose) await sleep(50);
  await sleep(1000);
  clearInterval(probe);
  const observed = (now() - t0) / 1000;
  const rssEnd = rssKiB();
  const delivered = clients.reduce((s, c) => s + c.count, 0);
  // Resume the stalled reader to learn the close code it would see.
  stalled.ws._socket.resume();
  const resumeDeadline = now() + 3000;
  while (stalled.closeCode === null && now() < resumeDeadline) await sleep(20);
  const result = {
    receivers: R, messages: M, size, window: cfg.window,
    delivered_live: delivered, expected_live: R * M, delivered_pct: (100 * delivered) / (R * M),
    live_done_s: liveDoneAt === null ? null : (liveDoneAt - t0) / 1000,
    live_closes: closeSummary(clients),
    stalled_evicted_s: evictedAt === null ? null : (evictedAt - t0) / 1000,
    stalled_server_closed_s: stalledClosedAt === null ? null : (stalledClosedAt - t0) / 1000,
    observed_s: observed,
    stalled_server_socket_state: stalledClosedAt === null ? '01' : stalledState,
    stalled_close_code_seen: stalled.closeCode, stalled_received: stalled.count,
    rss_before_kib: rssBefore, rss_max_kib: rssMax, rss_end_kib: rssEnd,
    rss_growth_max_kib: rssMax - rssBefore, rss_growth_end_kib: rssEnd - rssBefore,
  };
  closeAll(clients); closeAll([sender, stalled]);
  return result;
}

async function idle() {
  const N = cfg.connections, K = cfg.rooms;
  const openTimeout = cfg.open_timeout_ms || 30000;
  // Warm-up: one connection through the whole path, so lazy imports and
  // first-use allocations are not charged to the idle connections.
  const warm = await openMany(Math.min(K, 10), (k) => `room-${k}`, 10, openTimeout, N + 10);
  await sleep(300);
  closeAll(warm);
  await sleep(700);
  const before = rssKiB();
  const t0 = now();
  const clients = await openMany(N, (k) => `room-${k % K}`, cfg.concurrency || 200, openTimeout);
  const openSeconds = (now() - t0) / 1000;
  await settle(1000, 60000);
  await sleep(1000);
  const after = rssKiB();
  const joined = clients.filter((c) => c.joined && c.closeCode === null).length;
  const result = {
    connections: N, rooms: K, joined, open_seconds: openSeconds,
    rss_before_kib: before, rss_after_kib: after,
    kib_per_connection: joined ? (after - before) / joined : null,
    closes: closeSummary(clients), frames_received: clients.reduce((s, c) => s + c.frames, 0),
  };
  closeAll(clients);
  return result;
}

const scenarios = { fanout, latency, stall, idle };

(async () => {
  const hard = setTimeout(() => {
    process.stdout.write(JSON.stringify({ error: 'client hard timeout' }) + '\n');
    process.exit(2);
  }, cfg.hard_timeout_ms || 180000);
  let result;
  try {
    result = await scenarios[cfg.scenario]();
  } catch (e) {
    result = { error: String(e && e.stack || e) };
  }
  clearTimeout(hard);
  process.stdout.write(JSON.stringify(result) + '\n');
  setTimeout(() => process.exit(0), 200);
})();
