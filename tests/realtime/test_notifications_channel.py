"""The per-user notifications channel on real gateway processes: only its user may subscribe,
whatever their role; what the inbox relay publishes there reaches them. These nodes have no
backfill API, so `since` and a gap answer resync here; with the API the inbox is replayed and
repaired like a project channel (tests/system/test_inbox_resume.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import redis.asyncio as aioredis
from gateway_helpers import Client, Node, mint, new_id

from realtime import envelope as wire


def _notification(prefix: str, tenant: str, user: str, position: int, prev: int | None) -> bytes:
    channel = wire.notifications_channel(prefix, tenant, user)
    env = wire.Envelope(
        position=position,
        stream=f"inbox-{user}",
        version=0,
        type="NotificationAdded",
        time=datetime.now(UTC).isoformat(),
        tenant=tenant,
        project=None,
        user=user,
        correlation=None,
        data={"id": position, "type": "TaskAssigned", "text": "Olivia assigned you"},
        channel=channel,
        prev=prev,
    )
    return wire.encode(env)


async def test_only_its_user_may_subscribe_to_a_notifications_channel(
    nodes: tuple[Node, Node],
) -> None:
    tenant, me, other = new_id(), new_id(), new_id()
    for role in ("member", "owner"):
        c = await Client.open(nodes[0].port, mint(tenant, me, role=role))
        refused = await c.request({"type": "subscribe", "channel": f"notifications:{other}"})
        assert refused["type"] == "error" and refused["code"] == "forbidden", refused
        assert refused["message"] == "only its user may subscribe to a notifications channel"
        bad = await c.request({"type": "subscribe", "channel": "notifications:someone"})
        assert bad["code"] == "bad_channel", bad
        # Any case of the uuid names the same channel, answered in canonical form.
        ack = await c.request({"type": "subscribe", "channel": f"notifications:{me.upper()}"})
        assert ack["channel"] == f"notifications:{me}" and ack["recovered"] is False
        await c.close()


async def test_a_users_notifications_reach_them_and_a_gap_or_a_resume_says_resync(
    nodes: tuple[Node, Node], redis: aioredis.Redis, prefix: str
) -> None:
    tenant, me, other = new_id(), new_id(), new_id()
    mine = f"notifications:{me}"
    c = await Client.open(nodes[1].port, mint(tenant, me))
    await c.subscribe(mine)
    # Someone else's notification, on their channel, never reaches this connection.
    await redis.publish(
        wire.notifications_channel(prefix, tenant, other),
        _notification(prefix, tenant, other, 5, None),
    )
    await redis.publish(
        wire.notifications_channel(prefix, tenant, me), _notification(prefix, tenant, me, 7, None)
    )
    (first,) = await c.events(mine, 1)
    assert (first["position"], first["type"]) == (7, "NotificationAdded")
    assert first["data"]["text"] == "Olivia assigned you"
    # A hole in the chain (prev 8 was never seen): resync notice, then the event.
    await redis.publish(
        wire.notifications_channel(prefix, tenant, me), _notification(prefix, tenant, me, 9, 8)
    )
    notice = await c.reply()
    assert notice == {"type": "resync", "channel": mine, "reason": "gap"}
    (after,) = await c.events(mine, 1)
    assert after["position"] == 9
    await c.close()

    resumed = await Client.open(nodes[1].port, mint(tenant, me))
    ack = await resumed.request({"type": "subscribe", "channel": mine, "since": 7})
    assert (ack["type"], ack["recovered"], ack.get("resync")) == ("ack", False, True), ack
    await resumed.close()
