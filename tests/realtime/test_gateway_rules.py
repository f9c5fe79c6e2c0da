"""Every protocol rule gets its documented answer while a bystander on the same node is served."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from gateway_helpers import SECRET, Client, Node, Relay, mint, new_id


@dataclass
class Bystander:
    client: Client
    tenant: str
    project: str
    relay: Relay

    async def still_receives(self) -> None:
        (env,) = await self.relay.publish(self.relay.event(self.tenant, self.project))
        (got,) = await self.client.events(f"project:{self.project}", 1)
        assert got["position"] == env.position


@pytest.fixture
async def bystander(nodes: tuple[Node, Node], relay: Relay) -> AsyncIterator[Bystander]:
    tenant, project = new_id(), new_id()
    client = await Client.open(nodes[0].port, mint(tenant, new_id(), projects=[project]))
    await client.subscribe(f"project:{project}")
    yield Bystander(client, tenant, project, relay)
    await client.close()


@pytest.fixture
def port(nodes: tuple[Node, Node]) -> int:
    return nodes[0].port


@pytest.mark.parametrize(
    ("ticket", "code", "reason"),
    [
        # Minted when the test runs, not at collection: a long suite would expire them first.
        (
            lambda: mint(new_id(), new_id(), secret="another-secret-that-is-long-enough-for-hs256"),
            1008,
            "invalid ticket: InvalidSignatureError",
        ),
        (lambda: mint(new_id(), new_id(), ttl=-60), 4001, "ticket expired"),
        (
            lambda: mint(new_id(), new_id(), typ="access"),
            1008,
            "invalid ticket: not a realtime ticket",
        ),
        (lambda: mint(new_id(), new_id(), tid=None), 1008, "invalid ticket: claim 'tid' missing"),
        (lambda: "not-a-jwt", 1008, "invalid ticket: DecodeError"),
    ],
    ids=["forged", "expired", "wrong-typ", "missing-tenant", "garbage"],
)
async def test_a_bad_ticket_closes_with_its_documented_code(
    port: int, bystander: Bystander, ticket: Callable[[], str], code: int, reason: str
) -> None:
    c = await Client.open(port)
    await c.send({"type": "auth", "ticket": ticket()})
    assert await c.closed() == (code, reason)
    await bystander.still_receives()


async def test_an_unsigned_alg_none_ticket_is_refused(port: int, bystander: Bystander) -> None:
    import jwt

    token = jwt.encode(
        {
            "typ": "realtime",
            "sub": new_id(),
            "tid": new_id(),
            "role": "owner",
            "name": "x",
            "projects": [],
            "iat": 0,
            "exp": 2**40,
            "jti": "j",
        },
        None,
        algorithm="none",
    )
    c = await Client.open(port)
    await c.send({"type": "auth", "ticket": token})
    assert (await c.closed())[0] == 1008
    await bystander.still_receives()


async def test_a_first_frame_that_is_not_auth_closes_with_1008(
    port: int, bystander: Bystander
) -> None:
    c = await Client.open(port)
    await c.send({"type": "subscribe", "channel": "tenant"})
    assert await c.closed() == (1008, "first frame must be auth")
    await bystander.still_receives()


async def test_a_client_that_never_authenticates_is_closed_with_1008(
    port: int, bystander: Bystander
) -> None:
    c = await Client.open(port)  # AUTH_TIMEOUT_SECONDS=1 on the test nodes
    assert await c.closed() == (1008, "auth timeout")
    await bystander.still_receives()


async def test_a_non_member_is_forbidden_to_subscribe_to_a_project(
    port: int, bystander: Bystander
) -> None:
    c = await Client.open(port, mint(bystander.tenant, new_id(), projects=[new_id()]))
    reply = await c.request(
        {"type": "subscribe", "id": "r1", "channel": f"project:{bystander.project}"}
    )
    assert reply == {
        "type": "error",
        "id": "r1",
        "code": "forbidden",
        "message": "not a member of this project",
    }
    await bystander.still_receives()
    await c.nothing_more()
    await c.close()


async def test_another_tenants_project_is_forbidden_to_a_member(
    port: int, bystander: Bystander
) -> None:
    other_tenant = new_id()
    c = await Client.open(port, mint(other_tenant, new_id(), projects=[new_id()]))
    reply = await c.request({"type": "subscribe", "channel": f"project:{bystander.project}"})
    assert reply["code"] == "forbidden"
    await bystander.still_receives()
    await c.close()


async def test_the_tenant_channel_is_forbidden_to_a_member(port: int, bystander: Bystander) -> None:
    c = await Client.open(port, mint(bystander.tenant, new_id(), projects=[bystander.project]))
    reply = await c.request({"type": "subscribe", "channel": "tenant"})
    assert reply["code"] == "forbidden"
    await bystander.still_receives()
    await c.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        ('["subscribe"]', "bad_frame"),
        ('{"type": "launch", "id": 1}', "unknown_type"),
        ('{"type": 7}', "bad_frame"),
        ('{"type": "subscribe", "channel": 12}', "bad_channel"),
        ('{"type": "subscribe", "channel": "project:not-a-uuid"}', "bad_channel"),
        ('{"type": "subscribe", "channel": "tenant", "since": "x"}', "bad_frame"),
        ('{"type": "ping", "id": {"a": 1}}', "bad_frame"),
        ('{"type": "auth", "ticket": "again"}', "already_authenticated"),
        (b"\x00\x01binary", "binary_unsupported"),
    ],
    ids=[
        "malformed-json",
        "not-an-object",
        "unknown-op",
        "type-not-string",
        "channel-not-string",
        "bad-uuid",
        "since-not-int",
        "id-wrong-type",
        "second-auth",
        "binary",
    ],
)
async def test_bad_input_gets_an_error_frame_and_the_connection_stays_open(
    port: int, bystander: Bystander, frame: str | bytes, code: str
) -> None:
    c = await Client.open(port, mint(bystander.tenant, new_id(), projects=[bystander.project]))
    await c.ws.send(frame)
    reply = await c.reply()
    assert reply["type"] == "error" and reply["code"] == code, reply
    assert await c.request({"type": "ping", "id": "still-there"}) == {
        "type": "pong",
        "id": "still-there",
    }
    await bystander.still_receives()
    await c.close()


async def test_an_oversized_frame_closes_with_1009(port: int, bystander: Bystander) -> None:
    c = await Client.open(port, mint(bystander.tenant, new_id()), max_size=None)
    await c.ws.send('{"type":"ping","pad":"' + "x" * 70_000 + '"}')
    assert (await c.closed())[0] == 1009
    await bystander.still_receives()


async def test_a_flood_past_the_rate_limit_is_answered_then_closed_with_1008(
    port: int, bystander: Bystander
) -> None:
    c = await Client.open(port, mint(bystander.tenant, new_id()))
    for i in range(200):
        await c.send({"type": "ping", "id": i})
    replies = []
    code = None
    try:
        while True:
            replies.append(await c.recv())
    except Exception:
        code, reason = await c.closed()
    assert code == 1008 and reason == "rate limit exceeded"
    assert [r["type"] for r in replies[:40]] == ["pong"] * 40
    assert {r.get("code") for r in replies[40:]} == {"rate_limited"}
    await bystander.still_receives()


async def test_a_member_removed_while_subscribed_is_unsubscribed_on_every_node_and_told(
    nodes: tuple[Node, Node], relay: Relay, bystander: Bystander
) -> None:
    tenant, project, user = bystander.tenant, bystander.project, new_id()
    mine = [await Client.open(n.port, mint(tenant, user, projects=[project])) for n in nodes]
    for c in mine:
        await c.subscribe(f"project:{project}")
    before = relay.event(tenant, project)
    removal = relay.event(
        tenant,
        project,
        "ProjectMemberRemoved",
        user=user,
        data={"project_id": project, "user_id": user},
    )
    after = relay.event(tenant, project)
    await relay.publish(before, removal, after)
    for c in mine:
        got = await c.events(f"project:{project}", 2)
        assert [e["position"] for e in got] == [before.position, removal.position]
        notice = await c.reply()
        assert notice == {
            "type": "unsubscribed",
            "channel": f"project:{project}",
            "reason": "access_revoked",
            "position": removal.position,
        }
        await c.nothing_more()
    got = await bystander.client.events(f"project:{project}", 3)
    assert [e["position"] for e in got] == [before.position, removal.position, after.position]
    again = await mine[0].request({"type": "subscribe", "channel": f"project:{project}"})
    assert again["code"] == "forbidden"
    for c in mine:
        await c.close()


async def test_a_member_added_while_connected_may_subscribe_afterwards(
    port: int, relay: Relay, bystander: Bystander
) -> None:
    user = new_id()
    c = await Client.open(port, mint(bystander.tenant, user))
    assert (await c.request({"type": "subscribe", "channel": f"project:{bystander.project}"}))[
        "code"
    ] == "forbidden"
    await relay.publish(
        relay.event(
            bystander.tenant,
            bystander.project,
            "ProjectMemberAdded",
            user=user,
            data={"project_id": bystander.project, "user_id": user},
        )
    )
    await bystander.client.events(f"project:{bystander.project}", 1)  # the add is processed
    await c.subscribe(f"project:{bystander.project}")
    await bystander.still_receives()
    await c.events(f"project:{bystander.project}", 1)
    await c.close()


async def test_a_role_downgrade_drops_the_tenant_channel(
    port: int, relay: Relay, bystander: Bystander
) -> None:
    user = new_id()
    c = await Client.open(port, mint(bystander.tenant, user, role="admin"))
    await c.subscribe("tenant")
    change = relay.event(
        bystander.tenant,
        None,
        "UserRoleChanged",
        user=user,
        data={"user_id": user, "role": "member"},
    )
    await relay.publish(change)
    await c.events("tenant", 1)
    assert await c.reply() == {
        "type": "unsubscribed",
        "channel": "tenant",
        "reason": "access_revoked",
        "position": change.position,
    }
    await bystander.still_receives()
    await c.nothing_more()
    await c.close()


async def test_a_deactivated_user_is_closed_with_1008(
    port: int, relay: Relay, bystander: Bystander
) -> None:
    user = new_id()
    c = await Client.open(port, mint(bystander.tenant, user, projects=[bystander.project]))
    await relay.publish(
        relay.event(bystander.tenant, None, "UserDeactivated", user=user, data={"user_id": user})
    )
    assert await c.closed() == (1008, "user deactivated")
    await bystander.still_receives()


async def test_a_subscription_past_the_limit_is_refused(port: int, bystander: Bystander) -> None:
    projects = [new_id() for _ in range(101)]
    c = await Client.open(port, mint(bystander.tenant, new_id(), projects=projects))
    for p in projects[:100]:
        await c.send({"type": "subscribe", "channel": f"project:{p}"})
        await c.reply()
        await __import__("asyncio").sleep(0.04)  # stay under the 20/s rate limit
    reply = await c.request({"type": "subscribe", "channel": f"project:{projects[100]}"})
    assert reply["code"] == "too_many_subscriptions"
    await bystander.still_receives()
    await c.close()


def test_the_test_secret_is_long_enough_for_the_gateway() -> None:
    assert len(SECRET) >= 16
