'use strict';
// The gateway benchmarks' load client: many WebSocket clients in one Node process, reading far
// more sockets per core than the Python client could (which measured itself at 2,000 sockets).
//
//   node benchmarks/node/load_client.js CONFIG.json
//
// CONFIG: {"protocol": "collabspace" | "bare" | "socketio", "host": "127.0.0.1",
//          "ports": [p0, p1], "inflight": 200,
//          "tickets": [...],   // collabspace: one ticket per connection
//          "channels": [...]}  // collabspace: a channel per connection; socketio: a room
// Connection i goes to ports[i % ports.length], at most `inflight` handshakes at once (a
// connection counts until it is subscribed), the way a deployment's clients arrive.
//
// Speaks each server's real protocol: CollabSpace's ticket auth, subscribe and `events` batches
// (docs/protocol.md); the bare relay's `events` frames; socket.io 4 over engine.io 4's
// websocket transport ('0' open, '40' connect with an auth payload naming the room, '2'/'3'
// ping/pong, '42["events", frame]'). On every client it checks that events arrive exactly once
// and in increasing position, with `prev` equal to the last position seen (when given).
//
// Control on stdin, one line each: `mark` prints a report (JSON, one line) of what arrived since
// the previous mark: latency percentiles (receive time minus the event's `time`), frames,
// events, own CPU; and the totals: per-client event counts, position sums and check failures.
// `quit` exits. The first line printed is {"event": "ready", ...} once all are connected, with
// `connect_ms`: each successful connection's time from its TCP connect to ready (for CollabSpace:
// upgrade, auth, welcome, subscribe and its ack; socket.io: open and room joined), in ms.

const fs = require('fs');
const readline = require('readline');
const { RawWebSocket } = require('./ws_raw');
const { Histogram, nowMs, isoMs } = require('./histogram');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const protocol = config.protocol;
const host = config.host || '127.0.0.1';
const total = config.count || (config.tickets ? config.tickets.length : config.channels.length);
const inflight = config.inflight || 200;

const latency = new Histogram();

const clients = [];
let frames = 0, events = 0, failures = 0, closedEarly = 0;
const failureSamples = [];

// Every client of a channel receives the same bytes; in one process there is no need to parse
// them 2,000 times (each real client would be on its own device). The parsed frame is only read,
// never changed, so clients share it; each still checks its own order and counts.
const parsed = new Map();
function parseShared(text) {
  let value = parsed.get(text);
  if (value === undefined) {
    value = JSON.parse(text);
    if (parsed.size >= 256) parsed.delete(parsed.keys().next().value);
    parsed.set(text, value);
  }
  return value;
}

function fail(client, what) {
  failures++;
  if (failureSamples.length < 5) failureSamples.push(`client ${client.index}: ${what}`);
}

class Client {
  constructor(index) {
    this.index = index;
    this.count = 0;
    this.positionSum = 0;
    this.last = null;
    this.ready = null;
    this.ws = null;
    this.startedMs = 0;
    this.connectMs = null; // start -> ready, for the connect-phase figures
  }

  start() {
    return new Promise((resolve) => {
      this.ready = resolve;
      this.startedMs = nowMs();
      // conn_ports: set when the connections are spread over several client processes.
      const port = config.conn_ports
        ? config.conn_ports[this.index]
        : config.ports[this.index % config.ports.length];
      const path = protocol === 'socketio' ? '/socket.io/?EIO=4&transport=websocket' : '/ws';
      this.ws = new RawWebSocket(host, port, path, {
        onOpen: () => this.opened(),
        onMessage: (text) => this.message(text),
        onClose: (code, reason) => this.closed(code, reason),
      });
    });
  }

  settle(ok) {
    if (this.ready) {
      const r = this.ready;
      this.ready = null;
      if (ok) this.connectMs = nowMs() - this.startedMs;
      r(ok);
    }
  }

  opened() {
    if (protocol === 'collabspace') {
      this.ws.send(JSON.stringify({ type: 'auth', ticket: config.tickets[this.index] }));
    } else if (protocol === 'bare') {
      this.settle(true);
    }
  }

  message(text) {
    const received = nowMs();
    if (protocol === 'socketio') {
      const kind = text.charCodeAt(0);
      if (text === '2') { this.ws.send('3'); return; } // engine.io ping
      if (kind === 48 /* '0' open */) {
        this.ws.send('40' + JSON.stringify({ room: config.channels[this.index] }));
        return;
      }
      if (text.startsWith('40')) { this.settle(true); return; }
      if (!text.startsWith('42')) return;
      const [name, frame] = parseShared(text.slice(2));
      if (name === 'events') this.events(frame.events, received);
      return;
    }
    const frame = parseShared(text);
    if (frame.type === 'events') { this.events(frame.events, received); return; }
    if (frame.type === 'welcome') {
      this.ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: config.channels[this.index] }));
    } else if (frame.type === 'ack') {
      this.settle(true);
    } else if (frame.type === 'error' || frame.type === 'resync' || frame.type === 'unsubscribed') {
      fail(this, text.slice(0, 200));
      this.settle(false);
    }
  }

  events(list, received) {
    frames++;
    for (const e of list) {
      events++;
      if (e.committedMs === undefined) e.committedMs = isoMs(e.time); // shared: parsed once
      latency.add(received - e.committedMs);
      const p = e.position;
      if (this.last !== null && p <= this.last) fail(this, `position ${p} after ${this.last}`);
      else if (this.last !== null && e.prev != null && e.prev !== this.last) {
        fail(this, `prev ${e.prev} but last seen ${this.last}`);
      }
      this.last = p;
      this.count++;
      this.positionSum += p;
    }
  }

  closed(code, reason) {
    if (!quitting) {
      closedEarly++;
      fail(this, `closed ${code} ${reason}`);
    }
    this.settle(false);
  }
}

let quitting = false;

async function connectAll() {
  const started = Date.now();
  let next = 0, ok = 0;
  async function lane() {
    while (next < total) {
      const client = new Client(next++);
      clients.push(client);
      if (await client.start()) ok++;
    }
  }
  await Promise.all(Array.from({ length: Math.min(inflight, total) }, lane));
  const connectMs = clients.filter((c) => c.connectMs !== null).map((c) => Math.round(c.connectMs * 10) / 10);
  return {
    event: 'ready', connected: ok, failed: total - ok, seconds: (Date.now() - started) / 1000,
    connect_ms: connectMs,
  };
}

let cpu = process.cpuUsage(), wall = process.hrtime.bigint();

function report() {
  const nowCpu = process.cpuUsage(cpu), nowWall = process.hrtime.bigint();
  const seconds = Number(nowWall - wall) / 1e9;
  const counts = clients.map((c) => c.count);
  const sums = clients.map((c) => c.positionSum);
  const out = {
    event: 'report',
    seconds,
    frames,
    events,
    latency_ms: latency.summary(),
    latency_sparse: latency.sparse(), // [bucket, count] pairs, to merge several processes
    cpu_percent: ((nowCpu.user + nowCpu.system) / 1e6 / seconds) * 100,
    rss_mb: process.memoryUsage().rss / 1e6,
    clients: clients.length,
    count_min: Math.min(...counts),
    count_max: Math.max(...counts),
    position_sum_min: Math.min(...sums),
    position_sum_max: Math.max(...sums),
    failures,
    failure_samples: failureSamples,
    closed_early: closedEarly,
  };
  latency.reset();
  frames = 0; events = 0;
  cpu = process.cpuUsage(); wall = nowWall;
  process.stdout.write(JSON.stringify(out) + '\n');
}

connectAll().then((ready) => {
  process.stdout.write(JSON.stringify(ready) + '\n');
  cpu = process.cpuUsage(); wall = process.hrtime.bigint();
  latency.reset();
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line.trim() === 'mark') report();
    else if (line.trim() === 'status') {
      let low = Infinity;
      for (const c of clients) if (c.count < low) low = c.count;
      process.stdout.write(JSON.stringify({ event: 'status', count_min: low }) + '\n');
    }
    else if (line.trim() === 'quit') {
      quitting = true;
      for (const c of clients) c.ws.close();
      process.exit(0);
    }
  });
  lines.on('close', () => process.exit(0));
});
