"""Issue 14: a resume is acked `recovered: true` only with proof; gap repair is bounded.

Real gateway processes, real Redis (this run's channel prefix) and real sockets. The API's
`GET /internal/backfill` is played by `FaultyBackfill`, a small HTTP server in the test: it is
the API's contract, not the code under test, and it lets a test inject the faults seen in the
field (an empty `complete: true` answer while events were missed, a page that skips an event,
an answer that never comes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from gateway_helpers import Client, Node, Relay, T, mint, new_id

from realtime import envelope as wire

MAX_READS = 3
REPAIR_TIMEOUT_S = 3.0
HOLD_LIMIT = 20


class FaultyBackfill:
    """Stands in for the API's backfill endpoint: answers what the test sets, counts reads."""

    def __init__(self) -> None:
        self.pages: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (tenant, scope) -> events
        self.hang: set[str] = set()  # tenants whose reads never answer
        self.hang_after: set[tuple[str, int]] = set()  # (tenant, after) reads that never answer
        self.reads: Counter[tuple[str, str]] = Counter()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> FaultyBackfill:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            target = head.split(" ", 2)[1]
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query))
            key = (query["tenant"], query["scope"])
            self.reads[key] += 1
            if (
                query["tenant"] in self.hang
                or (query["tenant"], int(query["after"])) in self.hang_after
            ):
                await asyncio.sleep(6 * T)
            after = int(query["after"])
            events = [e for e in self.pages.get(key, []) if e["position"] > after]
            body = orjson.dumps({"events": events, "complete": True})
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture(scope="module")
async def backfill() -> AsyncIterator[FaultyBackfill]:
    server = await FaultyBackfill().start()
    yield server
    await server.close()


@pytest.fixture(scope="module")
async def node(prefix: str, backfill: FaultyBackfill) -> AsyncIterator[Node]:
    gateway = Node(
        prefix,
        API_URL=backfill.url,
        REPAIR_MAX_READS=str(MAX_READS),
        REPAIR_TIMEOUT_SECONDS=str(REPAIR_TIMEOUT_S),
        REPAIR_HOLD_LIMIT=str(HOLD_LIMIT),
    )
    try:
        yield await gateway.ready()
    finally:
        gateway.kill()


def _ticket(tenant: str) -> str:
    return mint(tenant, new_id(), role="owner")


def _stored(relay: Relay, env: wire.Envelope, prev: int | None) -> dict[str, Any]:
    """The envelope as the backfill returns it on the project channel."""
    channel = wire.project_channel(relay.prefix, env.tenant, env.project or "")
    return env.on_channel(channel, prev).to_dict()


def _lose(relay: Relay, env: wire.Envelope) -> None:
    """The relay published it, Redis dropped it: `prev` moves on, nobody receives it."""
    for ch in wire.channels_for(relay.prefix, env):
        relay.prev[ch] = env.position


async def _resume(c: Client, channel: str, since: int) -> dict[str, Any]:
    return await c.request({"type": "subscribe", "channel": channel, "since": since})


async def _next_frame(c: Client, kind: str, timeout: float = T) -> dict[str, Any]:
    while True:
        frame = await c.recv(timeout)
        if frame["type"] == kind:
            return frame
        assert frame["type"] in ("presence", "events"), frame
        if frame["type"] == "events":
            c.stash.append(frame)


async def _live_then_a_lost_event(node: Node, relay: Relay, tenant: str, project: str) -> Client:
    """A client live on the project's channel that saw one event; the next is lost on the
    broker, so the event published after it opens a gap."""
    channel = f"project:{project}"
    c = await Client.open(node.port, _ticket(tenant))
    await c.subscribe(channel)
    await relay.publish(relay.event(tenant, project))
    await c.events(channel, 1)
    _lose(relay, relay.event(tenant, project))
    return c


async def test_an_empty_complete_backfill_while_the_node_saw_missed_events_answers_resync(
    node: Node, relay: Relay
) -> None:
    tenant, project = new_id(), new_id()
    channel = f"project:{project}"
    watcher = await Client.open(node.port, _ticket(tenant))
    await watcher.subscribe(channel)
    (e1,) = await relay.publish(relay.event(tenant, project))
    await watcher.events(channel, 1)
    await relay.publish(relay.event(tenant, project), relay.event(tenant, project))
    await watcher.events(channel, 2)
    # The backfill answers {"events": [], "complete": true}: it lies, the node knows better.
    c = await Client.open(node.port, _ticket(tenant))
    ack = await _resume(c, channel, e1.position)
    assert ack["recovered"] is False and ack["resync"] is True, ack
    await c.close()
    await watcher.close()


async def test_an_empty_complete_backfill_is_refuted_by_the_first_live_event(
    node: Node, relay: Relay
) -> None:
    tenant, project = new_id(), new_id()
    channel = f"project:{project}"
    (e1,) = await relay.publish(relay.event(tenant, project))
    # Missed while away; nobody on the node holds the channel, so only `prev` can tell.
    await relay.publish(relay.event(tenant, project), relay.event(tenant, project))
    c = await Client.open(node.port, _ticket(tenant))
    ack = await _resume(c, channel, e1.position)
    assert ack["recovered"] is True, ack  # the store said nothing: nothing to refute yet
    (e4,) = await relay.publish(relay.event(tenant, project))
    notice = await _next_frame(c, "resync")
    assert notice == {"type": "resync", "channel": channel, "reason": "gap"}
    assert [e["position"] for e in await c.events(channel, 1)] == [e4.position]
    await c.close()


async def test_an_empty_backfill_that_is_true_is_confirmed_by_the_first_live_event(
    node: Node, relay: Relay
) -> None:
    tenant, project = new_id(), new_id()
    channel = f"project:{project}"
    (e1,) = await relay.publish(relay.event(tenant, project))
    c = await Client.open(node.port, _ticket(tenant))
    ack = await _resume(c, channel, e1.position)
    assert ack["recovered"] is True, ack
    (e2,) = await relay.publish(relay.event(tenant, project))
    assert [e["position"] for e in await c.events(channel, 1)] == [e2.position]
    await c.nothing_more()
    await c.close()


async def test_a_backfill_page_that_skips_an_event_answers_resync(
    node: Node, relay: Relay, backfill: FaultyBackfill
) -> None:
    tenant, project = new_id(), new_id()
    channel = f"project:{project}"
    e1, e2, e3 = await relay.publish(*(relay.event(tenant, project) for _ in range(3)))
    # Complete, in order, but e2 is missing: e3's prev (e2) does not link to since (e1).
    backfill.pages[(tenant, f"project:{project}")] = [_stored(relay, e3, e2.position)]
    c = await Client.open(node.port, _ticket(tenant))
    ack = await _resume(c, channel, e1.position)
    assert ack["recovered"] is False and ack["resync"] is True, ack
    await c.nothing_more()
    await c.close()


async def test_a_backfill_page_whose_chain_closes_is_replayed_exactly(
    node: Node, relay: Relay, backfill: FaultyBackfill
) -> None:
    tenant, project = new_id(), new_id()
    channel = f"project:{project}"
    e1, e2, e3 = await relay.publish(*(relay.event(tenant, project) for _ in range(3)))
    backfill.pages[(tenant, f"project:{project}")] = [
        _stored(relay, e1, None),
        _stored(relay, e2, e1.position),
        _stored(relay, e3, e2.position),
    ]
    c = await Client.open(node.port, _ticket(tenant))
    ack = await _resume(c, channel, e1.position)
    assert ack["recovered"] is True, ack
    (e4,) = await relay.publish(relay.event(tenant, project))
    got = await c.events(channel, 3)
    assert [e["position"] for e in got] == [e2.position, e3.position, e4.position]
    await c.nothing_more()
    await c.close()


async def test_a_gap_the_backfill_never_fills_ends_in_resync_within_the_read_bound(
    node: Node, relay: Relay, backfill: FaultyBackfill
) -> None:
    tenant, project = new_id(), new_id()
    channel = f"project:{project}"
    c = await _live_then_a_lost_event(node, relay, tenant, project)
    started = time.monotonic()
    (e3,) = await relay.publish(relay.event(tenant, project))
    notice = await _next_frame(c, "resync", timeout=REPAIR_TIMEOUT_S + T)
    assert notice == {"type": "resync", "channel": channel, "reason": "gap"}
    assert time.monotonic() - started < REPAIR_TIMEOUT_S
    assert backfill.reads[(tenant, f"project:{project}")] == MAX_READS
    # The socket stays open and the channel goes on live from the held event.
    assert [e["position"] for e in await c.events(channel, 1)] == [e3.position]
    (e4,) = await relay.publish(relay.event(tenant, project))
    assert [e["position"] for e in await c.events(channel, 1)] == [e4.position]
    await asyncio.sleep(0.5)
    assert backfill.reads[(tenant, f"project:{project}")] == MAX_READS  # no read after giving up
    assert await node.metric('collabspace_gateway_gaps_unrepaired_total{reason="reads"}') >= 1
    await c.close()


async def test_a_gap_whose_backfill_never_answers_ends_in_resync_within_the_time_bound(
    node: Node, relay: Relay, backfill: FaultyBackfill
) -> None:
    tenant, project = new_id(), new_id()
    channel = f"project:{project}"
    backfill.hang.add(tenant)
    c = await _live_then_a_lost_event(node, relay, tenant, project)
    started = time.monotonic()
    (e3,) = await relay.publish(relay.event(tenant, project))
    await _next_frame(c, "resync", timeout=REPAIR_TIMEOUT_S + T)
    assert REPAIR_TIMEOUT_S - 0.5 < time.monotonic() - started < REPAIR_TIMEOUT_S + 1.5
    assert [e["position"] for e in await c.events(channel, 1)] == [e3.position]
    assert await node.metric('collabspace_gateway_gaps_unrepaired_total{reason="time"}') >= 1
    await c.close()


async def test_events_held_during_a_repair_are_bounded_then_resync(
    node: Node, relay: Relay, backfill: FaultyBackfill
) -> None:
    tenant, project = new_id(), new_id()
    channel = f"project:{project}"
    backfill.hang.add(tenant)
    c = await _live_then_a_lost_event(node, relay, tenant, project)
    started = time.monotonic()
    burst = await relay.publish(*(relay.event(tenant, project) for _ in range(HOLD_LIMIT + 5)))
    await _next_frame(c, "resync", timeout=REPAIR_TIMEOUT_S + T)
    assert time.monotonic() - started < REPAIR_TIMEOUT_S / 2  # the cap, not the clock
    got = await c.events(channel, len(burst))
    assert [e["position"] for e in got] == [e.position for e in burst]
    assert await node.metric('collabspace_gateway_gaps_unrepaired_total{reason="held"}') >= 1
    with contextlib.suppress(Exception):
        await c.close()


async def test_a_replay_that_ends_short_is_completed_by_gap_repair_once_live_shows_it(
    node: Node, relay: Relay, backfill: FaultyBackfill
) -> None:
    tenant, project = new_id(), new_id()
    channel = f"project:{project}"
    scope = (tenant, f"project:{project}")
    e1, e2, e3 = await relay.publish(*(relay.event(tenant, project) for _ in range(3)))
    # The first answer stops at e2 yet says complete; later reads have e3.
    backfill.pages[scope] = [_stored(relay, e2, e1.position)]
    c = await Client.open(node.port, _ticket(tenant))
    assert (await _resume(c, channel, e1.position))["recovered"] is True
    assert [e["position"] for e in await c.events(channel, 1)] == [e2.position]
    backfill.pages[scope].append(_stored(relay, e3, e2.position))
    (e4,) = await relay.publish(relay.event(tenant, project))  # prev e3: the replay was short
    got = await c.events(channel, 2)
    assert [e["position"] for e in got] == [e3.position, e4.position]
    await c.nothing_more()
    await c.close()


async def test_a_replay_that_ends_short_and_stays_short_ends_in_resync(
    node: Node, relay: Relay, backfill: FaultyBackfill
) -> None:
    tenant, project = new_id(), new_id()
    channel = f"project:{project}"
    e1, e2, e3 = await relay.publish(*(relay.event(tenant, project) for _ in range(3)))
    backfill.pages[(tenant, f"project:{project}")] = [_stored(relay, e2, e1.position)]
    c = await Client.open(node.port, _ticket(tenant))
    assert (await _resume(c, channel, e1.position))["recovered"] is True
    assert [e["position"] for e in await c.events(channel, 1)] == [e2.position]
    (e4,) = await relay.publish(relay.event(tenant, project))
    notice = await _next_frame(c, "resync", timeout=REPAIR_TIMEOUT_S + T)
    assert notice == {"type": "resync", "channel": channel, "reason": "gap"}
    assert [e["position"] for e in await c.events(channel, 1)] == [e4.position]
    await c.close()


async def test_a_resume_waiting_on_a_gap_repair_that_gives_up_gets_resync(
    node: Node, relay: Relay, backfill: FaultyBackfill
) -> None:
    tenant, project = new_id(), new_id()
    channel = f"project:{project}"
    watcher = await Client.open(node.port, _ticket(tenant))
    await watcher.subscribe(channel)
    (e1,) = await relay.publish(relay.event(tenant, project))
    await watcher.events(channel, 1)
    # The repair reads after e1 and never gets an answer; the resume (since before e1) does.
    backfill.hang_after.add((tenant, e1.position))
    backfill.pages[(tenant, f"project:{project}")] = [_stored(relay, e1, None)]
    _lose(relay, relay.event(tenant, project))
    (e3,) = await relay.publish(relay.event(tenant, project))
    await asyncio.sleep(0.2)  # the repair is under way, holding e3
    c = await Client.open(node.port, _ticket(tenant))
    assert (await _resume(c, channel, e1.position - 1))["recovered"] is True
    assert [e["position"] for e in await c.events(channel, 1)] == [e1.position]
    # The repair gives up at its time bound: the resuming client is told, like the members.
    notice = await _next_frame(c, "resync", timeout=REPAIR_TIMEOUT_S + T)
    assert notice == {"type": "resync", "channel": channel, "reason": "gap"}
    assert (await _next_frame(watcher, "resync"))["reason"] == "gap"
    (e4,) = await relay.publish(relay.event(tenant, project))
    assert [e["position"] for e in await c.events(channel, 1)] == [e4.position]
    await c.close()
    await watcher.close()
