"""The embedded default's relay: the in-process publisher and commit signal, on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from app.eventstore.reads import head_position
from app.kernel.signals import CommitSignal
from app.relay.loop import Relay
from app.relay.publisher import InMemoryPublisher, MemoryHub
from realtime.envelope import Envelope, decode, tenant_channel
from tests.relay.relay_support import (
    FAST,
    TIMEOUT,
    Workload,
    eventually,
)


async def test_the_embedded_relay_leads_and_publishes_to_the_in_process_hub_without_polling(
    engine: AsyncEngine, start_relay: Callable[[Relay], asyncio.Event]
) -> None:
    hub = MemoryHub()
    signal = CommitSignal()
    # Never by polling: the in-process signal (or the NOTIFY) must wake it in time.
    config = dataclasses.replace(FAST, poll_interval=60.0)
    relay = Relay(engine, InMemoryPublisher(hub), prefix="cs", signal=signal, config=config)
    workload = Workload(on_commit=signal.notify)
    tenant = workload.tenants[0]
    start_relay(relay)
    await eventually(lambda: relay.metrics.is_leader, 5 * TIMEOUT, "leadership")
    async with hub.subscribe(*(tenant_channel("cs", t) for t in workload.tenants)) as sub:
        await asyncio.sleep(0.1 * TIMEOUT)
        started = time.monotonic()
        await workload.burst(engine, writers=3, commits=4)
        head = await head_position(engine)
        envelopes: list[Envelope] = []
        while len(envelopes) < head:
            _, data = await sub.get(TIMEOUT)
            envelopes.append(decode(data))
        assert time.monotonic() - started < 2 * TIMEOUT
    positions = [e.position for e in envelopes]
    assert positions == sorted(positions) == list(range(1, len(positions) + 1))
    assert any(e.tenant == tenant for e in envelopes)
    # Published first, checkpointed right after (at least once), so the checkpoint may trail.
    await eventually(lambda: relay.metrics.checkpoint == head, TIMEOUT, "the checkpoint")
