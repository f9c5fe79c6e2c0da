"""Gap repair on the live stream: an event whose `prev` is not the last position seen on its
channel means the broker lost messages (Redis pub/sub is at most once). The channel holds its
incoming events, backfills the missing range from the event store, delivers it, then releases
what it held, in order. Sockets stay open; only if the API cannot answer after a few tries do
members get a `resync` notice for that channel and the held events are delivered as they are.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from websockets.asyncio.server import broadcast

from realtime import protocol
from realtime.backfill import BackfillUnavailableError, Coalescer
from realtime.registry import ChannelState

if TYPE_CHECKING:
    from realtime.fanout import Fanout
    from realtime.session import Session

log = logging.getLogger("realtime.repair")
ATTEMPTS = 4


def scope_of(state: ChannelState[Session]) -> tuple[str, str]:
    """(tenant, backfill scope) of a tenant or project broker channel `<prefix>:<tenant>:...`."""
    parts = state.broker_name.split(":")
    if state.kind == "project":
        return parts[-3], f"project:{parts[-1]}"
    return parts[-2], "tenant"


async def repair(fanout: Fanout, coalescer: Coalescer, state: ChannelState[Session]) -> None:
    tenant, scope = scope_of(state)
    failures = 0
    while state.held is not None:
        if fanout.registry.get(state.broker_name) is not state:
            return  # the channel's last local member left meanwhile
        after = state.last_position or 0
        try:
            page = await coalescer.get(tenant, scope, after)
        except BackfillUnavailableError as exc:
            failures += 1
            if failures < ATTEMPTS:
                await asyncio.sleep(0.1 * 2**failures)
                continue
            log.warning("gap on %s not repaired: %s", state.broker_name, exc)
            _give_up(fanout, state)
            return
        # Synchronous from here: no broker message can interleave.
        for env in page.events:
            fanout.deliver(state, env)
        fanout.metrics.backfilled.inc(len(page.events))
        held, state.held = state.held, None
        for i, env in enumerate(held):
            last = state.last_position
            if last is not None and env.position <= last:
                continue
            if last is not None and env.prev is not None and env.prev > last:
                state.held = held[i:]  # still a hole (lost after the read): fetch again
                break
            fanout.deliver(state, env)
        if state.held is None:
            fanout.metrics.gap_repairs.inc()
        fanout.flush()


def _give_up(fanout: Fanout, state: ChannelState[Session]) -> None:
    held, state.held = state.held or [], None
    fanout.metrics.resyncs.inc()
    broadcast([s.ws for s in state.members], protocol.resync(state.client_name, "gap"),
              text=True)
    state.last_position = None
    for env in held:
        fanout.deliver(state, env)
    fanout.flush()
