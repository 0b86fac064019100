// A fleet of socket.io-client v4 connections (the front end's library) for bench/realtime.py.
// Usage: node bench/realtime_clients.mjs <url> <token> <clients>
// Prints {"connected": n, "seconds": s} once all are connected; on each stdin line "report"
// prints {"receipts": {orderId: [epoch ms, ...]}} and clears them; "quit" closes all.
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import readline from "node:readline";

const require = createRequire(new URL("../tests/js/package.json", import.meta.url));
const { io } = require("socket.io-client");

const [url, token, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const sockets = [];
let receipts = {};
const now = () => performance.timeOrigin + performance.now();
const started = now();
let connected = 0;

function open(index) {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      auth: { token },
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
    });
    socket.on("connect", () => resolve(socket));
    socket.on("connect_error", (err) => reject(new Error(`client ${index}: ${err.message}`)));
    socket.on("new_order", (order) => {
      (receipts[order.orderId] ??= []).push(now());
    });
  });
}

try {
  for (let i = 0; i < count; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 50); j++) batch.push(open(j));
    sockets.push(...(await Promise.all(batch)));
    connected = sockets.length;
  }
} catch (err) {
  console.log(JSON.stringify({ error: String(err), connected }));
  process.exit(1);
}
console.log(JSON.stringify({ connected, seconds: (now() - started) / 1000 }));

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim() === "report") {
    const alive = sockets.filter((s) => s.connected).length;
    console.log(JSON.stringify({ receipts, alive }));
    receipts = {};
  } else if (line.trim() === "quit") {
    for (const s of sockets) s.close();
    process.exit(0);
  }
});
