"""The embedded default: the gateway in the API's process, fed by the in-memory broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from gateway_helpers import SECRET, Client, mint, new_id

from realtime import envelope as wire
from realtime.broker import MemoryBroker
from realtime.config import GatewayConfig
from realtime.server import Gateway, run_gateway


def _event(position: int, tenant: str, project: str) -> wire.Envelope:
    return wire.Envelope(
        position=position,
        stream="task-1",
        version=position,
        type="TaskMoved",
        time=datetime.now(UTC).isoformat(),
        tenant=tenant,
        project=project,
        user=None,
        correlation=None,
        data={},
    )


async def test_an_in_process_gateway_delivers_what_the_api_publishes_on_the_memory_broker() -> None:
    broker = MemoryBroker()
    gateway = Gateway(GatewayConfig(secret_key=SECRET, host="127.0.0.1", port=0), broker)
    await gateway.start()
    tenant, project = new_id(), new_id()
    c = await Client.open(gateway.port, mint(tenant, new_id(), projects=[project]))
    await c.subscribe(f"project:{project}")
    for pos in (1, 2, 3):
        env = _event(pos, tenant, project)
        for ch in wire.channels_for("cs", env):
            await broker.publish(ch, wire.encode(env.on_channel(ch, None)))
    got = await c.events(f"project:{project}", 3)
    assert [e["position"] for e in got] == [1, 2, 3]
    await gateway.close()
    assert (await c.closed())[0] == 1012
    assert broker.channels == frozenset()


async def test_run_gateway_serves_until_the_stop_event_then_drains() -> None:
    broker, stop = MemoryBroker(), asyncio.Event()
    config = GatewayConfig(secret_key=SECRET, host="127.0.0.1", port=0, drain_seconds=0.1)
    task = asyncio.create_task(run_gateway(config, broker, stop))
    await asyncio.sleep(0.1)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 5)
