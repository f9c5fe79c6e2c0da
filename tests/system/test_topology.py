"""The recommended deployment (Procfile + README "Operations"), as processes, under test.

Everything a client does here is written from README.md and docs/protocol.md: REST with httpx,
a fresh ticket per WebSocket connection, `since` = the last position seen. Expected sequences
are read from the event store itself (as the owner), so every check is an exact list: each event
once, in position order, nothing missing and nothing extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.support import APP_ROLE
from tests.system.clients import Browser, Socket
from tests.system.topology import T, Topology, plain

pytestmark = pytest.mark.system


async def caught_up(browser: Browser, path: str, position: int) -> dict[str, Any]:
    """Set-up only: the read model at `path` reflects `position` (bounded, fails loudly)."""
    last = None
    deadline = time.monotonic() + 4 * T
    while time.monotonic() < deadline:
        r = await browser.http.get(path, params={"min_position": position}, headers=browser.headers)
        if r.status_code == 200 and "X-Read-Lag" not in r.headers:
            body: dict[str, Any] = r.json()
            return body
        last = (r.status_code, r.headers.get("X-Read-Lag"), r.text[:200])
        await asyncio.sleep(0.05)
    raise AssertionError(f"read model {path} never reached {position}: {last}")


async def owner_with_project(topology: Topology) -> tuple[Browser, str, int]:
    owner = await Browser.sign_up(topology)
    project, position = await owner.create_project()
    await caught_up(owner, f"/projects/{project}/dashboard", position)
    return owner, project, position


async def test_load_then_subscribe_misses_nothing(topology: Topology) -> None:
    """GET a read model, others write, subscribe with since=as_of_position: no gap, no dup."""
    owner, project, _ = await owner_with_project(topology)
    other = await owner.invite("Writer", role="admin")
    channel = f"project:{project}"
    task, _ = await owner.create_task(project)
    loaded = await owner.call("GET", f"/projects/{project}/dashboard")
    as_of = int(loaded["as_of_position"])
    # Between the page load and the subscribe, another user keeps working (the usual case).
    for n in range(3):
        await other.edit_task(task, f"meanwhile {n}")
    sock = await owner.socket(0)
    ack = await sock.subscribe(channel, since=as_of)
    assert ack["type"] == "ack" and ack.get("recovered") is True, ack
    last = 0
    for n in range(5):
        last = await other.edit_task(task, f"after {n}")
    expected = await topology.project_positions(project, after=as_of)
    got = await sock.positions_until(channel, last)
    assert got == expected, (
        f"as_of={as_of}: every event after it, once and in order; got {got}, expected {expected}"
    )
    await sock.close()


async def test_resume_on_the_other_node_after_20_missed_events(topology: Topology) -> None:
    owner, project, _ = await owner_with_project(topology)
    channel = f"project:{project}"
    a = await owner.socket(0)
    ack = await a.subscribe(channel)
    assert ack["type"] == "ack", ack
    task, _ = await owner.create_task(project)
    shown = [await owner.edit_task(task, f"seen {n}") for n in range(3)]
    seen = await a.positions_through(channel, shown[-1])
    last_seen = seen[-1]
    await a.close()

    missed = [await owner.edit_task(task, f"edit {n}") for n in range(20)]
    assert await topology.project_positions(project, after=last_seen) == missed

    b = await owner.socket(1)
    ack = await b.subscribe(channel, since=last_seen)
    assert ack["type"] == "ack" and ack.get("recovered") is True and not ack.get("resync"), ack
    live = await owner.edit_task(task, "live")
    got = await b.positions_until(channel, live)
    assert got == [*missed, live], (
        f"resumed on node 1 with since={last_seen} ({ack}): exactly "
        f"the 20 missed then the live one {[*missed, live]}; "
        f"got {len(got)}: {got}"
    )
    await b.close()


async def test_a_member_removed_while_away_gets_the_replay_up_to_the_removal_only(
    topology: Topology,
) -> None:
    owner, project, _ = await owner_with_project(topology)
    channel = f"project:{project}"
    member = await owner.invite("Mia")
    added = await owner.add_member(project, member.user_id)
    await caught_up(member, f"/projects/{project}/dashboard", added)
    sock = await member.socket(0)
    ack = await sock.subscribe(channel)
    assert ack["type"] == "ack", ack
    task, position = await owner.create_task(project)
    last_seen = (await sock.positions_through(channel, position))[-1]
    await sock.close()

    # The owner, live on the node the member will use: once it has an event, the node has it.
    watcher = await owner.socket(1)
    assert (await watcher.subscribe(channel))["type"] == "ack"
    before = [await owner.edit_task(task, f"before {n}") for n in range(3)]
    removal = await owner.remove_member(project, member.user_id)
    after = [await owner.edit_task(task, f"after {n}") for n in range(3)]
    await watcher.positions_through(channel, after[-1])

    resumed = await member.socket(1)
    ack = await resumed.subscribe(channel, since=last_seen)
    # Then more is committed and relayed: none of it may reach the former member.
    later = await owner.edit_task(task, "later")
    await watcher.positions_through(channel, later)
    with contextlib.suppress(AssertionError):
        await resumed.wait(lambda: resumed.of_type("unsubscribed"), "unsubscribed", T)
    revoked = {
        "type": "unsubscribed",
        "channel": channel,
        "reason": "access_revoked",
        "position": removal,
    }
    seen: list[tuple[str, Any]] = []  # what the member got, in arrival order
    for f in resumed.frames:
        if f["type"] == "events":
            seen += [("events", e["position"]) for e in f["events"]]
        elif f["type"] in ("unsubscribed", "resync"):
            seen.append((f["type"], f.get("reason")))
    replay = [p for p in await topology.project_positions(project, after=last_seen) if p <= removal]
    assert replay == [*before, removal], replay
    expected = [*(("events", p) for p in replay), ("unsubscribed", "access_revoked")]
    assert (ack["type"], ack.get("resync"), seen) == ("ack", None, expected), (
        f"since={last_seen}, removal at {removal}, after it {[*after, later]}: ack {ack}; "
        f"want the replay up to the removal, then unsubscribed, nothing after; got {seen}"
    )
    assert resumed.of_type("unsubscribed") == [revoked], resumed.of_type("unsubscribed")

    r = await member.http.get(
        f"/projects/{project}/dashboard", params={"min_position": later}, headers=member.headers
    )
    assert r.status_code == 404, ("REST refuses the removed member", r.status_code, r.text[:200])
    for s in (resumed, watcher):
        await s.close()


async def test_min_position_waits_for_the_worker_projections(topology: Topology) -> None:
    """Read-your-writes with projections in the worker: 200, new state, no X-Read-Lag."""
    owner, project, _ = await owner_with_project(topology)
    stale: list[Any] = []
    for n in range(1, 6):
        _, position = await owner.create_task(project, f"t{n}")
        r = await owner.http.get(
            f"/projects/{project}/dashboard",
            params={"min_position": position},
            headers=owner.headers,
        )
        total = r.json().get("task_total") if r.status_code == 200 else None
        if r.status_code != 200 or "X-Read-Lag" in r.headers or total != n:
            stale.append(("dashboard", n, r.status_code, r.headers.get("X-Read-Lag"), total))
    for n in range(3):
        created, position = await owner.create_project(f"new {n}")
        r = await owner.http.get(
            f"/projects/{created}/dashboard",
            params={"min_position": position},
            headers=owner.headers,
        )
        if r.status_code != 200 or "X-Read-Lag" in r.headers:
            stale.append(("new dashboard", n, r.status_code, r.headers.get("X-Read-Lag")))
        listed = await owner.http.get(
            "/projects", params={"min_position": position}, headers=owner.headers
        )
        ids = [i["project_id"] for i in listed.json().get("items", [])]
        if listed.status_code != 200 or "X-Read-Lag" in listed.headers or created not in ids:
            stale.append(
                ("list", n, listed.status_code, listed.headers.get("X-Read-Lag"), created in ids)
            )
    assert stale == [], f"{len(stale)} of 11 reads did not wait for ?min_position=: {stale}"


def presence_of(sock: Socket, channel: str) -> set[str]:
    """The users present on `channel` as this client sees them (list, then joined/left)."""
    present: set[str] = set()
    for f in sock.of_type("presence"):
        if f.get("channel") != channel:
            continue
        if "members" in f:
            present = {m["user"] for m in f["members"]}
        present |= {m["user"] for m in f.get("joined", [])}
        present -= {m["user"] for m in f.get("left", [])}
    return present


async def test_presence_is_seen_across_the_two_nodes(topology: Topology) -> None:
    owner, project, _ = await owner_with_project(topology)
    channel = f"project:{project}"
    member = await owner.invite("Ada")
    added = await owner.add_member(project, member.user_id)
    await caught_up(member, f"/projects/{project}/dashboard", added)
    one, two = owner.user_id, member.user_id

    a = await owner.socket(0)
    assert (await a.subscribe(channel))["type"] == "ack"
    await a.wait(lambda: presence_of(a, channel) == {one}, "user 1 sees itself on node 0")
    b = await member.socket(1)
    assert (await b.subscribe(channel))["type"] == "ack"
    await a.wait(lambda: presence_of(a, channel) == {one, two}, "user 1 sees user 2 join")
    await b.wait(lambda: presence_of(b, channel) == {one, two}, "user 2 sees user 1 there")
    await b.close()
    await a.wait(lambda: presence_of(a, channel) == {one}, "user 1 sees user 2 leave")

    b = await member.socket(1)
    assert (await b.subscribe(channel))["type"] == "ack"
    await b.wait(lambda: presence_of(b, channel) == {one, two}, "user 2 back, sees user 1")
    await a.close()
    await b.wait(lambda: presence_of(b, channel) == {two}, "user 2 sees user 1 leave")
    await b.close()


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


async def test_the_api_connects_to_postgresql_as_the_app_role_only(topology: Topology) -> None:
    owner, project, _ = await owner_with_project(topology)
    await owner.call("GET", f"/projects/{project}/dashboard")
    assert topology.web.proc is not None
    ports = local_ports(topology.web.proc.pid)
    conn = await asyncpg.connect(plain(topology.db_url))
    try:
        rows = await conn.fetch(
            "SELECT usename, client_port FROM pg_stat_activity WHERE datname = $1",
            topology.db_url.rsplit("/", 1)[1],
        )
    finally:
        await conn.close()
    api = sorted({r["usename"] for r in rows if r["client_port"] in ports})
    assert api == [APP_ROLE], f"the web process's PostgreSQL sessions run as {api}"


async def test_a_member_just_added_may_subscribe_with_the_next_ticket(topology: Topology) -> None:
    """Read-your-writes for tickets: the ticket lists projects from the worker's read model."""
    owner, project, _ = await owner_with_project(topology)
    refused = []
    for n in range(5):
        member = await owner.invite(f"New{n}")
        await owner.add_member(project, member.user_id)
        sock = await member.socket(n % 2)
        reply = await sock.subscribe(f"project:{project}")
        if reply["type"] != "ack":
            refused.append(reply)
        await sock.close()
    assert refused == [], f"{len(refused)} of 5 members just added were refused: {refused}"
