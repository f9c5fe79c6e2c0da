'use strict';
// The comparison server: socket.io 4 with @socket.io/redis-adapter, one node of several. A client
// joins the room named in its connect packet's auth payload ({"room": ...}); events reach the
// rooms through the adapter's Redis channels (published by socketio_publisher.js, the
// @socket.io/redis-emitter). WebSocket transport only, no compression: like our gateway.
//
//   REDIS_URL=redis://127.0.0.1:6379/0 CHANNEL_PREFIX=bench-x node socketio_server.js
// Prints {"port": N} once listening (port 0: a free one).

const http = require('http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

async function main() {
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379/0';
  const pub = createClient({ url });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const server = http.createServer();
  const io = new Server(server, {
    adapter: createAdapter(pub, sub, { key: process.env.CHANNEL_PREFIX || 'socket.io' }),
    transports: ['websocket'],
    perMessageDeflate: false,
    httpCompression: false,
    serveClient: false,
  });
  io.on('connection', (socket) => {
    const room = socket.handshake.auth && socket.handshake.auth.room;
    if (typeof room === 'string') socket.join(room);
  });
  server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
  const stop = () => { io.close(); pub.quit().catch(() => {}); sub.quit().catch(() => {}); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
