'use strict';
// Publishes `events` frames to a socket.io room through @socket.io/redis-emitter (the adapter's
// own Redis format), at an even rate: the socket.io counterpart of the relay stand-in that
// benchmarks/compare_servers.py runs for CollabSpace and the bare relay. Each frame holds one
// event shaped like ours: position, prev, and `time` stamped (to the microsecond) as it is sent.
//
//   node socketio_publisher.js PREFIX ROOM START RATE SECONDS

const { Emitter } = require('@socket.io/redis-emitter');
const { createClient } = require('redis');

function isoNow() {
  const t = performance.timeOrigin + performance.now();
  const micros = String(Math.floor((t % 1) * 1000)).padStart(3, '0');
  return new Date(Math.floor(t)).toISOString().slice(0, 23) + micros + '+00:00';
}

async function main() {
  const [prefix, room, start, rate, seconds] = process.argv.slice(2);
  const client = createClient({ url: process.env.REDIS_URL || 'redis://127.0.0.1:6379/0' });
  await client.connect();
  const emitter = new Emitter(client, { key: prefix });
  const first = Number(start), count = Math.floor(Number(rate) * Number(seconds));
  const t0 = performance.now();
  for (let k = 1; k <= count; k++) {
    const position = first + k;
    emitter.to(room).emit('events', {
      type: 'events',
      channel: room,
      events: [{ position, prev: position > 1 ? position - 1 : null, type: 'TaskMoved',
        time: isoNow(), data: { status: 'done' } }],
    });
    const wait = t0 + (k * 1000) / Number(rate) - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await client.quit();
}

main();
