"""The embedded default: SQLite, the in-process publisher and the in-process commit signal."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from conftest import FAST
from relay_support import TIMEOUT, Workload, eventually
from sqlalchemy.ext.asyncio import AsyncEngine

from app.kernel.broker import InMemoryPublisher, MemoryHub
from app.kernel.db import make_engine
from app.kernel.relay import Relay
from app.kernel.signals import CommitSignal
from app.kernel.sqlstore import head_position
from app.migrate import upgrade
from realtime.envelope import decode, tenant_channel


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}")
    await upgrade(engine)
    yield engine
    await engine.dispose()


async def test_the_embedded_relay_leads_alone_and_is_woken_by_the_in_process_signal(
    sqlite_engine: AsyncEngine, start_relay: Callable[[Relay], asyncio.Event]
) -> None:
    hub = MemoryHub()
    signal = CommitSignal()
    config = dataclasses.replace(FAST, poll_interval=60.0)  # only the signal can wake it in time
    relay = Relay(sqlite_engine, InMemoryPublisher(hub), prefix="cs", signal=signal, config=config)
    workload = Workload(on_commit=signal.notify)
    tenant = workload.tenants[0]
    start_relay(relay)
    await eventually(lambda: relay.metrics.is_leader, 5 * TIMEOUT, "leadership")
    async with hub.subscribe(*(tenant_channel("cs", t) for t in workload.tenants)) as sub:
        await asyncio.sleep(0.1 * TIMEOUT)
        started = time.monotonic()
        await workload.burst(sqlite_engine, writers=3, commits=4)
        head = await head_position(sqlite_engine)
        envelopes = []
        while len(envelopes) < head:
            _, data = await sub.get(TIMEOUT)
            envelopes.append(decode(data))
        assert time.monotonic() - started < 2 * TIMEOUT
    positions = [e.position for e in envelopes]
    assert positions == sorted(positions) == list(range(1, len(positions) + 1))
    assert any(e.tenant == tenant for e in envelopes)
    # Published first, checkpointed right after (at least once), so the checkpoint may trail.
    await eventually(lambda: relay.metrics.checkpoint == head, TIMEOUT, "the checkpoint")
