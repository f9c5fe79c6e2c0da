"""Fan-out: broker messages -> per-channel batches -> one frame per channel per batch.

One broker subscriber per process feeds `on_message` in broker order. An event is decoded and
encoded for clients once; events pending on a channel are sent at the end of the loop turn (or
once `max_batch_events` are waiting; with a flush window, no sooner than `flush_window_s` after the
previous flush) as ONE frame, serialised once and the same bytes written to
every local member: the kernel's per-connection send dominates the cost, so fewer, larger writes
are what scales, and nothing else is done per connection. Nothing here
queues per connection: a connection whose transport buffer passes the bound is closed (4002).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from realtime import protocol, replay
from realtime.broker import Broker, BrokerError
from realtime.connection import OPEN, broadcast, text_frame
from realtime.envelope import Envelope, EnvelopeError, decode
from realtime.metrics import Metrics
from realtime.registry import ChannelKind, ChannelState, Registry
from realtime.state import Session, SessionChannel

log = logging.getLogger("realtime.fanout")
# What the fan-out hands up, each set once at construction (server.Gateway composes them):
AccessHandler = Callable[[SessionChannel, Envelope], None]  # an access event on a user channel
LiveHandler = Callable[[SessionChannel, bytes], None]  # a presence/ephemeral message
# Gap repair (realtime/repair.py): fills a channel's missing range, then releases `held`.
GapRepair = Callable[["Fanout", SessionChannel], Coroutine[Any, Any, None]]


class Fanout:
    def __init__(
        self,
        broker: Broker,
        metrics: Metrics,
        *,
        slow_consumer_bytes: int,
        max_batch_events: int,
        flush_window_s: float = 0.0,
        on_access: AccessHandler | None = None,
        on_live: LiveHandler | None = None,
        repair: GapRepair | None = None,
        recovery_limit: int = 10_000,
        hold_limit: int = 5_000,
    ) -> None:
        self.broker = broker
        self.metrics = metrics
        self.registry: Registry[Session] = Registry()
        self.slow_consumer_bytes = slow_consumer_bytes
        self.max_batch_events = max_batch_events
        self.flush_window_s = flush_window_s
        self._last_flush = float("-inf")  # time.monotonic(), the loop's clock
        self.on_access = on_access
        self.on_live = on_live
        self.repair = repair
        self.recovery_limit = recovery_limit
        self.hold_limit = hold_limit  # events held per channel while a gap is repaired
        self._dirty: list[ChannelState[Session]] = []
        self._flush_scheduled = False
        self._subscribed: set[str] = set()  # confirmed by the broker, no unsubscribe sent since
        # Channels whose subscription may have to change, and the joiners waiting for the broker
        # to deliver theirs. One task applies them, batch after batch, so that join/leave/join
        # races converge on "subscribed iff the registry wants it"; a batch is ONE subscribe
        # (and one unsubscribe) for every channel that changed meanwhile: in a connect storm
        # (each connection its own user channel) a round trip per batch, not per connection.
        self._unsynced: dict[str, None] = {}  # insertion-ordered set
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._syncer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- membership ----------------------------------------------------------------------

    async def join(
        self, session: Session, broker_name: str, client_name: str, kind: ChannelKind
    ) -> None:
        """Add a member and make sure the broker delivers the channel; raises BrokerError."""
        self.registry.join(broker_name, client_name, kind, session)
        await self._delivered(broker_name)

    async def join_recovering(
        self, session: Session, broker_name: str, client_name: str, kind: ChannelKind
    ) -> ChannelState[Session]:
        """Like `join`, but live events go to `session.recovery` until `promote`."""
        state = self.registry.join_recovering(broker_name, client_name, kind, session)
        await self._delivered(broker_name)
        return state

    def promote(self, session: Session, state: ChannelState[Session]) -> None:
        """The session's replay is written: from now on it gets the channel's broadcasts."""
        self.flush_now(state)  # what is pending was already in its recovery queue
        state.recovering.discard(session)
        state.members.add(session)

    def leave(self, session: Session, broker_name: str) -> None:
        """Stop delivering at once (synchronously); the broker unsubscribe follows in a task."""
        if self.registry.leave(broker_name, session):
            self._resync(broker_name)

    def drop(self, session: Session) -> None:
        """Remove a session from every channel it is in (idempotent)."""
        for broker_name in list(session.channels):
            self.leave(session, broker_name)
            self.leave(session, broker_name + ":live")
        session.channels.clear()
        self.leave(session, session.user_channel)

    def kick(self, session: Session, code: int, reason: str, metric: str) -> None:
        """Close a connection from synchronous code: stop its deliveries now, close in a task."""
        if session.closing:
            return
        session.closing = True
        self.metrics.closes[metric].inc()
        self.drop(session)
        session.ws.close(code, reason)

    async def _delivered(self, broker_name: str) -> None:
        """Return once the broker delivers the channel to this node; raises BrokerError.

        Already subscribed (another local member): at once, with no round trip. A channel
        whose unsubscribe is under way is not in `_subscribed`, so its joiner waits for the
        subscribe that follows it."""
        if broker_name in self._subscribed:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(broker_name, []).append(waiter)
        self._resync(broker_name)
        await waiter

    def _resync(self, broker_name: str) -> None:
        self._unsynced[broker_name] = None
        if self._syncer is None:
            self._syncer = asyncio.get_running_loop().create_task(self._sync_all())
            self._tasks.add(self._syncer)
            self._syncer.add_done_callback(self._task_done)

    async def _sync_all(self) -> None:
        # Started on the next loop turn: every join of the current turn is in the first batch;
        # joins during a batch's round trip wait for the next one.
        try:
            while self._unsynced:
                batch = list(self._unsynced)
                self._unsynced.clear()
                await self._sync_batch(batch)
        finally:
            self._syncer = None
            # Cancelled (closing) or failed: nobody may wait for a batch that will not come.
            for waiters in self._waiting.values():
                _settle(waiters, BrokerError("subscription changes stopped"))
            self._waiting.clear()

    async def _sync_batch(self, batch: list[str]) -> None:
        waiting = {name: self._waiting.pop(name) for name in batch if name in self._waiting}
        try:
            failed = await self._apply(batch)
        except BaseException:
            for waiters in waiting.values():
                _settle(waiters, BrokerError("subscription change failed"))
            raise
        # A channel neither subscribed nor failed lost its members meanwhile: nothing to wait for.
        for name, waiters in waiting.items():
            _settle(waiters, failed.get(name))
        # Joiners that came during the round trip, for a channel the broker now delivers.
        for name in [n for n in self._waiting if n in self._subscribed]:
            _settle(self._waiting.pop(name), None)

    async def _apply(self, batch: list[str]) -> dict[str, BrokerError]:
        """Subscribe what the registry wants and unsubscribe what it no longer does; returns
        the channels whose subscribe failed."""
        wanted = self.registry.wanted
        gone = [name for name in batch if not wanted(name) and name in self._subscribed]
        new = [name for name in batch if wanted(name) and name not in self._subscribed]
        failed: dict[str, BrokerError] = {}
        if gone:
            # Out of `_subscribed` before the round trip: a join meanwhile waits for a subscribe.
            self._subscribed.difference_update(gone)
            try:
                await self.broker.unsubscribe_many(gone)
            except BrokerError as exc:
                log.warning("unsubscribe failed: %s", exc)
        if new:
            for name, error in zip(new, await self.broker.subscribe_many(new), strict=True):
                if error is None:
                    self._subscribed.add(name)
                else:
                    failed[name] = error
        self.metrics.broker_channels.set(len(self._subscribed))
        return failed

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background task failed: %r", task.exception())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- broker -> clients ---------------------------------------------------------------

    def on_message(self, broker_name: str, data: bytes) -> None:
        self.metrics.broker_in.inc()
        state = self.registry.get(broker_name)
        if state is None:  # unsubscribe in flight: nobody local wants it any more
            self.metrics.drops["unsubscribed"].inc()
            return
        if state.kind == "live":  # presence and ephemeral broadcasts: not events
            if self.on_live is not None:
                self.on_live(state, data)
            return
        try:
            env = decode(data)
        except EnvelopeError as exc:
            self.metrics.drops["malformed"].inc()
            log.warning("malformed envelope on %s: %s", broker_name, exc)
            return
        if state.kind == "user":
            # Deliver everything committed before the access change under the old rights.
            self.flush()
            if self.on_access is not None:
                self.on_access(state, env)
            return
        if state.held is not None:  # a gap is being repaired: keep the order
            state.held.append(env)
            if len(state.held) > self.hold_limit:
                self.abandon_repair(state, "held")  # bounded memory per channel
            return
        last = state.last_position
        if last is not None and env.position <= last:
            self.metrics.drops["duplicate"].inc()
            return
        if last is not None and env.prev is not None and env.prev > last:
            self.metrics.gaps.inc()
            if self.repair is not None:
                state.held = [env]
                state.repair_epoch += 1
                self.spawn(self.repair(self, state))
                return
            if state.kind == "notifications":
                # No backfill API on this node: the inbox's members refetch their count.
                state.held = [env]
                self.abandon_repair(state, "unavailable")
                return
        self.deliver(state, env)

    def abandon_repair(self, state: ChannelState[Session], reason: str) -> None:
        """A gap that cannot be repaired within the bounds: members are told to refetch the
        channel (`resync`), resuming sessions answer resync too, and the channel goes on live
        from what it held. Synchronous: the held events go out before any newer one."""
        held, state.held = state.held or [], None
        state.repair_epoch += 1  # the repair task, if still waiting, stops
        self.metrics.gaps_unrepaired[reason].inc()
        self.metrics.resyncs.inc()
        self.flush_now(state)
        broadcast([s.ws for s in state.members], protocol.resync(state.client_name, "gap"))
        for session in state.recovering:
            session.recovery = None  # its replay cannot be joined to the live stream exactly
            session.recovery_lost = "gap"
        state.last_position = None
        state.unproven.clear()  # told to refetch already
        for env in held:
            self.deliver(state, env)
        self.flush()

    def deliver(self, state: ChannelState[Session], env: Envelope) -> None:
        """Hand one in-order event to the channel's live members and resuming sessions."""
        if state.last_position is not None and env.position <= state.last_position:
            self.metrics.drops["duplicate"].inc()
            return
        if state.unproven:
            self._settle(state, env)
        state.last_position = env.position
        for session in state.recovering:
            queue = session.recovery
            if queue is not None:
                queue.append(env)
                if len(queue) > self.recovery_limit:
                    session.recovery = None  # overflow: the resume answers resync
        if not state.members:
            return
        committed = _epoch(env.time)
        self.metrics.receive_latency.observe(time.time() - committed)
        state.pending.append(protocol.client_event(env))
        state.pending_times.append(committed)
        if len(state.pending) == 1:
            self._dirty.append(state)
        if len(state.pending) >= self.max_batch_events:
            self._flush_channel(state)
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop = asyncio.get_running_loop()
            wait = self._last_flush + self.flush_window_s - time.monotonic()
            if wait > 0:
                loop.call_later(wait, self.flush)  # inside the window: join the next frame
            else:
                loop.call_soon(self.flush)

    def _settle(self, state: ChannelState[Session], env: Envelope) -> None:
        """The first live event after a resume not yet proven exact: if it does not continue the
        member's replay (a `prev` past it), the store did not return everything; that member
        refetches the channel (resync notice before the event)."""
        for session, (since, replayed_to) in list(state.unproven.items()):
            if env.position <= (since if replayed_to is None else replayed_to):
                continue  # the client had it already: no evidence either way
            del state.unproven[session]
            if not replay.continues(env, since, replayed_to) and session in state.members:
                self.metrics.resume_gaps.labels("live").inc()
                self.metrics.resyncs.inc()
                # Pending was flushed when it became a member: the notice precedes this event.
                self.flush_now(state)
                session.ws.write(protocol.resync(state.client_name, "gap"))

    def flush_now(self, state: ChannelState[Session]) -> None:
        """Write the channel's pending batch before its membership changes."""
        if state.pending:
            self._flush_channel(state)

    def flush(self) -> None:
        self._flush_scheduled = False
        self._last_flush = time.monotonic()
        dirty, self._dirty = self._dirty, []
        for state in dirty:
            if state.pending:
                self._flush_channel(state)

    def _flush_channel(self, state: ChannelState[Session]) -> None:
        events, times = state.pending, state.pending_times
        state.pending, state.pending_times = [], []
        members = state.members
        if not members:
            return
        frame = protocol.events_frame(state.client_name, events)
        framed = text_frame(frame)
        bound = self.slow_consumer_bytes
        slow: list[Session] = []
        # The hot loop: per member, a state check and a write of the shared bytes. No
        # backpressure here; what the kernel has not taken waits in the transport, and a
        # member past the bound is closed (4002) rather than queued for.
        for s in members:
            conn = s.ws
            transport = conn.transport
            if conn.protocol.state is OPEN and transport is not None:
                transport.write(framed)
                if transport.get_write_buffer_size() > bound:
                    slow.append(s)
        n = len(members)
        m = self.metrics
        m.messages_out.inc(n)
        m.deliveries.inc(n * len(events))
        m.bytes_out.inc(n * len(frame))
        now = time.time()
        for t in times:
            m.latency.observe(now - t)
        for session in slow:
            self.kick(session, protocol.CloseCode.RESYNC, "slow consumer", "slow_consumer")


def _settle(waiters: list[asyncio.Future[None]], error: BrokerError | None) -> None:
    for waiter in waiters:
        if waiter.done():  # its joiner was cancelled (connection lost)
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return time.time()
