// CollabSpace realtime client: a dependency-free ES module for browsers and Node (>= 20).
//
// It speaks docs/protocol.md and does the hard parts: one ticket per connection (getTicket()),
// exponential backoff with full jitter, 1012 "go elsewhere", 4001 "re-authenticate", 4002
// "resync", app-level ping, resume from the last position (`since`), gap detection through
// `prev`, a resync callback into the app (refetch over REST, events buffered meanwhile), dedupe
// by position, and confirmation of the caller's own mutations by the position the API returned.

export const PROTOCOL = 1;

/** Close codes of docs/protocol.md section 6. */
export const Close = Object.freeze({
  NORMAL: 1000, ABNORMAL: 1006, POLICY: 1008, TOO_BIG: 1009, INTERNAL: 1011,
  RESTART: 1012, OVERLOADED: 1013, REAUTHENTICATE: 4001, RESYNC: 4002,
  HEARTBEAT: 4000, // ours: the client gave up on a silent connection
});

/** Connection states reported by the `state` event. */
export const State = Object.freeze({
  IDLE: 'idle', CONNECTING: 'connecting', CONNECTED: 'connected',
  RESYNCING: 'resyncing', RECONNECTING: 'reconnecting', CLOSED: 'closed',
});

const DEFAULTS = {
  backoffBaseMs: 500,       // first retry waits up to this
  backoffCapMs: 30_000,     // never waits longer than this
  restartJitterMs: 5_000,   // 1012: reconnect after a random 0..5 s
  welcomeTimeoutMs: 10_000, // no welcome after opening: try again
  heartbeatS: 25,           // until welcome says otherwise
  confirmTimeoutMs: 10_000, // own mutation not seen on the stream: refetch instead
  sendBurst: 30,            // below the gateway's 40-frame burst ...
  sendPerSecond: 15,        // ... and its 20 frames/s sustained rate
  maxBuffered: 5_000,       // events held while a channel resyncs; beyond that resync again
  seenLimit: 4_096,         // events (stream@position) remembered for cross-channel dedupe
};

class Emitter {
  constructor() { this._handlers = new Map(); }
  on(name, fn) {
    if (!this._handlers.has(name)) this._handlers.set(name, new Set());
    this._handlers.get(name).add(fn);
    return () => this._handlers.get(name)?.delete(fn);
  }
  emit(name, value) {
    for (const fn of [...(this._handlers.get(name) ?? [])]) {
      try { fn(value); } catch (err) { if (name !== 'error') this.emit('error', err); }
    }
  }
}

/** Full jitter: a uniform delay in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt, { baseMs, capMs, random = Math.random }) {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30)));
}

export class CollabClient extends Emitter {
  /**
   * @param {object} options
   * @param {() => Promise<string|{ticket:string,url?:string}>} options.getTicket a fresh ticket
   *   (and optionally the gateway URL) from the API; called before every connection.
   * @param {string} [options.url] gateway URL when getTicket() does not give one.
   * @param {Function} [options.WebSocket] WebSocket class (default: globalThis.WebSocket).
   * @param {object} [options.timers] {setTimeout, clearTimeout, now, random} for tests.
   */
  constructor(options) {
    super();
    if (typeof options?.getTicket !== 'function') throw new TypeError('getTicket() is required');
    this.options = { ...DEFAULTS, ...options };
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    const t = options.timers ?? {};
    this._setTimeout = t.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    this._clearTimeout = t.clearTimeout ?? ((h) => clearTimeout(h));
    this._now = t.now ?? (() => Date.now());
    this._random = t.random ?? Math.random;
    this.state = State.IDLE;
    this.welcome = null;
    this.subscriptions = new Map(); // channel -> Subscription record
    this._ws = null;
    this._attempt = 0;
    this._stopped = true;
    this._timers = new Set();
    this._nextId = 1;
    this._pending = new Map();      // request id -> {resolve, reject, op}
    this._outbox = [];
    this._tokens = this.options.sendBurst;
    this._tokensAt = 0;
    this._seen = new Set();
    this._own = new Map();          // position -> true: events of our own mutations
    this._ownCorrelations = new Set(); // correlation ids we sent (X-Request-Id)
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** Start connecting (and keep reconnecting until close()). */
  connect() {
    if (!this._stopped) return;
    this._stopped = false;
    this._open();
  }

  /** Close for good: no reconnection. */
  close() {
    this._stopped = true;
    for (const h of this._timers) this._clearTimeout(h);
    this._timers.clear();
    const ws = this._ws;
    this._detach();
    if (ws) try { ws.close(Close.NORMAL, 'client closed'); } catch { /* already closed */ }
    this._setState(State.CLOSED);
  }

  _later(fn, ms) {
    const h = this._setTimeout(() => { this._timers.delete(h); fn(); }, ms);
    this._timers.add(h);
    return h;
  }

  _cancel(h) { if (h != null) { this._clearTimeout(h); this._timers.delete(h); } }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  _connectedState() {
    if (!this.welcome) return;
    const resyncing = [...this.subscriptions.values()].some((s) => s.resyncing);
    this._setState(resyncing ? State.RESYNCING : State.CONNECTED);
  }

  async _open() {
    if (this._stopped) return;
    this._setState(this._attempt === 0 && !this._everConnected ? State.CONNECTING : State.RECONNECTING);
    let ticket, url;
    try {
      const got = await this.options.getTicket();
      ticket = typeof got === 'string' ? got : got?.ticket;
      url = (typeof got === 'object' && got?.url) || this.options.url;
      if (!ticket || !url) throw new Error('getTicket() gave no ticket or no gateway url');
    } catch (err) {
      if (this._stopped) return;
      this.emit('error', err);
      if (err?.fatal) return this._fail(err.message ?? 'cannot get a ticket');
      return this._retry('backoff');
    }
    if (this._stopped) return;
    let ws;
    try {
      ws = new this.WebSocket(url);
    } catch (err) {
      this.emit('error', err);
      return this._retry('backoff');
    }
    this._ws = ws;
    this.welcome = null;
    ws.onopen = () => {
      if (ws !== this._ws) return;
      this._lastFrameAt = this._now();
      ws.send(JSON.stringify({ type: 'auth', ticket }));
    };
    ws.onmessage = (msg) => { if (ws === this._ws) this._onFrame(msg.data); };
    ws.onclose = (ev) => { if (ws === this._ws) this._onClose(ev.code, ev.reason ?? ''); };
    ws.onerror = () => { /* a close event always follows */ };
    this._welcomeTimer = this._later(() => {
      if (ws === this._ws && !this.welcome) this._abandon(ws, 'no welcome');
    }, this.options.welcomeTimeoutMs);
  }

  /** Drop a connection we no longer trust without waiting for its close event. */
  _abandon(ws, reason) {
    this._detach();
    try { ws.close(Close.HEARTBEAT, reason); } catch { /* ignore */ }
    this._onClose(Close.ABNORMAL, reason, true);
  }

  _detach() {
    const ws = this._ws;
    if (ws) { ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null; }
    this._ws = null;
    this._cancel(this._welcomeTimer);
    this._cancel(this._pingTimer);
    this._cancel(this._drainTimer);
    this._drainTimer = null;
  }

  _onClose(code, reason, detached = false) {
    if (!detached) this._detach();
    const wasWelcomed = this.welcome != null;
    this.welcome = null;
    this._outbox = [];
    for (const p of this._pending.values()) p.reject(new Error(`connection closed (${code})`));
    this._pending.clear();
    this.emit('disconnected', { code, reason });
    if (this._stopped) return this._setState(State.CLOSED);
    switch (code) {
      case Close.NORMAL:
        return this._fail(reason || 'closed by the server');
      case Close.POLICY:
        // A refused ticket, a deactivated user, or a flood: retrying the same way cannot help.
        return this._fail(reason || 'refused by the server');
      case Close.REAUTHENTICATE:
        // Fresh ticket, reconnect now; but a loop of 4001 before welcome backs off.
        return this._retry(wasWelcomed ? 'now' : 'backoff');
      case Close.RESTART:
        return this._retry('restart');
      default: // 1006, 1009, 1011, 1013, 4002, heartbeat: back off and reconnect
        return this._retry('backoff');
    }
  }

  _fail(reason) {
    this._stopped = true;
    this.emit('closed', { reason });
    this._setState(State.CLOSED);
  }

  _retry(kind) {
    this._setState(State.RECONNECTING);
    const o = this.options;
    let delay = 0;
    if (kind === 'restart') delay = Math.floor(this._random() * o.restartJitterMs);
    else if (kind === 'backoff') {
      delay = backoffDelay(this._attempt, { baseMs: o.backoffBaseMs, capMs: o.backoffCapMs, random: this._random });
      this._attempt += 1;
    }
    this.emit('reconnecting', { delay, attempt: this._attempt });
    this._later(() => this._open(), delay);
  }

  // ---- frames in -------------------------------------------------------------------------

  _onFrame(raw) {
    this._lastFrameAt = this._now();
    let frame;
    try { frame = JSON.parse(typeof raw === 'string' ? raw : String(raw)); } catch { return; }
    if (!frame || typeof frame.type !== 'string') return;
    switch (frame.type) {
      case 'welcome': return this._onWelcome(frame);
      case 'ack': return this._onAck(frame);
      case 'pong': return;
      case 'events': return this._onEvents(frame);
      case 'unsubscribed': return this._onUnsubscribed(frame);
      case 'error': return this._onError(frame);
      case 'resync': return this._onResyncHint(frame);
      case 'presence': return this._onPresence(frame);
      default:
        // Issue 6 adds frame types (ephemeral broadcasts and more): pass them on, never fail.
        this.emit('message', frame);
    }
  }

  _onWelcome(frame) {
    this._cancel(this._welcomeTimer);
    this.welcome = frame;
    this._attempt = 0;
    this._everConnected = true;
    this._tokens = this.options.sendBurst;
    this._tokensAt = this._now();
    this.emit('connected', frame);
    this._startHeartbeat((frame.heartbeat ?? this.options.heartbeatS) * 1000);
    for (const sub of this.subscriptions.values()) this._sendSubscribe(sub);
    this._connectedState();
  }

  _startHeartbeat(everyMs) {
    const beat = () => {
      const ws = this._ws;
      if (!ws) return;
      // Nothing heard for two beats (a pong is due every beat): the link is dead.
      if (this._now() - this._lastFrameAt > 2 * everyMs + 5_000) return this._abandon(ws, 'heartbeat timeout');
      this._send({ type: 'ping', id: this._nextId++ });
      this._pingTimer = this._later(beat, everyMs);
    };
    this._pingTimer = this._later(beat, everyMs);
  }

  _onAck(frame) {
    const p = this._pending.get(frame.id);
    if (p) { this._pending.delete(frame.id); p.resolve(frame); }
    if (frame.op !== 'subscribe') return;
    const sub = this.subscriptions.get(frame.channel) ?? this._subByRequest(frame.id);
    if (!sub) return;
    if (sub.channel !== frame.channel) this._rename(sub, frame.channel);
    sub.live = true;
    sub.ackedOnce = true;
    this.emit('subscribed', { channel: sub.channel, recovered: !!frame.recovered });
    if (frame.recovered) return; // the gateway replays what we missed, then goes live
    // Not recovered: the live stream starts now, so what happened meanwhile comes from REST.
    this._resync(sub, frame.resync ? 'resync' : 'not_recovered');
  }

  _subByRequest(id) {
    for (const sub of this.subscriptions.values()) if (sub.requestId === id) return sub;
    return null;
  }

  _rename(sub, channel) {
    // The server answers with the canonical (lowercase) channel name; keep that one.
    this.subscriptions.delete(sub.channel);
    sub.channel = channel;
    this.subscriptions.set(channel, sub);
  }

  _onEvents(frame) {
    const sub = this.subscriptions.get(frame.channel);
    if (!sub || !Array.isArray(frame.events)) return;
    for (const ev of frame.events) this._onEvent(sub, ev);
  }

  _onEvent(sub, ev) {
    if (typeof ev?.position !== 'number') return;
    if (sub.resyncing) {
      if (sub.buffer.length >= this.options.maxBuffered) { sub.buffer = []; sub.resyncAgain = true; }
      else sub.buffer.push(ev);
      return;
    }
    if (sub.position != null && ev.position <= sub.position) return; // a repeat on this channel
    if (sub.position != null && ev.prev != null && ev.prev > sub.position) {
      // Its predecessor on this channel never reached us: refetch, keep this one for after.
      sub.buffer = [ev];
      return this._resync(sub, 'gap');
    }
    sub.position = ev.position;
    this._deliver(sub, ev);
    this._settle(sub);
  }

  _deliver(sub, ev) {
    // The same project event also arrives on `tenant`: hand it to the app once. An event is
    // its stream and position: a notification (stream `inbox-<user>`) shares the position of
    // the event it is about but is not a copy of it.
    const key = `${ev.stream}@${ev.position}`;
    if (this._seen.has(key)) return;
    this._seen.add(key);
    if (this._seen.size > this.options.seenLimit) {
      const drop = this._seen.size - this.options.seenLimit;
      let i = 0;
      for (const k of this._seen) { if (i++ >= drop) break; this._seen.delete(k); }
    }
    const own = this._own.has(ev.position) || (ev.correlation != null && this._ownCorrelations.has(ev.correlation));
    const event = { ...ev, channel: sub.channel, own };
    sub.onEvent?.(event);
    this.emit('event', event);
  }

  _onUnsubscribed(frame) {
    const sub = this.subscriptions.get(frame.channel);
    if (sub) {
      this.subscriptions.delete(frame.channel);
      for (const w of sub.waiters) w.reject(new Error(`lost access to ${frame.channel}`));
    }
    this.emit('unsubscribed', frame);
  }

  _onError(frame) {
    const p = this._pending.get(frame.id);
    if (p) { this._pending.delete(frame.id); p.reject(Object.assign(new Error(frame.message), { code: frame.code })); }
    const sub = this._subByRequest(frame.id);
    if (sub && p?.op === 'subscribe') {
      if (frame.code === 'unavailable' || frame.code === 'rate_limited') {
        this._later(() => this.subscriptions.get(sub.channel) === sub && this._sendSubscribe(sub),
          backoffDelay(3, { baseMs: this.options.backoffBaseMs, capMs: this.options.backoffCapMs, random: this._random }));
      } else if (!sub.ackedOnce) {
        this.subscriptions.delete(sub.channel); // forbidden or bad channel: it will not work later
      }
    }
    this.emit('protocol_error', frame);
  }

  _onResyncHint(frame) {
    const sub = frame.channel ? this.subscriptions.get(frame.channel) : null;
    if (sub) this._resync(sub, 'resync');
    else for (const s of this.subscriptions.values()) this._resync(s, 'resync');
  }

  _onPresence(frame) {
    // Reserved by issue 6. Accepts a full list (`members`) or a change (`joined`/`left`).
    const sub = this.subscriptions.get(frame.channel);
    if (sub) {
      if (Array.isArray(frame.members)) sub.presence = new Map(frame.members.map((m) => [m.user ?? m, m]));
      for (const m of frame.joined ?? []) sub.presence.set(m.user ?? m, m);
      for (const m of frame.left ?? []) sub.presence.delete(m.user ?? m);
    }
    this.emit('presence', { channel: frame.channel, members: sub ? [...sub.presence.values()] : [], frame });
  }

  // ---- resync ----------------------------------------------------------------------------

  async _resync(sub, reason) {
    if (sub.resyncing) { sub.resyncAgain = true; return; }
    sub.resyncing = true;
    sub.resyncAgain = false;
    // Mutations answered before this refetch starts are in the state it fetches.
    const covered = sub.waiters.slice();
    this._connectedState();
    this.emit('resync', { channel: sub.channel, reason });
    let position = null;
    try {
      // `position`: what this channel has already delivered; a refetch must be at least as
      // fresh (?min_position=), or the app would lose events the client will not resend.
      const got = sub.onResync ? await sub.onResync({ channel: sub.channel, reason, position: sub.position }) : null;
      position = typeof got === 'number' ? got : got?.position ?? got?.as_of_position ?? null;
    } catch (err) {
      this.emit('error', err);
      sub.resyncing = false;
      const delay = backoffDelay(2, { baseMs: this.options.backoffBaseMs, capMs: this.options.backoffCapMs, random: this._random });
      this._later(() => this.subscriptions.get(sub.channel) === sub && this._resync(sub, reason), delay);
      return this._connectedState();
    }
    if (this.subscriptions.get(sub.channel) !== sub) return;
    if (position != null) sub.position = Math.max(sub.position ?? 0, position);
    const buffered = sub.buffer.sort((a, b) => a.position - b.position);
    sub.buffer = [];
    sub.resyncing = false;
    if (sub.resyncAgain) return this._resync(sub, 'again');
    if (sub.position == null && buffered.length) sub.position = buffered[0].position - 1;
    for (const ev of buffered) {
      if (ev.position <= sub.position) continue; // already in the state we just fetched
      sub.position = ev.position; // a snapshot covers whatever came before: no gap check here
      this._deliver(sub, ev);
    }
    this._settle(sub);
    for (const w of covered) if (sub.waiters.includes(w)) {
      sub.waiters.splice(sub.waiters.indexOf(w), 1);
      w.resolve({ position: w.position, confirmed: true });
    }
    this._connectedState();
  }

  // ---- subscriptions ---------------------------------------------------------------------

  /**
   * Follow a channel (`tenant` or `project:<uuid>`).
   * @param {string} channel
   * @param {object} opts
   * @param {number} [opts.since] the position the app's REST state reflects (`as_of_position`).
   * @param {(ev) => void} [opts.onEvent] each new event, once, in position order.
   * @param {({channel, reason, position}) => Promise<number|{position}>} [opts.onResync] refetch state
   *   at least as fresh as `position` (the last one delivered on the channel, or null);
   *   resolve with the position it reflects. Called when events could not be replayed.
   * @returns {() => void} unsubscribe
   */
  subscribe(channel, { since = null, onEvent, onResync } = {}) {
    const existing = this.subscriptions.get(channel);
    if (existing) {
      Object.assign(existing, { onEvent: onEvent ?? existing.onEvent, onResync: onResync ?? existing.onResync });
      return () => this.unsubscribe(channel);
    }
    const sub = {
      channel, position: since, onEvent, onResync, buffer: [], waiters: [],
      resyncing: false, resyncAgain: false, live: false, ackedOnce: false,
      presence: new Map(), requestId: null,
    };
    this.subscriptions.set(channel, sub);
    if (this.welcome) this._sendSubscribe(sub);
    return () => this.unsubscribe(channel);
  }

  unsubscribe(channel) {
    const sub = this.subscriptions.get(channel);
    if (!sub) return;
    this.subscriptions.delete(channel);
    for (const w of sub.waiters) w.resolve({ position: null, confirmed: false });
    if (this.welcome) this._request({ type: 'unsubscribe', channel }).catch(() => {});
  }

  /** The last position seen on a channel (null before anything). */
  position(channel) { return this.subscriptions.get(channel)?.position ?? null; }

  /** Who is on a channel, when the gateway reports presence (issue 6). */
  presence(channel) { return [...(this.subscriptions.get(channel)?.presence.values() ?? [])]; }

  /** Whether the gateway announced a feature in its welcome (e.g. 'resume', 'presence'). */
  supports(feature) {
    const f = this.welcome?.features;
    return Array.isArray(f) ? f.includes(feature) : false;
  }

  /**
   * Send an ephemeral message (typing, cursors) to a channel, when the gateway supports it.
   * Returns false (and sends nothing) otherwise, so apps can call it unconditionally.
   */
  broadcast(channel, data) {
    if (!this.welcome || !this.supports('ephemeral') || !this.subscriptions.has(channel)) return false;
    return this._send({ type: 'broadcast', channel, data });
  }

  _sendSubscribe(sub) {
    const frame = { type: 'subscribe', channel: sub.channel };
    if (sub.position != null) frame.since = sub.position;
    sub.live = false;
    const p = this._request(frame, 'subscribe');
    sub.requestId = frame.id;
    p.catch(() => {});
  }

  _request(frame, op = frame.type) {
    frame.id = `c${this._nextId++}`;
    return new Promise((resolve, reject) => {
      this._pending.set(frame.id, { resolve, reject, op });
      this._send(frame);
    });
  }

  // Pace outgoing frames under the gateway's rate limit (a burst of resubscribes included).
  _send(frame) {
    if (!this._ws) return false;
    this._outbox.push(JSON.stringify(frame));
    this._drain();
    return true;
  }

  _drain() {
    const o = this.options;
    const now = this._now();
    this._tokens = Math.min(o.sendBurst, this._tokens + ((now - this._tokensAt) / 1000) * o.sendPerSecond);
    this._tokensAt = now;
    while (this._outbox.length && this._tokens >= 1 && this._ws) {
      this._tokens -= 1;
      try { this._ws.send(this._outbox.shift()); } catch { return; }
    }
    if (this._outbox.length && !this._drainTimer) {
      this._drainTimer = this._later(() => { this._drainTimer = null; this._drain(); }, Math.ceil(1000 / o.sendPerSecond));
    }
  }

  // ---- own mutations ---------------------------------------------------------------------

  _settle(sub) {
    if (!sub.waiters.length || sub.position == null) return;
    const done = sub.waiters.filter((w) => w.position <= sub.position);
    sub.waiters = sub.waiters.filter((w) => w.position > sub.position);
    for (const w of done) w.resolve({ position: w.position, confirmed: true });
  }

  /**
   * Resolve once the channel has reached `position`: its event arrived, or a refetched state
   * already includes it. After `timeoutMs` the channel is resynced (refetched) instead.
   */
  confirm(channel, position, { timeoutMs = this.options.confirmTimeoutMs } = {}) {
    const sub = this.subscriptions.get(channel);
    if (!sub) return Promise.resolve({ position, confirmed: false });
    if (sub.position != null && sub.position >= position && !sub.resyncing) {
      return Promise.resolve({ position, confirmed: true });
    }
    return new Promise((resolve, reject) => {
      const w = { position, resolve: (v) => { this._cancel(timer); resolve(v); }, reject: (e) => { this._cancel(timer); reject(e); } };
      const timer = this._later(() => this._resync(sub, 'confirm_timeout'), timeoutMs);
      sub.waiters.push(w);
      // Offline, the event cannot come back now: confirm from a refetch instead of waiting.
      if (!this.welcome || !sub.live) this._resync(sub, 'offline');
    });
  }

  /**
   * An optimistic mutation: apply() changes local state at once and returns an undo function;
   * request() calls the API and resolves with its answer ({id, version, position}). If the API
   * refuses, the change is undone and the error rethrown. Otherwise the promise resolves when the
   * mutation's own event came back on `channel` (flagged `own: true` when it is delivered).
   * request() receives a correlation id; sent as X-Request-Id it lets the client recognise its
   * own events even when they arrive before the HTTP answer.
   */
  async mutate({ channel, apply, request }) {
    const correlation = `m-${Math.floor(this._random() * 2 ** 48).toString(36)}-${this._nextId++}`;
    this._ownCorrelations.add(correlation);
    if (this._ownCorrelations.size > 256) this._ownCorrelations.delete(this._ownCorrelations.values().next().value);
    const undo = apply ? apply() : null;
    let result;
    try {
      result = await request({ correlation });
    } catch (err) {
      if (typeof undo === 'function') undo();
      throw err;
    }
    const position = result?.position;
    if (typeof position !== 'number' || !channel) return { ...result, confirmed: false };
    this._own.set(position, true);
    if (this._own.size > 256) this._own.delete(this._own.keys().next().value);
    const outcome = await this.confirm(channel, position);
    return { ...result, confirmed: outcome.confirmed };
  }
}
