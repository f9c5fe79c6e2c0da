"""The recommended deployment (Procfile processes, two gateway nodes) on a Redis Cluster.

Same processes as tests/system, with REDIS_URL=redis+cluster://… naming a real 3-primary +
3-replica cluster (app/tools/redis_cluster.py): the relay SPUBLISHes, the nodes SSUBSCRIBE per
shard. Some of tests/system/test_topology.py's exact-sequence tests run here unchanged (imported
below, on this module's `topology`); the failover test kills the primary serving the tenant's
channel with SIGKILL while mutations flow, and the ledger must show nothing lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.exceptions import ConnectionClosed

from app.tools.redis_cluster import LocalRedisCluster
from tests.cluster.test_sharded_pubsub import shard_subscribers
from tests.system.clients import Browser, Socket
from tests.system.ledger import settle
from tests.system.test_faults import COUNTERS, check, record, start_clients
from tests.system.test_topology import (  # noqa: F401  (collected here, on the cluster)
    owner_with_project,
    test_load_then_subscribe_misses_nothing,
    test_presence_is_seen_across_the_two_nodes,
    test_resume_on_the_other_node_after_20_missed_events,
)
from tests.system.topology import T, Topology, running

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
async def cluster_and_topology() -> AsyncIterator[tuple[LocalRedisCluster, Topology]]:
    cluster = LocalRedisCluster()
    await asyncio.to_thread(cluster.start)
    try:
        async with running("redis-cluster", cluster.url) as topology:
            yield cluster, topology
    finally:
        await asyncio.to_thread(cluster.stop)


@pytest.fixture
def topology(cluster_and_topology: tuple[LocalRedisCluster, Topology]) -> Topology:
    return cluster_and_topology[1]


async def test_ephemeral_broadcasts_cross_the_nodes_and_tickets_stay_single_use(
    topology: Topology,
) -> None:
    owner, project, _ = await owner_with_project(topology)
    channel = f"project:{project}"
    a = await owner.socket(0)
    b = await owner.socket(1)
    for sock in (a, b):
        assert (await sock.subscribe(channel))["type"] == "ack"
    # Presence (and the node's `:live` subscription that carries broadcasts) is set up after
    # the ack; its member list says node 1 listens. Broadcasting right after the ack raced it.
    await b.wait(lambda: [f for f in b.of_type("presence") if "members" in f], "b's presence")
    await a.send({"type": "broadcast", "channel": channel, "data": {"typing": True}})
    got = await b.wait(
        lambda: [f for f in b.of_type("broadcast") if f.get("data") == {"typing": True}],
        "node 1 relays node 0's ephemeral broadcast",
    )
    assert got[0]["channel"] == channel
    # A ticket used on node 0 is refused on node 1: the claim is shared through the cluster.
    ticket = await owner.ticket()
    first = await Socket.open(topology.ws_url(0), ticket)
    with pytest.raises(ConnectionClosed) as refused:
        await Socket.open(topology.ws_url(1), ticket)
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 4001, refused.value
    for sock in (a, b, first):
        await sock.close()


async def test_the_login_throttle_counts_on_the_cluster(topology: Topology) -> None:
    owner = await Browser.sign_up(topology, tenant="Throttled")
    email = (await owner.call("GET", "/me"))["email"]
    async with httpx.AsyncClient(base_url=topology.api_url) as http:
        for _ in range(5):
            wrong = await http.post("/auth/login", json={"email": email, "password": "nope"})
            assert wrong.status_code == 401
        blocked = await http.post("/auth/login", json={"email": email, "password": "nope"})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    await owner.close()


async def test_a_primary_killed_under_load_loses_no_event_and_the_nodes_resubscribe(
    cluster_and_topology: tuple[LocalRedisCluster, Topology],
) -> None:
    cluster, topology = cluster_and_topology
    load, clients, tenant = await start_clients(topology, 8)
    tenant_channel = f"{topology.prefix}:{tenant}:tenant"
    doomed = cluster.primary_of(tenant_channel)
    assert await shard_subscribers(doomed, tenant_channel) == 2  # one per gateway node
    load.rate = 10
    load.start()
    try:
        await asyncio.sleep(2)
        await asyncio.to_thread(cluster.kill, doomed)  # SIGKILL, mid-stream
        await asyncio.to_thread(cluster.wait_promoted, doomed)
        promoted = cluster.primary_of(tenant_channel)
        deadline = time.monotonic() + 4 * T
        while await shard_subscribers(promoted, tenant_channel) != 2:
            assert time.monotonic() < deadline, "the nodes did not resubscribe by themselves"
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # events keep flowing through the promoted primary
    finally:
        await load.stop()
    figures = await settle(topology, clients, tenant)
    for client in clients:
        await client.stop()
    nodes = [await topology.metrics(i, *COUNTERS) for i in range(len(topology.nodes))]
    record("redis cluster primary SIGKILL", figures, mutations=len(load.succeeded), nodes=nodes)
    check(figures, load)


async def test_the_nodes_hold_one_pubsub_connection_per_shard_they_have_channels_on(
    cluster_and_topology: tuple[LocalRedisCluster, Topology],
) -> None:
    cluster, topology = cluster_and_topology
    owner, project, _ = await owner_with_project(topology)
    projects = [project] + [(await owner.create_project(f"P{n}"))[0] for n in range(5)]
    sockets = [await owner.socket(0), await owner.socket(1)]
    for sock in sockets:
        for p in projects:
            assert (await sock.subscribe(f"project:{p}"))["type"] == "ack"
    names = [f"{topology.prefix}:{owner.tenant_id}:project:{p}" for p in projects]
    shards = {cluster.primary_of(name) for name in names}
    assert len(shards) >= 2, "six projects should spread over the shards"
    for port in shards:
        node = aioredis.Redis(host="127.0.0.1", port=port)
        try:
            connections = [c for c in await node.client_list() if int(c["ssub"]) > 0]
        finally:
            await node.aclose()
        # Each gateway node: one sharded pub/sub connection here, carrying all its channels.
        assert len(connections) == len(topology.nodes), connections
        mine = [n for n in names if cluster.primary_of(n) == port]
        assert all(int(c["ssub"]) >= len(mine) for c in connections), (mine, connections)
    for sock in sockets:
        await sock.close()
