"""Fan-out through real Redis to two real gateway processes."""

from __future__ import annotations

import asyncio

from gateway_helpers import Client, Node, Relay, mint, new_id


async def test_a_burst_reaches_every_subscriber_on_two_nodes_exactly_once_and_in_order(
    nodes: tuple[Node, Node], relay: Relay
) -> None:
    tenant, project = new_id(), new_id()
    clients = []
    for node in nodes:
        for _ in range(2):
            c = await Client.open(node.port, mint(tenant, new_id(), projects=[project]))
            await c.subscribe(f"project:{project}")
            clients.append(c)
    admin = await Client.open(nodes[1].port, mint(tenant, new_id(), role="admin"))
    await admin.subscribe("tenant")

    sent = await relay.publish(*[relay.event(tenant, project) for _ in range(500)])
    expected = [e.position for e in sent]

    for c in clients:
        got = await c.events(f"project:{project}", len(expected))
        assert [e["position"] for e in got] == expected
        await c.nothing_more()
    got = await admin.events("tenant", len(expected))
    assert [e["position"] for e in got] == expected
    for c in [*clients, admin]:
        await c.close()


async def test_an_event_published_twice_by_the_relay_is_delivered_once(
    nodes: tuple[Node, Node], relay: Relay
) -> None:
    tenant, project = new_id(), new_id()
    c = await Client.open(nodes[0].port, mint(tenant, new_id(), projects=[project]))
    await c.subscribe(f"project:{project}")
    first, second = relay.event(tenant, project), relay.event(tenant, project)
    await relay.publish(first, second)
    relay.prev.clear()  # a relay restart re-publishes what it had not checkpointed
    await relay.publish(first, second)
    third = (await relay.publish(relay.event(tenant, project)))[0]
    got = await c.events(f"project:{project}", 3)
    assert [e["position"] for e in got] == [first.position, second.position, third.position]
    await c.nothing_more()
    await c.close()


async def test_an_event_frame_carries_the_documented_fields(
    nodes: tuple[Node, Node], relay: Relay
) -> None:
    tenant, project = new_id(), new_id()
    c = await Client.open(nodes[0].port, mint(tenant, new_id(), projects=[project]))
    await c.subscribe(f"project:{project}")
    (env,) = await relay.publish(relay.event(tenant, project, data={"status": "done"}))
    (event,) = await c.events(f"project:{project}", 1)
    assert event == {
        "position": env.position,
        "prev": None,
        "type": "TaskMoved",
        "stream": env.stream,
        "version": 1,
        "time": env.time,
        "project": project,
        "user": None,
        "correlation": None,
        "data": {"status": "done"},
    }
    await c.close()


async def test_an_admin_cannot_reach_another_tenants_project_by_naming_it(
    nodes: tuple[Node, Node], relay: Relay
) -> None:
    tenant_a, tenant_b, project_b = new_id(), new_id(), new_id()
    intruder = await Client.open(nodes[0].port, mint(tenant_a, new_id(), role="owner"))
    # An owner may subscribe to any project id, but the channel is namespaced by its tenant.
    await intruder.subscribe(f"project:{project_b}")
    member_b = await Client.open(nodes[0].port, mint(tenant_b, new_id(), projects=[project_b]))
    await member_b.subscribe(f"project:{project_b}")
    (env,) = await relay.publish(relay.event(tenant_b, project_b))
    (got,) = await member_b.events(f"project:{project_b}", 1)
    assert got["position"] == env.position
    await intruder.nothing_more()
    await intruder.close()
    await member_b.close()


async def test_a_node_subscribes_redis_on_first_member_and_unsubscribes_on_last(
    nodes: tuple[Node, Node], relay: Relay, prefix: str
) -> None:
    from realtime.envelope import project_channel

    tenant, project = new_id(), new_id()
    channel = project_channel(prefix, tenant, project)
    user = new_id()  # one user, two connections: a ticket each (a ticket works once)
    one = await Client.open(nodes[0].port, mint(tenant, user, projects=[project]))
    two = await Client.open(nodes[0].port, mint(tenant, user, projects=[project]))
    await one.subscribe(f"project:{project}")
    await two.subscribe(f"project:{project}")
    assert (await relay.redis.pubsub_numsub(channel))[0][1] == 1  # one node, one subscription
    await one.request({"type": "unsubscribe", "channel": f"project:{project}"})
    assert (await relay.redis.pubsub_numsub(channel))[0][1] == 1
    await two.close()
    for _ in range(100):
        if (await relay.redis.pubsub_numsub(channel))[0][1] == 0:
            break
        await asyncio.sleep(0.02)
    assert (await relay.redis.pubsub_numsub(channel))[0][1] == 0
    await one.close()
