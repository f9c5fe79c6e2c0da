"""The relay in-process against real PostgreSQL and Redis: bursts, restarts, outages, handover."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Sequence

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine

from app.eventstore.reads import head_position
from app.relay.loop import LEADING, Relay
from app.relay.publisher import Message, Publisher, RedisPublisher
from tests.relay.relay_support import (
    FAST,
    TIMEOUT,
    RedisServer,
    Subscriber,
    Workload,
    assert_complete_and_ordered,
    eventually,
    expected_channels,
    pg_url,
    subscribed,
)

StartRelay = Callable[[Relay], asyncio.Event]


def holds(subscriber: Subscriber, count: int) -> Callable[[], bool]:
    return lambda: len(subscriber.positions()) == count


async def test_a_concurrent_burst_reaches_a_redis_subscriber_once_each_in_order_per_channel(
    engine: AsyncEngine,
    prefix: str,
    redis_url: str,
    redis_publisher: RedisPublisher,
    start_relay: StartRelay,
) -> None:
    relay = Relay(engine, redis_publisher, prefix=prefix, config=FAST)
    async with subscribed(redis_url, prefix) as subscriber:
        start_relay(relay)
        await Workload().burst(engine, writers=24, commits=12)
        head = await head_position(engine)
        await eventually(
            lambda: subscriber.positions() == set(range(1, head + 1)), 20 * TIMEOUT, "every event"
        )
        await asyncio.sleep(0.2 * TIMEOUT)  # room for a stray duplicate to show up
        expected = await expected_channels(engine, prefix)
        assert_complete_and_ordered(subscriber.received, expected)
        # Exactly once: no (channel, position) pair arrived twice.
        pairs = Counter((env.channel, env.position) for env in subscriber.received)
        assert max(pairs.values()) == 1
        assert len(pairs) == sum(len(positions) for positions in expected.values())
    await eventually(lambda: relay.metrics.checkpoint == head, 5 * TIMEOUT, "the checkpoint")
    snapshot = relay.metrics.snapshot()
    assert snapshot["published"] == head and snapshot["lag_events"] == 0
    assert snapshot["is_leader"] and relay.healthy


async def test_a_restarted_relay_resumes_after_its_checkpoint_with_exact_prev_values(
    engine: AsyncEngine,
    prefix: str,
    redis_url: str,
    redis_publisher: RedisPublisher,
    start_relay: StartRelay,
) -> None:
    workload = Workload()
    async with subscribed(redis_url, prefix) as subscriber:
        stop = start_relay(Relay(engine, redis_publisher, prefix=prefix, config=FAST))
        await workload.burst(engine, writers=5, commits=10)
        first = await head_position(engine)
        await eventually(lambda: len(subscriber.positions()) == first, 10 * TIMEOUT, "part one")
        stop.set()
        await workload.burst(engine, writers=5, commits=10)
        # A fresh relay has no cursors: every channel's first `prev` comes from the store.
        start_relay(Relay(engine, redis_publisher, prefix=prefix, config=FAST))
        head = await head_position(engine)
        await eventually(lambda: len(subscriber.positions()) == head, 10 * TIMEOUT, "part two")
        assert_complete_and_ordered(subscriber.received, await expected_channels(engine, prefix))
        assert len(subscriber.received) == len(
            {(e.channel, e.position) for e in subscriber.received}
        )


async def test_a_commit_wakes_the_relay_through_listen_notify_not_the_poll(
    engine: AsyncEngine,
    prefix: str,
    redis_url: str,
    redis_publisher: RedisPublisher,
    start_relay: StartRelay,
) -> None:
    slow_poll = dataclasses.replace(FAST, poll_interval=60.0)
    relay = Relay(engine, redis_publisher, prefix=prefix, config=slow_poll)
    async with subscribed(redis_url, prefix) as subscriber:
        start_relay(relay)
        await eventually(lambda: relay.state == LEADING, 5 * TIMEOUT, "leadership")
        await asyncio.sleep(0.1 * TIMEOUT)  # let it settle into its idle wait
        for expected in (1, 2, 3):
            started = time.monotonic()
            await Workload().writer(engine, commits=1, seed=expected)
            await eventually(holds(subscriber, expected), TIMEOUT, "the event")
            assert time.monotonic() - started < TIMEOUT


class GatedPublisher(Publisher):
    """The real Redis adapter behind a gate the test can close, to order a reconnect."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.gate.set()

    async def publish_batch(self, messages: Sequence[Message]) -> None:
        await self.gate.wait()
        await self.inner.publish_batch(messages)

    async def close(self) -> None:
        await self.inner.close()


async def test_stopping_redis_mid_burst_loses_nothing_once_it_is_back(
    engine: AsyncEngine, prefix: str, redis_server: RedisServer, start_relay: StartRelay
) -> None:
    publisher = GatedPublisher(RedisPublisher(redis_server.url, timeout=TIMEOUT))
    relay = Relay(engine, publisher, prefix=prefix, config=FAST)
    before, after = None, None
    try:
        async with subscribed(redis_server.url, prefix) as before:
            start_relay(relay)
            burst = asyncio.create_task(
                Workload().burst(engine, writers=20, commits=15, pace=0.02 * TIMEOUT)
            )
            await eventually(lambda: len(before.positions()) >= 60, 10 * TIMEOUT, "some events")
            redis_server.stop()
            await eventually(lambda: relay.metrics.redis_errors >= 2, 5 * TIMEOUT, "errors")
            assert not relay.healthy and relay.state == "broker_down"
            assert not burst.done(), "the burst should still be committing while Redis is down"
            # Hold the relay's next attempt until our subscriber is back (pub/sub keeps nothing).
            publisher.gate.clear()
            await burst
        await redis_server.start()
        async with subscribed(redis_server.url, prefix) as after:
            publisher.gate.set()
            head = await head_position(engine)
            everything = set(range(1, head + 1))
            await eventually(
                lambda: before.positions() | after.positions() == everything,
                10 * TIMEOUT,
                "the backlog",
            )
            await eventually(lambda: relay.healthy, 5 * TIMEOUT, "recovery")
        expected = await expected_channels(engine, prefix)
        assert_complete_and_ordered(before.received + after.received, expected)
        assert relay.metrics.checkpoint == head
    finally:
        publisher.gate.set()
        await publisher.close()


async def _lock_holder_pid(database_url: str) -> int | None:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        pid: int | None = await conn.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return pid
    finally:
        await conn.close()


async def test_when_the_leaders_lock_connection_dies_it_stops_and_the_standby_takes_over(
    engine: AsyncEngine,
    database_url: str,
    prefix: str,
    redis_url: str,
    redis_publisher: RedisPublisher,
    start_relay: StartRelay,
) -> None:
    one = Relay(engine, redis_publisher, prefix=prefix, config=FAST)
    two = Relay(engine, redis_publisher, prefix=prefix, config=FAST)
    workload = Workload()
    async with subscribed(redis_url, prefix) as subscriber:
        start_relay(one)
        await eventually(lambda: one.metrics.is_leader, 5 * TIMEOUT, "a leader")
        start_relay(two)
        await eventually(lambda: two.state == "standby", 5 * TIMEOUT, "a standby")
        await workload.burst(engine, writers=4, commits=5)
        pid = await _lock_holder_pid(database_url)
        assert pid is not None
        admin = await asyncpg.connect(pg_url("postgres", "postgresql"))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        started = time.monotonic()
        # The old leader notices at once; then either relay may win the next election.
        await eventually(
            lambda: two.metrics.is_leader or one.metrics.elections == 2, 5 * TIMEOUT, "a takeover"
        )
        assert time.monotonic() - started < 5 * TIMEOUT
        assert not (one.metrics.is_leader and two.metrics.is_leader)
        await workload.burst(engine, writers=4, commits=5)
        head = await head_position(engine)
        await eventually(lambda: len(subscriber.positions()) == head, 10 * TIMEOUT, "all")
        assert_complete_and_ordered(subscriber.received, await expected_channels(engine, prefix))
