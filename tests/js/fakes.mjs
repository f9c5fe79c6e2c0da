// A scripted fake gateway for the client's unit tests: a fake clock and a fake WebSocket class
// injected into CollabClient, so every reconnect, delay and frame is under the test's control.

export class FakeClock {
  constructor() { this.t = 0; this.queue = []; this.seq = 0; }
  now = () => this.t;
  setTimeout = (fn, ms) => { const h = ++this.seq; this.queue.push({ h, at: this.t + ms, fn }); return h; };
  clearTimeout = (h) => { this.queue = this.queue.filter((x) => x.h !== h); };
  /** Move time forward, running due timers in order, letting promises settle in between. */
  async advance(ms) {
    const end = this.t + ms;
    await flush();
    for (;;) {
      this.queue.sort((a, b) => a.at - b.at || a.h - b.h);
      const next = this.queue[0];
      if (!next || next.at > end) break;
      this.queue.shift();
      this.t = next.at;
      next.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
  pending() { return this.queue.map((x) => x.at - this.t); }
}

export async function flush() {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

/** Builds a WebSocket class whose instances the test drives as "the server". */
export function fakeSocketClass() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.readyState = 0;
      this.closedWith = null;
      sockets.push(this);
    }
    send(data) {
      if (this.readyState !== 1) throw new Error('not open');
      this.sent.push(JSON.parse(data));
    }
    close(code, reason) { this.closedWith = { code, reason }; this.readyState = 3; }
    // ---- server side
    open() { this.readyState = 1; this.onopen?.({}); }
    push(frame) { this.onmessage?.({ data: JSON.stringify(frame) }); }
    drop(code = 1006, reason = '') { this.readyState = 3; this.onclose?.({ code, reason }); }
    frames(type) { return this.sent.filter((f) => f.type === type); }
    last(type) { const f = this.frames(type); return f[f.length - 1]; }
    welcome(extra = {}) {
      this.push({ type: 'welcome', protocol: 1, session: 's', user: 'u', tenant: 't', role: 'member', heartbeat: 25, ...extra });
    }
    /** Ack every subscribe sent so far that has not been acked yet. */
    ackSubscribes({ recovered = false } = {}) {
      this._acked ??= new Set();
      for (const f of this.frames('subscribe')) {
        if (this._acked.has(f.id)) continue;
        this._acked.add(f.id);
        this.push({ type: 'ack', id: f.id, op: 'subscribe', channel: f.channel.toLowerCase(), recovered });
      }
    }
    events(channel, ...events) { this.push({ type: 'events', channel, events }); }
  }
  return { FakeWebSocket, sockets };
}

export function ev(position, prev, extra = {}) {
  return { position, prev, type: 'TaskMoved', stream: 'task-1', version: 1, time: 't', project: 'p', user: null, correlation: null, data: {}, ...extra };
}
