"""The relay as real `python -m app.worker` processes: SIGKILL mid-burst, and a hot standby."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from app import readmodels
from app.bootstrap import bootstrap
from app.eventstore.reads import head_position
from app.tenants.passwords import Argon2Hasher
from tests.readside.script import Script
from tests.relay.relay_support import (
    TIMEOUT,
    WorkerProcess,
    Workload,
    assert_complete_and_ordered,
    eventually,
    expected_channels,
    subscribed,
)
from tests.support import settings_for

# A cold Python process imports SQLAlchemy, asyncpg and redis before it can lead.
BOOT = 15 * TIMEOUT


def spawn(workers: list[WorkerProcess], env: dict[str, str], log: Path) -> WorkerProcess:
    worker = WorkerProcess(env, log)
    workers.append(worker)
    worker.start()
    return worker


async def test_killing_the_relay_process_mid_burst_loses_nothing_and_repeats_only_seen_positions(
    engine: AsyncEngine,
    prefix: str,
    redis_url: str,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    async with subscribed(redis_url, prefix) as subscriber:
        first = spawn(workers, worker_env, tmp_path / "first.log")
        await eventually(first.leads, BOOT, "the first worker to lead")
        burst = asyncio.create_task(
            Workload().burst(engine, writers=20, commits=25, pace=0.02 * TIMEOUT)
        )
        await eventually(lambda: len(subscriber.positions()) >= 100, 10 * TIMEOUT, "100 events")
        first.kill()
        assert not burst.done(), "the kill must land mid-burst"
        # What the dead relay had published may still be on its way through Redis to us.
        await asyncio.sleep(0.5 * TIMEOUT)
        seen_before_kill = max(subscriber.positions())
        received_before_kill = len(subscriber.received)

        second = spawn(workers, worker_env, tmp_path / "second.log")
        await burst
        head = await head_position(engine)
        await eventually(
            lambda: subscriber.positions() == set(range(1, head + 1)), BOOT, "every event"
        )
        await asyncio.sleep(0.2 * TIMEOUT)
        assert_complete_and_ordered(subscriber.received, await expected_channels(engine, prefix))
        repeated = Counter((e.channel, e.position) for e in subscriber.received)
        duplicates = {position for (_, position), n in repeated.items() if n > 1}
        assert all(position <= seen_before_kill for position in duplicates)
        assert len(subscriber.received) > received_before_kill
        assert second.terminate() == 0, "SIGTERM stops the worker cleanly"


async def test_of_two_relay_processes_only_one_publishes_and_the_other_takes_over_when_it_dies(
    engine: AsyncEngine,
    prefix: str,
    redis_url: str,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    workload = Workload()
    async with subscribed(redis_url, prefix) as subscriber:
        pair = [spawn(workers, worker_env, tmp_path / f"w{i}.log") for i in (1, 2)]
        await eventually(lambda: any(w.leads() for w in pair), BOOT, "a leader")
        await eventually(
            lambda: all(w.leads() or "standby" in w.log() for w in pair), BOOT, "a standby"
        )
        leader, standby = pair if pair[0].leads() else pair[::-1]
        assert not standby.leads()

        await workload.burst(engine, writers=20, commits=5)
        head = await head_position(engine)
        await eventually(lambda: len(subscriber.positions()) == head, 10 * TIMEOUT, "burst one")
        await asyncio.sleep(0.3 * TIMEOUT)
        # Two publishing relays would deliver every (channel, position) twice.
        pairs = Counter((e.channel, e.position) for e in subscriber.received)
        assert max(pairs.values()) == 1
        assert not standby.leads()

        leader.kill()
        killed_at = time.monotonic()
        await workload.burst(engine, writers=20, commits=5)
        await eventually(standby.leads, 5 * TIMEOUT, "the standby to take over")
        takeover = time.monotonic() - killed_at
        head = await head_position(engine)
        await eventually(lambda: len(subscriber.positions()) == head, 10 * TIMEOUT, "burst two")
        assert_complete_and_ordered(subscriber.received, await expected_channels(engine, prefix))
        assert takeover < 5 * TIMEOUT
        assert standby.terminate() == 0


async def test_a_worker_without_the_relay_keeps_the_read_models(
    engine: AsyncEngine,
    database_url: str,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    # The split deployment's worker: projections only (no Redis needed), the API serving.
    env = {**worker_env, "RUN_PROJECTIONS": "1", "RUN_RELAY": "0"}
    env.pop("REDIS_URL")
    spawn(workers, env, tmp_path / "projections.log")
    # Real commands through the bus (the relay's synthetic workload is no domain history).
    services = bootstrap(settings_for(database_url), engine, hasher=Argon2Hasher(fast=True))
    try:
        script = Script(services.bus)
        owner = await script.tenant("Split Ltd", "Sue")
        project = await script.project(owner, "Split")
        for n in range(10):
            await script.task(owner, project, f"Task {n}")
    finally:
        await services.close()
    head = await head_position(engine)

    async def lowest_checkpoint() -> int:
        async with engine.connect() as connection:
            low = await connection.scalar(
                sa.text("SELECT min(position) FROM projection_checkpoint")
            )
        return int(low or 0)

    deadline = time.monotonic() + BOOT
    while await lowest_checkpoint() < head:
        assert time.monotonic() < deadline, "the worker's projections did not reach the head"
        await asyncio.sleep(0.05)
    async with engine.connect() as connection:
        names = set(
            (await connection.execute(sa.text("SELECT name FROM projection_checkpoint"))).scalars()
        )
    assert names == set(readmodels.NAMES)
