// The generated client on a real WebSocket, against the fake server of
// test_recovery.py: joins "lobby", follows the server's restarts, and prints
// what the application saw (messages, `recovered` events) as one JSON line
// once a message "done" arrives.
//
//   node recovery_client.mjs ws://127.0.0.1:PORT/ws/chat

import { loadClient } from "./harness.mjs";

const { default: Client } = await loadClient();
const client = new Client({ url: process.argv[2], restart: { delay: 100 } });
const seen = { messages: [], recovered: [], states: [] };
client.on("state", ({ state, code }) => seen.states.push([state, code ?? null]));
client.on("recovered", (event) => seen.recovered.push(event));
const done = new Promise((resolve) => {
  client.on("message", ({ epoch, seq, content }) => {
    seen.messages.push([epoch, seq, content]);
    if (content === "done") resolve();
  });
});
const joined = await client.joinRoom("lobby");
seen.firstJoin = joined.seq;
const timeout = setTimeout(() => {
  console.log(JSON.stringify({ ...seen, error: "no message 'done' in time" }));
  process.exit(1);
}, 20000);
await done;
clearTimeout(timeout);
client.close();
console.log(JSON.stringify({ ...seen, rooms: client.rooms }));
