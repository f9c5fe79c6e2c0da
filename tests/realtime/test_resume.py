"""Issue 6 against the real API (subprocess, PostgreSQL, Redis, relay) and real gateway nodes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gateway_helpers import Client, Node, mint
from stack import Api, collect_until, gateway, lossy_gateway, owner_and_project, owner_ticket

from tests.support import fresh_database, invite


@pytest.fixture(scope="module")
async def api(prefix: str) -> AsyncIterator[Api]:
    async with fresh_database("cs_resume") as url:
        server = Api(url, prefix)
        try:
            yield await server.ready()
        finally:
            await server.stop()


@pytest.fixture(scope="module")
async def node_b(prefix: str, api: Api) -> AsyncIterator[Node]:
    node = await gateway(prefix, api)
    yield node
    node.kill()


async def _writer(
    api: Api, who: dict[str, Any], project: str, stop: asyncio.Event, pace: float = 0.02
) -> None:
    while not stop.is_set():
        await api.task(who, project)
        await asyncio.sleep(pace)


def _positions(events: list[dict[str, Any]]) -> list[int]:
    return [e["position"] for e in events]


async def test_resume_after_disconnect_replays_exactly_what_was_missed(
    api: Api, node_b: Node
) -> None:
    owner, project = await owner_and_project(api)
    channel = f"project:{project}"
    c = await Client.open(node_b.port, owner_ticket(owner))
    await c.subscribe(channel)
    for _ in range(5):
        last = await api.task(owner, project)
    before = await collect_until(c, channel, last)
    await c.close()
    for _ in range(10):
        await api.task(owner, project)
    c = await Client.open(node_b.port, owner_ticket(owner))
    ack = await c.request(
        {"type": "subscribe", "channel": channel, "since": before[-1]["position"]}
    )
    assert ack["recovered"] is True, ack
    for _ in range(5):
        last = await api.task(owner, project)
    after = await collect_until(c, channel, last)
    store = await api.channel_positions(project)
    first = before[0]["position"]
    assert _positions(before + after) == [p for p in store if p >= first]
    # prev chains across the replay and the live stream: no hole a client could see.
    chain = before + after
    assert all(b["prev"] == a["position"] for a, b in zip(chain, chain[1:], strict=False))
    assert await node_b.metric('collabspace_gateway_resumes_total{outcome="recovered"}') >= 1
    await c.close()


async def test_resume_on_another_node_after_sigkill(prefix: str, api: Api, node_b: Node) -> None:
    owner, project = await owner_and_project(api)
    channel = f"project:{project}"
    node_a = await gateway(prefix, api)
    stop = asyncio.Event()
    writer = asyncio.create_task(_writer(api, owner, project, stop))
    try:
        c = await Client.open(node_a.port, owner_ticket(owner))
        await c.subscribe(channel)
        got = await c.events(channel, 5)
        node_a.kill()  # SIGKILL mid-stream
        await c.closed()
        await asyncio.sleep(0.3)  # mutations continue while the client is away
        c2 = await Client.open(node_b.port, owner_ticket(owner))
        ack = await c2.request(
            {"type": "subscribe", "channel": channel, "since": got[-1]["position"]}
        )
        assert ack["recovered"] is True, ack
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await writer
    store = await api.channel_positions(project)
    got += await collect_until(c2, channel, store[-1])
    assert _positions(got) == [p for p in store if p >= got[0]["position"]]
    await c2.close()


async def test_gaps_on_the_live_stream_are_repaired_without_dropping_sockets(
    prefix: str, api: Api
) -> None:
    owner, project = await owner_and_project(api)
    channel = f"project:{project}"
    lossy = await lossy_gateway(prefix, api, every=10)
    try:
        c = await Client.open(lossy.port, owner_ticket(owner))
        await c.subscribe(channel)
        start = await api.task(owner, project)
        for _ in range(40):
            last = await api.task(owner, project)
        got = await collect_until(c, channel, last)
        store = await api.channel_positions(project)
        assert _positions(got) == [p for p in store if start <= p <= last]
        assert await lossy.metric("collabspace_gateway_test_drops_total") >= 4
        assert await lossy.metric("collabspace_gateway_gap_repairs_total") >= 1
        assert (await c.request({"type": "ping", "id": "still-here"}))["type"] == "pong"
        await c.close()
    finally:
        lossy.kill()


async def test_a_member_removed_while_away_gets_events_up_to_the_removal_only(
    api: Api, node_b: Node
) -> None:
    owner, project = await owner_and_project(api)
    channel = f"project:{project}"
    member = await invite(api.http, owner, "Mia")
    r = await api.http.post(
        f"/projects/{project}/members",
        json={"user_id": member["user_id"]},
        headers=owner["headers"],
    )
    assert r.status_code in (200, 201), r.text

    async def ticket() -> str:
        r = await api.http.post("/auth/realtime-ticket", headers=member["headers"])
        assert r.status_code in (200, 201), r.text
        return str(r.json()["ticket"])

    c = await Client.open(node_b.port, await ticket())
    await c.subscribe(channel)
    last = await api.task(owner, project)
    seen = await collect_until(c, channel, last)
    await c.close()
    for _ in range(3):
        await api.task(owner, project)
    r = await api.http.delete(
        f"/projects/{project}/members/{member['user_id']}", headers=owner["headers"]
    )
    assert r.status_code in (200, 204), r.text
    removal = int(r.json()["position"])
    for _ in range(3):
        await api.task(owner, project)
    c = await Client.open(node_b.port, await ticket())
    ack = await c.request({"type": "subscribe", "channel": channel, "since": seen[-1]["position"]})
    assert ack["recovered"] is True, ack
    notice = await c.reply()
    replayed = [e for f in c.stash for e in f["events"]]
    assert notice == {
        "type": "unsubscribed",
        "channel": channel,
        "reason": "access_revoked",
        "position": removal,
    }
    store = await api.channel_positions(project)
    assert _positions(replayed) == [p for p in store if seen[-1]["position"] < p <= removal]
    assert replayed[-1]["type"] == "ProjectMemberRemoved"
    c.stash.clear()
    await api.task(owner, project)
    await c.nothing_more(0.5)
    await c.close()


async def test_presence_across_nodes_and_expiry_of_a_killed_node(prefix: str, api: Api) -> None:
    owner, project = await owner_and_project(api)
    channel = f"project:{project}"
    env = {"PRESENCE_TTL_SECONDS": "2"}
    a, b = await gateway(prefix, api, **env), await gateway(prefix, api, **env)
    try:
        other = "00000000-0000-4000-8000-00000000beef"
        x = await Client.open(a.port, owner_ticket(owner))
        await x.subscribe(channel)
        first = await _side(x, "presence")
        assert [m["user"] for m in first["members"]] == [owner["user_id"]]
        y = await Client.open(b.port, owner_ticket(owner, other))
        await y.subscribe(channel)
        listed = await _side(y, "presence")
        assert {m["user"] for m in listed["members"]} == {owner["user_id"], other}
        joined: set[str] = set()
        while other not in joined:  # x's own join may come first, or in the same frame
            joined |= {m["user"] for m in (await _side(x, "presence")).get("joined", [])}
        assert joined <= {owner["user_id"], other}
        # Ephemeral broadcast: from y on node B to x on node A, with the sender.
        await y.send({"type": "broadcast", "channel": channel, "data": {"typing": True}})
        got = await _side(x, "broadcast")
        assert got["from"]["user"] == other and got["data"] == {"typing": True}
        started = time.monotonic()
        a.kill()
        left = await _side(y, "presence", timeout=10)
        while "left" not in left:  # y's own join notice came first
            left = await _side(y, "presence", timeout=10)
        assert left["left"][0]["user"] == owner["user_id"]
        assert time.monotonic() - started < 2 * 1.25 + 2
        await y.close()
    finally:
        a.kill()
        b.kill()


async def _side(c: Client, kind: str, timeout: float = 5) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for i, f in enumerate(c.side):
            if f["type"] == kind:
                return c.side.pop(i)
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"no {kind} frame; side={c.side}"
        with contextlib.suppress(TimeoutError):
            frame = await c.recv(left)
            (c.side if frame["type"] in ("presence", "broadcast") else c.stash).append(frame)


STORM = int(os.environ.get("STORM_CLIENTS", "300"))


@pytest.mark.parametrize("clients", [STORM])
async def test_reconnect_storm_after_a_node_dies(
    prefix: str, api: Api, node_b: Node, clients: int
) -> None:
    await storm(prefix, api, node_b, clients)


@pytest.mark.slow
async def test_reconnect_storm_2000(prefix: str, api: Api, node_b: Node) -> None:
    await storm(prefix, api, node_b, 2000)


async def storm(prefix: str, api: Api, node_b: Node, clients: int) -> None:
    del node_b  # the storm gets nodes of its own (auth timeout for thousands of handshakes)
    owner, project = await owner_and_project(api)
    channel = f"project:{project}"
    # One user holds every connection here, so the per-user cap is lifted for the storm.
    lifted = {"AUTH_TIMEOUT_SECONDS": "30", "MAX_CONNECTIONS_PER_USER": "100000"}
    doomed = await gateway(prefix, api, **lifted)
    try:  # every node this test starts is killed, whatever fails
        target = await gateway(prefix, api, **lifted)
        try:

            def ticket() -> str:  # a ticket works once: one per connection
                return mint(owner["tenant_id"], owner["user_id"], role="owner", ttl=600)

            opening = [Client.open(doomed.port, ticket()) for _ in range(clients)]
            conns = await asyncio.gather(*opening)
            await asyncio.gather(*[c.subscribe(channel) for c in conns])
            stop = asyncio.Event()
            latencies: list[float] = []
            errors: list[int] = []

            async def probe() -> None:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    try:
                        await api.task(owner, project)
                    except httpx.HTTPError:
                        errors.append(1)  # an idle keep-alive closed under us: count it, go on
                        continue
                    latencies.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.02)

            prober = asyncio.create_task(probe())
            try:
                got = await asyncio.gather(*[c.events(channel, 3, timeout=30) for c in conns])
                doomed.kill()
                await asyncio.gather(*[c.closed() for c in conns])
                latencies.clear()  # measure the storm itself

                async def back(i: int) -> Client:
                    c = await Client.open(target.port, ticket())
                    await c.send(
                        {
                            "type": "subscribe",
                            "id": 1,
                            "channel": channel,
                            "since": got[i][-1]["position"],
                        }
                    )
                    ack = await c.reply(timeout=120)
                    assert ack.get("recovered") is True, ack
                    return c

                again = await asyncio.gather(*[back(i) for i in range(clients)])
                await asyncio.sleep(0.5)
            finally:
                stop.set()
                await prober
                doomed.kill()
                os.environ.get("KEEP_STORM_LOG") and print(target.log.read_text()[-3000:])
            store = await api.channel_positions(project)
            rest = await asyncio.gather(
                *[collect_until(c, channel, store[-1], timeout=60) for c in again]
            )
            for i in range(clients):
                seq = _positions(got[i] + rest[i])
                assert seq == [p for p in store if p >= seq[0]], f"client {i}"
            latencies.sort()
            p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
            fetches = await target.metric("collabspace_gateway_backfill_fetches_total")
            print(
                f"\nstorm clients={clients} api_requests={len(latencies)} "
                f"p50={latencies[len(latencies) // 2] * 1000:.1f}ms p99={p99 * 1000:.1f}ms "
                f"api_errors={len(errors)} backfill_reads={fetches:.0f}"
            )
            for c in again:
                await c.close()
        finally:
            target.kill()
    finally:
        doomed.kill()
