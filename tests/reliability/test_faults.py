"""Faults, one at a time, under a steady load with clients subscribed on two gateway nodes.

After each fault the ledger is audited: every event committed on a channel reached every
client subscribed to it exactly once and in order (after dedupe by position across
reconnects), nothing was committed twice, and the API never answered a 5xx other than 503.
The figures of the last run are written to var/reliability-last-run.json (see
docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.reliability.ledger import LedgerClient, audit, caught_up, store_channels
from tests.reliability.load import Load, seed
from tests.reliability.stack import ROOT, Stack, T, running_stack

pytestmark = pytest.mark.fault
REDIS_DOWN_S = float(os.environ.get("REDIS_DOWN_SECONDS", "10"))
REPORT = ROOT / "var" / "reliability-last-run.json"


class Run:
    def __init__(self, stack: Stack, load: Load, clients: list[LedgerClient], tenant: str):
        self.stack, self.load, self.clients, self.tenant = stack, load, clients, tenant
        self.report: dict[str, Any] = {}

    async def settle(self, phase: str) -> None:
        """Wait for every client to catch up with the store, then audit and record."""
        deadline = time.monotonic() + 6 * T
        while True:
            acked = set(self.load.succeeded)  # before reading the store: the load goes on
            store, corr = await store_channels(self.stack, self.tenant)
            if await caught_up(self.clients, store) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        figures = audit(self.clients, store).as_dict()
        figures["committed_twice"] = sum(1 for n in corr.values() if n > 1)
        figures["http_5xx_not_503"] = self.load.server_errors
        figures["http_503"] = self.load.statuses.get(503, 0)
        figures["unreachable"] = self.load.unreachable
        figures["reconnects"] = sum(c.reconnects for c in self.clients)
        self.report[phase] = figures
        assert figures["lost"] == 0, (phase, figures)
        assert figures["duplicated"] == 0 and figures["disorder"] == 0, (phase, figures)
        assert figures["committed_twice"] == 0, (phase, figures)
        assert figures["http_5xx_not_503"] == 0, (phase, self.load.statuses)
        assert acked <= set(corr), (phase, "an acknowledged write is missing")


async def stalled_client(
    stack: Stack, token: str, node: int, channels: list[str]
) -> ClientConnection:
    """A client that subscribes to `channels` and then never reads again."""
    import httpx

    async with httpx.AsyncClient(base_url=stack.api_url, timeout=T) as http:
        ticket = (
            await http.post("/auth/realtime-ticket", headers={"Authorization": f"Bearer {token}"})
        ).json()["ticket"]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", stack.node_ports[node]))
    sock.setblocking(False)
    ws = await connect(stack.ws_url(node), sock=sock, open_timeout=T, max_queue=1)
    await ws.send(orjson.dumps({"type": "auth", "ticket": ticket}).decode())
    await ws.recv()
    for channel in channels:
        await ws.send(orjson.dumps({"type": "subscribe", "id": 1, "channel": channel}).decode())
        await ws.recv()
    ws.transport.pause_reading()  # stop reading: the kernel buffers fill, then the node's
    return ws


async def node_metric(stack: Stack, node: int, name: str) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.node_ports[node])
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    body = (await asyncio.wait_for(reader.read(), T)).decode()
    writer.close()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(name))


async def exercise(stack: Stack, seconds: float) -> dict[str, Any]:
    owner, pids, tids = await seed(stack)
    channels = ["tenant", *(f"project:{p}" for p in pids)]
    clients = [LedgerClient(stack, owner["access_token"], channels, node=i % 2) for i in range(4)]
    clients.append(LedgerClient(stack, owner["access_token"], channels[1:2], node=0))
    for client in clients:
        client.start()
    load = Load(stack, owner, tids)
    run = Run(stack, load, clients, owner["tenant_id"])
    await asyncio.sleep(1)
    load.start()
    try:
        await asyncio.sleep(seconds)
        await run.settle("steady")

        stack.nodes[0].kill()  # clients on node 0 reconnect to node 1
        await asyncio.sleep(seconds)
        stack.nodes[0].start()
        await stack.node_ready(0)
        await run.settle("gateway node SIGKILL")

        stack.api.kill()  # the relay dies with it; its checkpoint is in PostgreSQL
        await asyncio.sleep(1)
        await stack.restart_api()
        await asyncio.sleep(seconds)
        await run.settle("API+relay SIGKILL and restart")

        stack.redis.stop()
        await asyncio.sleep(REDIS_DOWN_S)
        await stack.redis.start()
        await asyncio.sleep(seconds)
        await run.settle(f"Redis stopped {REDIS_DOWN_S:.0f}s")

        for _ in range(3):
            killed = await stack.kill_database_backends()
            assert killed > 0
            await asyncio.sleep(seconds / 3)
        await run.settle("PostgreSQL backends terminated")

        stalled = await stalled_client(stack, owner["access_token"], 1, channels)
        await load.stop()
        # Loopback kernel buffers absorb a few MiB before the node's own buffer grows.
        load.padding = "x" * 9000
        await load.burst(300)
        deadline = time.monotonic() + 6 * T
        name = 'collabspace_gateway_closes_total{reason="slow_consumer"}'
        while await node_metric(stack, 1, name) < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert await node_metric(stack, 1, name) >= 1, "the stalled client was not cut off"
        stalled.transport.abort()
        load.padding = ""
        load.start()
        await asyncio.sleep(seconds)
        await run.settle("slow consumer (client stops reading)")
    finally:
        await load.stop()
        for client in clients:
            await client.stop()
    closes = sorted({code for c in clients for code in c.closes if code is not None})
    run.report["client close codes seen"] = closes
    return run.report


async def test_faults_one_at_a_time_lose_nothing_and_never_answer_500() -> None:
    async with running_stack(2, SLOW_CONSUMER_BYTES=str(64 * 1024)) as stack:
        report = await exercise(stack, seconds=3)
    Path(REPORT).parent.mkdir(exist_ok=True)
    Path(REPORT).write_text(json.dumps(report, indent=2))


@pytest.mark.slow
async def test_a_longer_soak_of_the_same_faults() -> None:
    async with running_stack(2, SLOW_CONSUMER_BYTES=str(64 * 1024)) as stack:
        await exercise(stack, seconds=20)
