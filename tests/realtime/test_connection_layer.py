"""The socket layer (realtime/connection.py) on a real gateway process: keepalive by one sweep,
fragmented and non-UTF-8 messages, and a close that completes while a flood is queued."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from gateway_helpers import Client, Node, mint, new_id

GAUGE = "collabspace_gateway_connections"


@pytest.fixture
async def quick_pings(prefix: str) -> AsyncIterator[Node]:
    node = Node(prefix, PING_INTERVAL_SECONDS="0.2", PING_TIMEOUT_SECONDS="0.2")
    try:
        yield await node.ready()
    finally:
        node.kill()


async def _until(node: Node, connections: float, seconds: float = 5.0) -> float:
    deadline = asyncio.get_running_loop().time() + seconds
    while (seen := await node.metric(GAUGE)) != connections:
        if asyncio.get_running_loop().time() > deadline:
            return seen
        await asyncio.sleep(0.05)
    return seen


async def test_a_client_that_stops_answering_pings_is_dropped_and_one_that_answers_stays(
    quick_pings: Node,
) -> None:
    tenant = new_id()
    answering = await Client.open(quick_pings.port, mint(tenant, new_id()))
    silent = await Client.open(quick_pings.port, mint(tenant, new_id()))
    assert await _until(quick_pings, 2) == 2
    silent.ws.transport.pause_reading()  # its pongs stop: the library answers only what it reads
    assert await _until(quick_pings, 1) == 1
    await asyncio.sleep(1.0)  # five more sweeps: the answering client is pinged and stays
    assert (await answering.request({"type": "ping"}))["type"] == "pong"
    assert await quick_pings.metric(GAUGE) == 1
    await answering.close()
    silent.ws.transport.abort()


async def test_a_fragmented_message_is_assembled(nodes: tuple[Node, Node]) -> None:
    client = await Client.open(nodes[0].port, mint(new_id(), new_id()))
    await client.ws.send(['{"type": "pi', 'ng", "id"', ": 41}"])
    assert await client.reply() == {"type": "pong", "id": 41}
    await client.close()


async def test_a_text_frame_that_is_not_utf8_closes_with_1007(nodes: tuple[Node, Node]) -> None:
    client = await Client.open(nodes[0].port, mint(new_id(), new_id()))
    client.ws.protocol.send_text(b'{"type": "ping", "x": "\xff"}')
    client.ws.send_data()
    code, _ = await client.closed()
    assert code == 1007


async def test_a_bad_first_frame_is_closed_1008_even_with_more_frames_queued_behind_it(
    nodes: tuple[Node, Node],
) -> None:
    client = await Client.open(nodes[0].port)
    for _ in range(100):  # more than the queue holds: reading pauses, then must resume
        await client.ws.send('{"type": "ping"}')
    code, _ = await client.closed(timeout=3.0)
    assert code == 1008
