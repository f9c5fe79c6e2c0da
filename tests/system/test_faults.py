"""Faults in the recommended topology: a Redis restart, a gateway SIGKILL, a Redis outage.

These run on a second instance of the topology whose Redis is a private `redis-server` (the
shared one is never stopped). Clients keep a ledger of every delivery (tests/system/ledger.py)
and reconnect as a browser does: a fresh ticket, `since` = the last position seen, to the other
node when theirs is gone. The load is REST mutations with one id per mutation
(tests/reliability/load.py). A client that is told to resync refetches state over REST: those
events count as re-synced, not lost, and the figures say how many there were.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest

from tests.reliability.load import Load, seed
from tests.system.clients import Browser
from tests.system.ledger import Client, Tally, settle
from tests.system.topology import ROOT, OwnRedis, Topology

pytestmark = pytest.mark.system
REPORT = ROOT / "var" / "system-last-run.json"
# Today a node retries Redis after 0.1, 0.3, 0.7, 1.5, 3.1, 6.3, then 11.3 s (backoff doubling
# to 5 s), the relay at most every 2 s. Down for 8 s, the relay republishes its backlog before
# the nodes resubscribe (at about 11.3 s): the nodes then see a `prev` they never saw and must
# repair the gap from the store (protocol 7.3). The figures record each node's gap counters.
REDIS_DOWN_S = 8.0
COUNTERS = ("gaps", "gap_repairs", "resyncs", "backfilled_events")


def record(name: str, figures: Tally, **extra: Any) -> dict[str, Any]:
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    entry = {**dataclasses.asdict(figures), **extra}
    report[name] = entry
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2))
    print(name, entry)
    return entry


def check(figures: Tally, load: Load) -> None:
    assert figures.owed > 0 and figures.delivered > 0, figures
    assert figures.lost == 0, (
        f"{figures.lost} of {figures.owed} owed deliveries lost (neither delivered nor covered "
        f"by a resync; {figures.resynced} re-synced over {figures.resync_intervals} resyncs); "
        f"first lost (channel, position): {figures.lost_sample}; {figures}"
    )
    assert (figures.duplicated, figures.disorder) == (0, 0), figures
    assert load.server_errors == 0, load.statuses


async def start_clients(topology: Topology, count: int) -> tuple[Load, list[Client], str]:
    owner, projects, tasks = await seed(topology, projects=2)  # type: ignore[arg-type]
    channels = ["tenant", *(f"project:{p}" for p in projects)]
    # Two tabs per user: a node caps one user's connections (20), as a browser fleet would not.
    boss = Browser(topology, owner["access_token"], owner["user_id"], owner["tenant_id"])
    tokens = [owner["access_token"]]
    for n in range((count + 1) // 2 - 1):
        tokens.append((await boss.invite(f"Admin{n}", role="admin")).token)
    await boss.close()
    clients = [
        Client(topology, tokens[i // 2], [channels[i % 3]] if i % 2 else channels, node=i % 2)
        for i in range(count)
    ]
    for client in clients:
        client.start()
    # Every client has acked its channels before the load starts (bounded).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while any(len(c.subs) < len(c.channels) for c in clients):
        assert loop.time() < deadline, "clients did not subscribe"
        await asyncio.sleep(0.05)
    return Load(topology, owner, tasks), clients, owner["tenant_id"]  # type: ignore[arg-type]


async def test_a_redis_restart_while_mutations_flow_loses_nothing(
    faulty: tuple[Topology, OwnRedis],
) -> None:
    topology, redis = faulty
    load, clients, tenant = await start_clients(topology, 4)
    load.rate = 10
    load.start()
    try:
        await asyncio.sleep(2)
        redis.stop()
        await asyncio.sleep(REDIS_DOWN_S)
        await redis.start()
        await asyncio.sleep(4)
    finally:
        await load.stop()
    figures = await settle(topology, clients, tenant)
    for client in clients:
        await client.stop()
    nodes = [await topology.metrics(i, *COUNTERS) for i in range(len(topology.nodes))]
    record(
        "redis restart", figures, mutations=len(load.succeeded), down_s=REDIS_DOWN_S, nodes=nodes
    )
    check(figures, load)


async def test_a_ledger_under_a_gateway_sigkill_and_a_redis_outage_loses_nothing(
    faulty: tuple[Topology, OwnRedis],
) -> None:
    topology, redis = faulty
    load, clients, tenant = await start_clients(topology, 24)
    load.rate = 5
    load.start()
    try:
        await asyncio.sleep(3)
        topology.nodes[0].kill()  # its clients reconnect to node 1 with `since`
        await asyncio.sleep(2)
        await topology.restart_node(0)
        await asyncio.sleep(1)
        redis.stop()
        await asyncio.sleep(REDIS_DOWN_S)
        await redis.start()
        await asyncio.sleep(5)
    finally:
        await load.stop()
    figures = await settle(topology, clients, tenant)
    closes = sorted({code for c in clients for code in c.closes if code is not None})
    for client in clients:
        await client.stop()
    nodes = [await topology.metrics(i, *COUNTERS) for i in range(len(topology.nodes))]
    record(
        "gateway SIGKILL + Redis outage",
        figures,
        mutations=len(load.succeeded),
        close_codes=closes,
        statuses=dict(load.statuses),
        nodes=nodes,
    )
    check(figures, load)
