"""Gap repair on the live stream: an event whose `prev` is not the last position seen on its
channel means the broker lost messages (Redis pub/sub is at most once). The channel holds its
incoming events, backfills the missing range from the event store, delivers it, then releases
what it held, in order. Sockets stay open.

Bounded (docs/protocol.md 7.3): at most `max_reads` backfill reads and `timeout_s` seconds per
gap, and at most `hold_limit` held events per channel (fanout.on_message). Past any bound the
channel's members get a `resync` notice, the held events are delivered as they are and the
channel goes on live. A backfill that answers without the missing range (or with a `prev` chain
that does not link to the last delivered event) is not progress: it costs a read and a backoff.
"""

from __future__ import annotations

import asyncio
import logging

from realtime.backfill import BackfillUnavailableError, Coalescer, Page
from realtime.envelope import channel_of
from realtime.fanout import Fanout
from realtime.registry import ChannelState
from realtime.state import Session

log = logging.getLogger("realtime.repair")
BACKOFF_S = 0.1  # after an unproductive read: 0.1, 0.2, 0.4 ... s, capped at BACKOFF_MAX_S
BACKOFF_MAX_S = 2.0


def scope_of(state: ChannelState[Session]) -> tuple[str, str]:
    """(tenant, backfill scope) of a tenant, project or notifications broker channel."""
    if state.kind == "notifications":  # `<prefix>:<tenant>:notifications:<user>`
        tenant = state.broker_name.split(":")[-3]
        return tenant, state.client_name  # "notifications:<user>", as the backfill names it
    channel = channel_of(state.broker_name)
    return channel.tenant, "tenant" if channel.key is None else f"project:{channel.key}"


async def repair(
    fanout: Fanout,
    state: ChannelState[Session],
    *,
    coalescer: Coalescer,
    max_reads: int,
    timeout_s: float,
) -> None:
    """Fill the channel's hole from the backfill, within the bounds, or resync its members.

    A `fanout.GapRepair` once its keyword arguments are bound (server.Gateway does)."""
    tenant, scope = scope_of(state)
    epoch = state.repair_epoch
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    reads = idle = 0
    reason = "reads"
    while _current(fanout, state, epoch):
        left = deadline - loop.time()
        if reads >= max_reads or left <= 0:
            if left <= 0:
                reason = "time"
            log.warning(
                "gap on %s not repaired after %d reads (%s)", state.broker_name, reads, reason
            )
            fanout.abandon_repair(state, reason)
            return
        reads += 1
        fanout.metrics.repair_reads.inc()
        page: Page | None = None
        try:
            async with asyncio.timeout(left):
                page = await coalescer.get(tenant, scope, state.last_position or 0)
            reason = "reads"
        except BackfillUnavailableError as exc:
            log.info("gap repair read failed on %s: %s", state.broker_name, exc)
            reason = "unavailable"
        except TimeoutError:
            reason = "time"
        if not _current(fanout, state, epoch):
            return
        before = state.last_position
        if page is not None and _apply(fanout, state, page):
            fanout.metrics.gap_repairs.inc()
            fanout.flush()
            return
        fanout.flush()
        if state.last_position == before:  # no progress: back off before the next read
            idle += 1
            await asyncio.sleep(
                min(BACKOFF_S * 2 ** (idle - 1), BACKOFF_MAX_S, max(0.0, deadline - loop.time()))
            )


def _current(fanout: Fanout, state: ChannelState[Session], epoch: int) -> bool:
    """Still this repair's job: the channel has local members and nobody ended the repair."""
    return (
        fanout.registry.get(state.broker_name) is state
        and state.held is not None
        and state.repair_epoch == epoch
    )


def _apply(fanout: Fanout, state: ChannelState[Session], page: Page) -> bool:
    """Deliver what links to the last delivered event, then release the held events up to the
    next hole. Synchronous: no broker message can interleave. True when the hole is closed."""
    for env in page.events:
        last = state.last_position
        if last is not None and env.position <= last:
            continue
        if last is not None and env.prev != last:
            break  # the page skips something too: what follows is not proven
        fanout.deliver(state, env)
        fanout.metrics.backfilled.inc()
    held, state.held = state.held or [], None
    for i, env in enumerate(held):
        last = state.last_position
        if last is not None and env.position <= last:
            continue
        if last is not None and env.prev is not None and env.prev > last:
            state.held = held[i:]  # still a hole (lost after the read, or not in the page)
            return False
        fanout.deliver(state, env)
    return True
