"""Resume on a user's notifications channel in the recommended deployment (API, worker with the
projections and both relays, two gateway nodes, Redis), as docs/protocol.md 7.1 and 7.7 say.

Expected sequences come from the user's own REST inbox (`GET /notifications`), read once the
notifications projection is past the last write: each missed notification once, in position
order, nothing of anyone else's inbox.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.kernel.clock import utc_now
from app.kernel.tokens import TokenSigner
from tests.support import SECRET
from tests.system.clients import Browser, Socket
from tests.system.test_topology import caught_up, owner_with_project
from tests.system.topology import Topology

pytestmark = pytest.mark.system


async def assign(owner: Browser, task: str, user: str) -> int:
    body = await owner.call("PUT", f"/tasks/{task}/assignee", 200, json={"assignee_id": user})
    return int(body["position"])


async def inbox_after(user: Browser, after: int, upto: int) -> list[dict[str, Any]]:
    """The user's notifications with `after` < id, oldest first, once the inbox reflects `upto`."""
    await caught_up(user, "/notifications/unread-count", upto)
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = await user.call("GET", "/notifications", params=params)
        items += [i for i in page["items"] if i["id"] > after]
        if page["next_before"] is None or page["next_before"] <= after:
            return sorted(items, key=lambda i: i["id"])
        params["before"] = page["next_before"]


async def notifications_until(sock: Socket, channel: str, last: int) -> list[dict[str, Any]]:
    await sock.wait(lambda: last in sock.positions(channel), f"notification {last} on {channel}")
    return sock.events(channel)


async def test_a_user_resuming_their_inbox_on_the_other_node_gets_exactly_what_they_missed(
    topology: Topology,
) -> None:
    owner, project, _ = await owner_with_project(topology)
    mia = await owner.invite("Mia")
    bob = await owner.invite("Bob")
    for user in (mia, bob):
        await owner.add_member(project, user.user_id)
    mine = f"notifications:{mia.user_id}"
    sock = await mia.socket(0)
    assert (await sock.subscribe(mine))["type"] == "ack"
    first, _ = await owner.create_task(project, "seen")
    shown = await assign(owner, first, mia.user_id)
    last_seen = (await notifications_until(sock, mine, shown))[-1]["position"]
    assert last_seen == shown
    await sock.close()

    # While Mia is away: her notifications, Bob's, and events that notify nobody, interleaved.
    missed: list[int] = []
    for n in range(6):
        task, _ = await owner.create_task(project, f"away {n}")
        missed.append(await assign(owner, task, mia.user_id))
        await assign(owner, task, bob.user_id)
    expected = await inbox_after(mia, last_seen, missed[-1])
    assert set(missed) <= {i["id"] for i in expected}, (missed, expected)
    assert await inbox_after(bob, last_seen, missed[-1]), "Bob's inbox has its own, interleaved"

    resumed = await mia.socket(1)
    ack = await resumed.subscribe(mine, since=last_seen)
    assert (ack["type"], ack.get("recovered"), ack.get("resync")) == ("ack", True, None), ack
    task, _ = await owner.create_task(project, "live")
    live = await assign(owner, task, mia.user_id)
    got = await notifications_until(resumed, mine, live)
    want = [*(i["id"] for i in expected), live]
    assert [e["position"] for e in got] == want, (
        f"since={last_seen}: every notification of Mia after it, once, in order, then the live "
        f"one; got {[e['position'] for e in got]}, want {want}"
    )
    replayed = got[: len(expected)]
    assert [(e["data"]["type"], e["data"]["text"]) for e in replayed] == [
        (i["type"], i["text"]) for i in expected
    ]
    # The `prev` chain closes from `since` to the live stream, as on a project channel.
    assert [e["prev"] for e in got] == [last_seen, *want[:-1]]
    assert resumed.of_type("resync") == []
    await resumed.close()


async def test_nobody_else_may_resume_a_users_inbox(topology: Topology) -> None:
    owner, project, _ = await owner_with_project(topology)
    mia = await owner.invite("Mia")
    admin = await owner.invite("Ada", role="admin")
    added = await owner.add_member(project, mia.user_id)
    await caught_up(mia, "/notifications/unread-count", added)
    for who in (owner, admin):
        sock = await who.socket(1)
        refused = await sock.subscribe(f"notifications:{mia.user_id}", since=0)
        assert (refused["type"], refused.get("code")) == ("error", "forbidden"), refused
        assert refused["message"] == "only its user may subscribe to a notifications channel"
        await asyncio.sleep(0.2)  # nothing of her inbox follows the refusal
        assert sock.of_type("events") == [], sock.frames
        await sock.close()


async def test_the_backfill_api_serves_an_inbox_to_gateway_nodes_only(topology: Topology) -> None:
    owner, project, _ = await owner_with_project(topology)
    mia = await owner.invite("Mia")
    added = await owner.add_member(project, mia.user_id)
    await caught_up(mia, "/notifications/unread-count", added)
    params = {"tenant": owner.tenant_id, "scope": f"notifications:{mia.user_id}", "after": 0}
    r = await owner.http.get("/internal/backfill", params=params, headers=owner.headers)
    assert r.status_code == 401, "a user's access token is not a service token"
    token = TokenSigner(SECRET).issue({"sub": "gateway"}, kind="service", now=utc_now(), ttl_s=60)
    service = {"Authorization": f"Bearer {token}"}
    r = await owner.http.get("/internal/backfill", params=params, headers=service)
    assert r.status_code == 200, r.text
    (event,) = r.json()["events"]
    assert (event["position"], event["type"], event["prev"]) == (added, "NotificationAdded", None)
    assert event["data"]["type"] == "ProjectMemberAdded"
    # Another tenant's user, asked for under this tenant: nothing (row-level security + tenant).
    stranger = await Browser.sign_up(topology, "Other")
    crossed = dict(params, scope=f"notifications:{mia.user_id}", tenant=stranger.tenant_id)
    r = await owner.http.get("/internal/backfill", params=crossed, headers=service)
    assert r.json() == {"events": [], "complete": True}, r.text
    bad = dict(params, scope="notifications:mia")
    r = await owner.http.get("/internal/backfill", params=bad, headers=service)
    assert r.status_code == 400 and "bad notifications id" in r.text, r.text
