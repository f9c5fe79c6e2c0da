"""FLUSH_WINDOW_MS: at most one event frame per window, and no wait after a quiet spell."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gateway_helpers import Client, Node, Relay, mint, new_id

WINDOW_S = 1.0  # long against loop and Redis delays on a busy machine, so timings are clear


async def next_events(c: Client) -> list[dict[str, Any]]:
    while True:
        frame = await c.recv()
        if frame["type"] == "events":
            events: list[dict[str, Any]] = frame["events"]
            return events


async def test_events_inside_the_window_share_a_frame_and_a_quiet_channel_sends_at_once(
    own_node: Callable[..., Node], relay: Relay
) -> None:
    node = await own_node(FLUSH_WINDOW_MS=str(int(WINDOW_S * 1000))).ready()
    tenant, project = new_id(), new_id()
    c = await Client.open(node.port, mint(tenant, new_id(), projects=[project]))
    await c.subscribe(f"project:{project}")

    first = relay.event(tenant, project)
    started = time.monotonic()
    await relay.publish(first)
    assert [e["position"] for e in await next_events(c)] == [first.position]
    assert time.monotonic() - started < WINDOW_S * 0.8  # the first after a quiet spell: at once

    # Two more while the window is open: held until it closes, then one frame, in order.
    second, third = relay.event(tenant, project), relay.event(tenant, project)
    await relay.publish(second)
    await relay.publish(third)
    batch = await next_events(c)
    assert [e["position"] for e in batch] == [second.position, third.position]
    assert time.monotonic() - started >= WINDOW_S * 0.9

    await asyncio.sleep(WINDOW_S * 1.2)  # quiet again: the next event goes at once
    fourth = relay.event(tenant, project)
    sent = time.monotonic()
    await relay.publish(fourth)
    assert [e["position"] for e in await next_events(c)] == [fourth.position]
    assert time.monotonic() - sent < WINDOW_S * 0.8
    await c.close()
