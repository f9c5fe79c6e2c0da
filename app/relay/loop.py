"""The relay: tails the event store (it is the outbox) and publishes every event to the broker.

Order and delivery: events are read in global-position order (gapless, commit order; see
app.eventstore.reads), published in that order through one pipeline per batch, and only then is
the checkpoint moved. A crash between publish and checkpoint republishes the batch with the same
positions: delivery is at least once, and receivers drop a position they have seen.

Each message is the event's envelope (realtime/envelope.py) addressed to one channel, with
`prev` = the position of the previous event on that channel, so a receiver can tell a gap from a
quiet channel. `prev` comes from an in-memory cursor per channel, and from the store on a miss
(after a restart, a leadership change or an eviction), so it is exact in every case.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.eventstore.port import StoredEvent
from app.kernel.clock import Clock, utc_now
from app.kernel.signals import CommitSignal
from app.relay.cursors import ChannelCursors, envelope_of, scoped_channels
from app.relay.leader import (
    RELAY_LOCK_KEY,
    Leadership,
    LeadershipError,
    PostgresLeader,
    asyncpg_dsn,
)
from app.relay.metrics import RelayMetrics
from app.relay.publisher import Message, Publisher, PublishError
from app.relay.store import RelayStore
from realtime.envelope import encode_on

__all__ = ["ChannelCursors", "Relay", "RelayConfig", "envelope_of", "scoped_channels"]

log = logging.getLogger(__name__)

# States a relay reports; the last two make it unhealthy (/readyz answers 503).
STANDBY, LEADING, BROKER_DOWN, DB_DOWN = "standby", "leading", "broker_down", "db_down"
UNHEALTHY = frozenset({BROKER_DOWN, DB_DOWN})


@dataclasses.dataclass(frozen=True, slots=True)
class RelayConfig:
    name: str = "main"  # the relay_checkpoint row
    batch_size: int = 500
    poll_interval: float = 1.0  # fallback wake-up when no notification arrives
    standby_interval: float = 1.0  # how often a standby tries the lock: the takeover delay
    backoff_initial: float = 0.05
    backoff_max: float = 2.0
    lock_key: int = RELAY_LOCK_KEY
    channel_cache_size: int = 50_000


class Relay:
    """Publishes committed events in position order while it holds the leadership."""

    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Publisher,
        *,
        prefix: str = "cs",
        signal: CommitSignal | None = None,
        clock: Clock = utc_now,
        config: RelayConfig | None = None,
        leadership: Leadership | None = None,
        metrics: RelayMetrics | None = None,
    ) -> None:
        self.config = config or RelayConfig()
        self.metrics = metrics or RelayMetrics()
        self._publisher = publisher
        self._prefix = prefix
        self._signal = signal
        self._clock = clock
        self._store = RelayStore(engine, self.config.name)
        if leadership is None:
            leadership = PostgresLeader(
                asyncpg_dsn(engine.url),
                key=self.config.lock_key,
                on_notify=self.notify,
                on_lost=self._deposed,
            )
        self._leader = leadership
        self._cursors = ChannelCursors(self._store.previous_on, self.config.channel_cache_size)
        self._wake = asyncio.Event()
        self._checkpoint = 0

    @property
    def state(self) -> str:
        return self.metrics.state

    @property
    def healthy(self) -> bool:
        """For /readyz: False while Redis or the database is failing (a standby is healthy)."""
        return self.metrics.state not in UNHEALTHY

    def notify(self, position: int) -> None:
        """A commit happened (NOTIFY payload or in-process signal): wake the loop now."""
        if position > self.metrics.head:
            self.metrics.head = position
        self._wake.set()

    def _deposed(self) -> None:
        # Called by the leadership the moment the lock is gone; the loop then stands by.
        self.metrics.is_leader = False
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Lead or stand by until `stop` is set; returns after releasing the leadership."""
        helpers = [asyncio.create_task(self._wake_when(stop), name="relay-stop")]
        unlisten = self._signal.listen(self.notify) if self._signal is not None else None
        backoff = self.config.backoff_initial
        try:
            while not stop.is_set():
                try:
                    if not self._leader.held:
                        if not await self._try_lead():
                            await wait_at_most(stop, self.config.standby_interval)
                            continue
                    if not await self._step(stop):
                        await wait_at_most(self._wake, self.config.poll_interval)
                    backoff = self.config.backoff_initial
                except (SQLAlchemyError, OSError, TimeoutError, LeadershipError) as exc:
                    self.metrics.db_errors += 1
                    self._set_state(DB_DOWN, repr(exc))
                    await self._leader.release()
                    await self._store.close()
                    self.metrics.is_leader = False
                    await wait_at_most(stop, backoff)
                    backoff = min(backoff * 2, self.config.backoff_max)
        finally:
            if unlisten is not None:
                unlisten()
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._leader.release()
            await self._store.close()
            self.metrics.is_leader = False
            self._set_state("stopped")

    async def _try_lead(self) -> bool:
        if self.metrics.state in (LEADING, BROKER_DOWN):
            log.warning(
                "relay %s lost the leadership at position %d", self.config.name, self._checkpoint
            )
            # Drop what is left of the old session before competing again.
            await self._leader.release()
        self.metrics.is_leader = False
        if not await self._leader.acquire():
            self._set_state(STANDBY)
            return False
        # Another leader may have published meanwhile: start from the stored checkpoint with
        # no remembered cursors.
        self._cursors.reset()
        self._checkpoint = await self._store.checkpoint()
        self.metrics.checkpoint = self._checkpoint
        self.metrics.head = max(self.metrics.head, await self._store.head())
        self.metrics.is_leader = True
        self.metrics.elections += 1
        log.info("relay %s leads from position %d", self.config.name, self._checkpoint)
        self._set_state(LEADING)
        return True

    async def _step(self, stop: asyncio.Event) -> bool:
        """Publish one batch; True when more may be waiting, so the loop should not idle."""
        # Cleared before the read: a commit signalled after this point wakes the next idle.
        self._wake.clear()
        events = await self._store.read_after(self._checkpoint, self.config.batch_size)
        if not events:
            self.metrics.head = max(self.metrics.head, self._checkpoint)
            return False
        messages, staged = await self._encode(events)
        if not await self._publish(messages, stop):
            return False
        self._cursors.commit(staged)
        last = events[-1].position
        await self._store.save_checkpoint(last, self._clock())
        self._record(events, len(messages))
        if len(events) == self.config.batch_size:
            self.metrics.head = max(self.metrics.head, await self._store.head())
            return True
        # A short batch read everything committed before the read; anything later has set the
        # wake flag (NOTIFY or signal), so without it there is no point in reading again now.
        return self._wake.is_set()

    async def _encode(self, events: Sequence[StoredEvent]) -> tuple[list[Message], dict[str, int]]:
        staged: dict[str, int] = {}
        messages: list[Message] = []
        for event in events:
            env = envelope_of(event)
            for channel, scope in scoped_channels(self._prefix, env):
                prev = await self._cursors.prev(channel, scope, event.position, staged)
                staged[channel] = event.position
                messages.append((channel, encode_on(env, channel, prev)))
        return messages, staged

    async def _publish(self, messages: list[Message], stop: asyncio.Event) -> bool:
        """Publish the batch, retrying with capped backoff; False if stopped or deposed first."""
        delay = self.config.backoff_initial
        while True:
            # Checked before every attempt: a deposed leader must not publish another batch.
            if stop.is_set() or not self._leader.held:
                return False
            try:
                await self._publisher.publish_batch(messages)
            except PublishError as exc:
                self.metrics.redis_errors += 1
                self._set_state(BROKER_DOWN, str(exc))
                await wait_at_most(stop, delay)
                delay = min(delay * 2, self.config.backoff_max)
                continue
            self._set_state(LEADING)
            return True

    def _record(self, events: Sequence[StoredEvent], messages: int) -> None:
        now = self._clock()
        self._checkpoint = events[-1].position
        m = self.metrics
        m.checkpoint = self._checkpoint
        m.head = max(m.head, self._checkpoint)
        m.published += len(events)
        m.messages += messages
        m.batches += 1
        m.observe_lags((now - e.recorded_at).total_seconds() * 1000.0 for e in events)

    def _set_state(self, state: str, detail: str = "") -> None:
        previous, self.metrics.state = self.metrics.state, state
        if state == previous:
            return
        if state in UNHEALTHY:
            log.error("relay %s: %s (%s)", self.config.name, state.replace("_", " "), detail)
        elif previous in UNHEALTHY:
            log.warning("relay %s: recovered from %s, now %s", self.config.name, previous, state)
        else:
            log.info("relay %s: %s", self.config.name, state)

    async def _wake_when(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()


async def wait_at_most(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` have passed (the relays' idle waits and backoffs)."""
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
    # races with its inner future, and the task would then never stop.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
