// The client's reconnect / resume / dedupe / resync / own-mutation logic against a scripted fake
// gateway. Run with `node --test tests/js/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { CollabClient, State, backoffDelay } from '../../app/web/static/client.js';
import { FakeClock, fakeSocketClass, ev, flush } from './fakes.mjs';

const P = 'project:6f1c0000-0000-4000-8000-000000000001';

function setup({ random = () => 0.5, ...options } = {}) {
  const clock = new FakeClock();
  const { FakeWebSocket, sockets } = fakeSocketClass();
  let tickets = 0;
  const client = new CollabClient({
    getTicket: async () => ({ ticket: `t${++tickets}`, url: 'ws://gw/ws' }),
    WebSocket: FakeWebSocket,
    timers: { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, now: clock.now, random },
    ...options,
  });
  const states = [];
  client.on('state', (s) => states.push(s));
  return { clock, sockets, client, states, tickets: () => tickets };
}

async function connected(env) {
  env.client.connect();
  await flush();
  const ws = env.sockets.at(-1);
  ws.open();
  ws.welcome();
  await flush();
  return ws;
}

test('the ticket is the first frame, and welcome makes the client connected', async () => {
  const env = setup();
  const ws = await connected(env);
  assert.deepEqual(ws.sent[0], { type: 'auth', ticket: 't1' });
  assert.equal(ws.url, 'ws://gw/ws');
  assert.equal(env.client.state, State.CONNECTED);
  assert.deepEqual(env.states, [State.CONNECTING, State.CONNECTED]);
});

test('full jitter backoff stays below min(cap, base * 2^attempt) and grows per failed attempt', async () => {
  assert.equal(backoffDelay(0, { baseMs: 500, capMs: 30000, random: () => 0.999 }), 499);
  assert.equal(backoffDelay(3, { baseMs: 500, capMs: 30000, random: () => 0.999 }), 3996);
  assert.equal(backoffDelay(20, { baseMs: 500, capMs: 30000, random: () => 0.999 }), 29970);
  assert.equal(backoffDelay(5, { baseMs: 500, capMs: 30000, random: () => 0 }), 0);

  const env = setup({ random: () => 0.999 });
  const ws = await connected(env);
  ws.drop(1006);
  await flush();
  assert.equal(env.client.state, State.RECONNECTING);
  assert.deepEqual(env.clock.pending(), [499]);
  await env.clock.advance(499);
  env.sockets.at(-1).drop(1006); // the next attempt fails before opening
  await flush();
  assert.deepEqual(env.clock.pending(), [999]);
  await env.clock.advance(999);
  const third = env.sockets.at(-1);
  third.open();
  third.welcome();
  await flush();
  assert.equal(env.client.state, State.CONNECTED);
  third.drop(1011);
  await flush();
  assert.deepEqual(env.clock.pending(), [499], 'a welcome resets the backoff');
});

test('a reconnect resumes each subscription from its last position with no repeat and no gap', async () => {
  const env = setup();
  const seen = [];
  const resyncs = [];
  env.client.subscribe(P, { since: 10, onEvent: (e) => seen.push(e.position), onResync: async () => { resyncs.push(1); return 10; } });
  const ws = await connected(env);
  assert.equal(ws.last('subscribe').since, 10);
  ws.ackSubscribes({ recovered: true });
  ws.events(P, ev(11, 10), ev(12, 11));
  ws.drop(1006);
  await env.clock.advance(1000);
  const ws2 = env.sockets.at(-1);
  ws2.open();
  ws2.welcome();
  await flush();
  assert.equal(ws2.last('subscribe').since, 12);
  assert.equal(ws2.sent[0].ticket, 't2', 'every connection uses a fresh ticket');
  ws2.ackSubscribes({ recovered: true });
  ws2.events(P, ev(12, 11), ev(13, 12)); // a replay overlapping what we had
  ws2.events(P, ev(13, 12), ev(14, 13));
  assert.deepEqual(seen, [11, 12, 13, 14]);
  assert.equal(resyncs.length, 0);
});

test('not recovered: the app refetches, events meanwhile are buffered and applied after the snapshot', async () => {
  const env = setup();
  const seen = [];
  let release;
  const snapshot = new Promise((r) => { release = r; });
  env.client.subscribe(P, { since: 5, onEvent: (e) => seen.push(e.position), onResync: () => snapshot });
  const ws = await connected(env);
  ws.ackSubscribes({ recovered: false });
  await flush();
  assert.equal(env.client.state, State.RESYNCING);
  ws.events(P, ev(20, 18), ev(21, 20), ev(23, 21));
  await flush();
  assert.deepEqual(seen, [], 'nothing is applied before the snapshot');
  release({ as_of_position: 21 });
  await flush();
  assert.deepEqual(seen, [23], 'only what the snapshot does not include');
  assert.equal(env.client.position(P), 23);
  assert.equal(env.client.state, State.CONNECTED);
});

test('a missing predecessor (prev beyond the last position) triggers a resync', async () => {
  const env = setup();
  const seen = [];
  const reasons = [];
  env.client.subscribe(P, { since: 1, onEvent: (e) => seen.push(e.position), onResync: async ({ reason }) => { reasons.push(reason); return 7; } });
  const ws = await connected(env);
  ws.ackSubscribes({ recovered: true });
  ws.events(P, ev(2, 1), ev(8, 6), ev(9, 8));
  await flush();
  assert.deepEqual(reasons, ['gap']);
  assert.deepEqual(seen, [2, 8, 9]);
});

test('an event on both the tenant and the project channel reaches the app once', async () => {
  const env = setup();
  const seen = [];
  env.client.on('event', (e) => seen.push([e.channel, e.position]));
  env.client.subscribe(P, { since: 0 });
  env.client.subscribe('tenant', { since: 0 });
  const ws = await connected(env);
  ws.ackSubscribes({ recovered: true });
  ws.events('tenant', ev(1, null), ev(2, 1));
  ws.events(P, ev(2, null));
  ws.events(P, ev(3, 2));
  ws.events('tenant', ev(3, 2));
  assert.deepEqual(seen, [['tenant', 1], ['tenant', 2], [P, 3]]);
});

test('a notification about an event the project channel delivered still reaches the app', async () => {
  const env = setup();
  const N = 'notifications:6f1c0000-0000-4000-8000-00000000000a';
  const seen = [];
  env.client.on('event', (e) => seen.push([e.channel, e.position]));
  env.client.subscribe(P, { since: 0 });
  env.client.subscribe(N, { since: 0 });
  const ws = await connected(env);
  ws.ackSubscribes({ recovered: true });
  ws.events(P, ev(5, null));
  ws.events(N, ev(5, null, { type: 'NotificationAdded', stream: 'inbox-a' }));
  ws.events(N, ev(5, null, { type: 'NotificationAdded', stream: 'inbox-a' })); // a repeat on its own channel
  assert.deepEqual(seen, [[P, 5], [N, 5]]);
});

test('4001 fetches a fresh ticket and reconnects at once', async () => {
  const env = setup();
  const ws = await connected(env);
  ws.drop(4001, 'ticket expired');
  await flush();
  assert.deepEqual(env.clock.pending().filter((d) => d < 25000), [0]);
  await env.clock.advance(0);
  assert.equal(env.tickets(), 2);
  assert.equal(env.sockets.length, 2);
});

test('1012 reconnects elsewhere after a random 0 to 5 s', async () => {
  const env = setup({ random: () => 0.6 });
  const ws = await connected(env);
  ws.drop(1012, 'going away');
  await flush();
  assert.deepEqual(env.clock.pending().filter((d) => d < 25000), [3000]);
  await env.clock.advance(3000);
  assert.equal(env.sockets.length, 2);
});

test('1008 (refused) is final: no retry with the same cause', async () => {
  const env = setup();
  const closed = [];
  env.client.on('closed', (c) => closed.push(c.reason));
  const ws = await connected(env);
  ws.drop(1008, 'user deactivated');
  await env.clock.advance(60000);
  assert.equal(env.sockets.length, 1);
  assert.equal(env.client.state, State.CLOSED);
  assert.deepEqual(closed, ['user deactivated']);
});

test('4002 reconnects, resubscribes from the last position and refetches if not recovered', async () => {
  const env = setup();
  const resyncs = [];
  env.client.subscribe(P, { since: 3, onResync: async ({ reason }) => { resyncs.push(reason); return 30; } });
  const ws = await connected(env);
  ws.ackSubscribes({ recovered: true });
  ws.events(P, ev(4, 3));
  ws.drop(4002, 'resync');
  await env.clock.advance(1000);
  const ws2 = env.sockets.at(-1);
  ws2.open();
  ws2.welcome();
  await flush();
  assert.equal(ws2.last('subscribe').since, 4);
  ws2.ackSubscribes({ recovered: false });
  await flush();
  assert.deepEqual(resyncs, ['not_recovered']);
  assert.equal(env.client.position(P), 30);
});

test('an app-level ping every heartbeat; a silent link is dropped and reconnected', async () => {
  const env = setup();
  const ws = await connected(env);
  await env.clock.advance(25000);
  assert.equal(ws.frames('ping').length, 1);
  ws.push({ type: 'pong', id: ws.last('ping').id });
  await env.clock.advance(25000);
  assert.equal(ws.frames('ping').length, 2);
  // Now the server goes silent: after two beats without a frame the client gives up.
  await env.clock.advance(60000);
  assert.ok(ws.closedWith, 'the dead socket was closed');
  assert.ok(env.sockets.length >= 2, 'and a new connection was opened');
});

test('subscribe replies are paced under the gateway rate limit', async () => {
  const env = setup();
  for (let i = 0; i < 60; i++) env.client.subscribe(`project:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
  const ws = await connected(env);
  assert.equal(ws.frames('subscribe').length, 30);
  await env.clock.advance(1000);
  assert.ok(ws.frames('subscribe').length <= 46);
  await env.clock.advance(2000);
  assert.equal(ws.frames('subscribe').length, 60);
});

test('an own mutation is confirmed when its position comes back on the stream', async () => {
  const env = setup();
  const delivered = [];
  env.client.subscribe(P, { since: 0, onEvent: (e) => delivered.push([e.position, e.own]) });
  const ws = await connected(env);
  ws.ackSubscribes({ recovered: true });
  let state = 'todo';
  let settled = null;
  const done = env.client.mutate({
    channel: P,
    apply: () => { const before = state; state = 'done'; return () => { state = before; }; },
    request: async () => ({ id: 'task', version: 2, position: 42 }),
  }).then((r) => { settled = r; });
  await flush();
  assert.equal(state, 'done');
  assert.equal(settled, null, 'not confirmed before the event arrives');
  ws.events(P, ev(41, null), ev(42, 41));
  await done;
  assert.equal(settled.confirmed, true);
  assert.deepEqual(delivered, [[41, false], [42, true]]);
});

test('an own event that arrives before the HTTP answer is recognised by its correlation id', async () => {
  const env = setup();
  const delivered = [];
  env.client.subscribe(P, { since: 0, onEvent: (e) => delivered.push(e.own) });
  const ws = await connected(env);
  ws.ackSubscribes({ recovered: true });
  const result = await env.client.mutate({
    channel: P,
    request: async ({ correlation }) => {
      ws.events(P, ev(7, null, { correlation }));
      return { position: 7 };
    },
  });
  assert.equal(result.confirmed, true);
  assert.deepEqual(delivered, [true]);
});

test('a refused mutation is rolled back and its error rethrown', async () => {
  const env = setup();
  await connected(env);
  let state = 'todo';
  const refused = Object.assign(new Error('conflict'), { status: 409 });
  await assert.rejects(
    env.client.mutate({
      channel: P,
      apply: () => { state = 'done'; return () => { state = 'todo'; }; },
      request: async () => { throw refused; },
    }),
    refused,
  );
  assert.equal(state, 'todo');
});

test('an unconfirmed mutation falls back to a refetch after the timeout', async () => {
  const env = setup();
  const resyncs = [];
  env.client.subscribe(P, { since: 0, onResync: async ({ reason }) => { resyncs.push(reason); return 50; } });
  const ws = await connected(env);
  ws.ackSubscribes({ recovered: true });
  const p = env.client.mutate({ channel: P, request: async () => ({ position: 50 }) });
  await env.clock.advance(10000);
  assert.deepEqual(resyncs, ['confirm_timeout']);
  assert.equal((await p).confirmed, true);
});

test('frame types the client does not know are passed on, presence is tracked per channel', async () => {
  const env = setup();
  const messages = [];
  const presence = [];
  env.client.on('message', (m) => messages.push(m.type));
  env.client.on('presence', (p) => presence.push(p.members.map((m) => m.user)));
  env.client.subscribe(P);
  const ws = await connected(env);
  ws.ackSubscribes({ recovered: true });
  ws.push({ type: 'broadcast', channel: P, data: { typing: true } });
  ws.push({ type: 'presence', channel: P, members: [{ user: 'a' }, { user: 'b' }] });
  ws.push({ type: 'presence', channel: P, left: [{ user: 'a' }], joined: [{ user: 'c' }] });
  assert.deepEqual(messages, ['broadcast']);
  assert.deepEqual(presence, [['a', 'b'], ['b', 'c']]);
  assert.equal(env.client.broadcast(P, { typing: true }), false, 'not announced in welcome');
});

test('access revoked removes the subscription and tells the app', async () => {
  const env = setup();
  const gone = [];
  env.client.on('unsubscribed', (f) => gone.push(f.reason));
  env.client.subscribe(P, { since: 0 });
  const ws = await connected(env);
  ws.ackSubscribes({ recovered: true });
  ws.push({ type: 'unsubscribed', channel: P, reason: 'access_revoked', position: 9 });
  assert.deepEqual(gone, ['access_revoked']);
  assert.equal(env.client.subscriptions.size, 0);
  ws.drop(1006);
  await env.clock.advance(1000);
  const ws2 = env.sockets.at(-1);
  ws2.open();
  ws2.welcome();
  await flush();
  assert.equal(ws2.frames('subscribe').length, 0, 'a revoked channel is not resubscribed');
});

test('close() stops for good', async () => {
  const env = setup();
  const ws = await connected(env);
  env.client.close();
  assert.equal(ws.closedWith.code, 1000);
  await env.clock.advance(60000);
  assert.equal(env.sockets.length, 1);
  assert.equal(env.client.state, State.CLOSED);
});

test('a refetch that reports no position still confirms the mutations answered before it', async () => {
  const env = setup();
  env.client.subscribe(P, { onResync: async () => null });
  const ws = await connected(env);
  ws.ackSubscribes({ recovered: true });
  const p = env.client.mutate({ channel: P, request: async () => ({ position: 5 }) });
  await env.clock.advance(10000);
  assert.equal((await p).confirmed, true);
});
