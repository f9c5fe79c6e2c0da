"""Node lifecycle with real processes: health, metrics, drain, slow consumers, caps, lifetime."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from gateway_helpers import Client, Node, Relay, T, mint, new_id


async def test_healthz_answers_200_and_metrics_are_prometheus_text(
    nodes: tuple[Node, Node], relay: Relay
) -> None:
    node = nodes[0]
    assert await node.http_get("/healthz") == (200, "ok\n")
    tenant, project = new_id(), new_id()
    c = await Client.open(node.port, mint(tenant, new_id(), projects=[project]))
    await c.subscribe(f"project:{project}")
    await relay.publish(relay.event(tenant, project))
    await c.events(f"project:{project}", 1)
    status, body = await node.http_get("/metrics")
    assert status == 200
    for name in (
        "collabspace_gateway_connections",
        "collabspace_gateway_subscriptions",
        "collabspace_gateway_messages_in_total",
        "collabspace_gateway_messages_out_total",
        "collabspace_gateway_bytes_out_total",
        "collabspace_gateway_drops_total",
        'collabspace_gateway_closes_total{reason="slow_consumer"}',
        'collabspace_gateway_closes_total{reason="auth"}',
        "collabspace_gateway_commit_to_send_seconds_bucket",
        "collabspace_gateway_commit_to_receive_seconds_bucket",
    ):
        assert name in body, name
    assert await node.metric("collabspace_gateway_connections") >= 1
    assert await node.metric("collabspace_gateway_deliveries_total") >= 1
    # Each delivered event is timed at both points of its path through the node.
    received = await node.metric("collabspace_gateway_commit_to_receive_seconds_count")
    assert received >= 1
    assert 1 <= await node.metric("collabspace_gateway_commit_to_send_seconds_count") <= received
    await c.close()


async def test_sigterm_drains_healthz_503_then_closes_every_client_with_1012_and_exits(
    own_node: Callable[..., Node], relay: Relay
) -> None:
    node = await own_node(DRAIN_SECONDS="1").ready()
    tenant, project = new_id(), new_id()
    clients = [
        await Client.open(node.port, mint(tenant, new_id(), projects=[project])) for _ in range(5)
    ]
    for c in clients:
        await c.subscribe(f"project:{project}")
    loop = asyncio.get_running_loop()
    started = loop.time()
    node.terminate()
    await asyncio.sleep(0.05)
    assert await node.http_get("/healthz") == (503, "draining\n")
    codes = await asyncio.gather(*(c.closed(2 * T) for c in clients))
    assert set(codes) == {(1012, "server draining")}
    assert loop.time() - started < 1 + T
    assert await node.exit_code() == 0


async def test_a_slow_consumer_is_closed_with_4002_and_others_get_everything(
    own_node: Callable[..., Node], relay: Relay
) -> None:
    node = await own_node(SLOW_CONSUMER_BYTES=str(256 * 1024)).ready()
    tenant, project = new_id(), new_id()
    user = new_id()
    fast = await Client.open(node.port, mint(tenant, user, projects=[project]))
    # A client that stops reading: a tiny receive buffer and a one-frame queue, so the
    # server's transport buffer grows as soon as the kernel buffers are full.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", node.port))
    slow = await Client.open(
        node.port, mint(tenant, user, projects=[project]), sock=sock, max_queue=1
    )
    for c in (fast, slow):
        await c.subscribe(f"project:{project}")
    pad = "x" * 4000
    sent = []
    for _ in range(20):  # ~8 MB in total, in bursts so the fast client keeps up
        batch = [relay.event(tenant, project, data={"pad": pad}) for _ in range(100)]
        sent += await relay.publish(*batch)
        got = await fast.events(f"project:{project}", len(batch), 2 * T)
        assert [e["position"] for e in got] == [e.position for e in batch]
        if await node.metric('collabspace_gateway_closes_total{reason="slow_consumer"}') >= 1:
            break
    assert await node.metric('collabspace_gateway_closes_total{reason="slow_consumer"}') == 1
    assert (await slow.closed(2 * T))[0] == 4002
    assert await node.http_get("/healthz") == (200, "ok\n")
    await fast.close()


async def test_a_node_at_its_connection_cap_closes_newcomers_with_1013(
    own_node: Callable[..., Node],
) -> None:
    node = await own_node(MAX_CONNECTIONS="1").ready()
    tenant = new_id()
    first = await Client.open(node.port, mint(tenant, new_id()))
    second = await Client.open(node.port)
    assert await second.closed() == (1013, "node at capacity")
    assert (await first.request({"type": "ping", "id": 1}))["type"] == "pong"
    await first.close()


async def test_a_connection_past_its_lifetime_is_closed_with_4001(
    own_node: Callable[..., Node],
) -> None:
    node = await own_node(MAX_LIFETIME_SECONDS="0.5").ready()
    c = await Client.open(node.port, mint(new_id(), new_id()))
    assert await c.closed() == (4001, "connection lifetime reached")
