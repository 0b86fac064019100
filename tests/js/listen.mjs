// Connects as the front end does (socket.io-client v4, auth: {token}) and prints, one JSON
// line each: {"connected": true}, then the first new_order received, then exits.
// Usage: node listen.mjs <url> <access token>
import { io } from "socket.io-client";

const [url, token] = process.argv.slice(2);
const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false });
const give_up = setTimeout(() => {
  console.log(JSON.stringify({ error: "timeout" }));
  process.exit(2);
}, 15000);

socket.on("connect", () => console.log(JSON.stringify({ connected: true })));
socket.on("connect_error", (err) => {
  console.log(JSON.stringify({ connect_error: err.message, data: err.data ?? null }));
  process.exit(1);
});
socket.on("new_order", (order) => {
  console.log(JSON.stringify({ new_order: order }));
  clearTimeout(give_up);
  socket.close();
  process.exit(0);
});
