"""Exact resume: `subscribe` with `since` replays what the client missed, then goes live.

1. The session joins the channel as *recovering*: the node subscribes on the broker, and live
   events of the channel go to the session's bounded recovery queue instead of its socket.
2. The channel's events after `since`, and the tenant's access events after `since`, are
   backfilled from the event store (coalesced per channel, see backfill.py); a user's inbox
   (`notifications:<uuid>`) from the inbox read model, the notifications relay's outbox, with
   no access events (only its user gets here, session.py). Anything committed
   before the broker subscription is in the backfill; anything after reaches the queue.
3. replay.plan applies authorization at each event. Then: ack (`recovered: true`), the replay
   and the queued tail (deduplicated by position, in position order), and the session becomes
   a live member in the same loop turn as the last write, so nothing falls between.
Too much to replay (a page over the limit, or a queue overflow) answers `recovered: false,
resync: true` and goes live: never a partial replay presented as complete.

`recovered: true` needs proof, not the backfill's word (`complete` alone once acked a replay of
nothing while events were missed): the replay's `prev` chain must close from `since` (replay.
chain_closes), and the first live event after it must link to its end (replay.continues). A
break found before the ack answers `resync`; one found after it (the tail, or the first live
event once the session is a member) sends a `resync` notice for the channel.
"""

from __future__ import annotations

import asyncio
import logging

from realtime import protocol, replay
from realtime.backfill import BackfillUnavailableError, Page
from realtime.context import Context
from realtime.envelope import Envelope
from realtime.protocol import Channel, ErrorCode, ProtocolError
from realtime.registry import ChannelState
from realtime.state import Session

log = logging.getLogger("realtime.resume")


async def resume(
    ctx: Context, s: Session, channel: Channel, name: str, since: int, rid: protocol.RequestId
) -> None:
    """Answer a subscribe with `since`; the caller checked the channel and the limits."""
    coalescer = ctx.coalescer
    assert coalescer is not None
    m = ctx.metrics
    s.recovery = []
    s.recovery_lost = "overflow"
    state = await ctx.fanout.join_recovering(s, name, channel.name, channel.kind)
    page: Page | None
    access_page: Page | None
    try:
        page = await coalescer.get(s.tenant, channel.name, since)
        # An inbox is its user's whatever their rights: access events cannot cut its replay.
        access_page = (
            Page([], True)
            if channel.kind == "notifications"
            else await coalescer.get(s.tenant, "access", since)
        )
    except BackfillUnavailableError as exc:
        log.warning("backfill unavailable: %s", exc)
        page = access_page = None
    if s.closing:
        _abandon(ctx, s, name)
        return
    outcome = _decide(ctx, s, channel, since, page, access_page)
    if outcome.outcome == "forbidden":
        _abandon(ctx, s, name)
        m.resumes.labels("forbidden").inc()
        raise ProtocolError(ErrorCode.FORBIDDEN, "not a member of this project", rid)
    replayed_to = outcome.events[-1].position if outcome.events else None
    if (
        outcome.outcome == "recovered"
        and outcome.revoked_at is None
        and _short(state, s.recovery, since, replayed_to)
    ):
        m.resume_gaps.labels("tail").inc()  # the live stream already says the replay is short
        outcome = replay.Plan("resync")
    if outcome.outcome == "resync" or s.recovery is None:
        await _go_live_resync(ctx, s, channel, name, state, rid)
        return
    await s.ws.send(protocol.ack(rid, "subscribe", channel.name, recovered=True))
    sent = await _write(ctx, s, channel, outcome.events, since, outcome.revoked_at)
    m.backfilled.inc(len(outcome.events))
    if outcome.revoked_at is not None:
        _abandon(ctx, s, name)
        await s.ws.send(protocol.unsubscribed(channel.name, "access_revoked", outcome.revoked_at))
        m.resumes.labels("revoked").inc()
        return
    drained = await _drain(ctx, s, channel, state, since, replayed_to, sent)
    if drained is None:  # the queue overflowed (or a gap repair gave up) while we wrote
        await _go_live_resync(ctx, s, channel, name, state, rid, acked=True)
        return
    sent, linked = drained
    s.recovery = None
    if s.closing or ctx.fanout.registry.get(name) is not state:
        return
    if not linked and _unproven(s, state, since, replayed_to, sent):
        m.resume_gaps.labels("tail").inc()
        _notify_gap(ctx, s, channel)
    ctx.fanout.promote(s, state)
    s.channels[name] = channel
    m.subscriptions.inc()
    m.resumes.labels("recovered").inc()


def _decide(
    ctx: Context,
    s: Session,
    channel: Channel,
    since: int,
    page: Page | None,
    access_page: Page | None,
) -> replay.Plan:
    """What the backfill allows: a replay plan, or resync/forbidden when it is not exact."""
    fallback = replay.Plan("resync" if s.access.may_read(channel) else "forbidden")
    if page is None or access_page is None:
        return fallback
    if not page.complete or not access_page.complete:
        return fallback
    if not replay.chain_closes(page.events, since):
        ctx.metrics.resume_gaps.labels("replay").inc()
        return fallback
    return replay.plan(s.user, s.access, channel, page.events, access_page.events)


async def _drain(
    ctx: Context,
    s: Session,
    channel: Channel,
    state: ChannelState[Session],
    since: int,
    replayed_to: int | None,
    sent: int,
) -> tuple[int, bool] | None:
    """Write the queued live tail until it is empty (each write may await, and more live events
    arrive meanwhile). Returns the last position written and whether a live event was seen to
    continue the replay; None if the queue was dropped (the client must refetch)."""
    linked = False
    while True:
        queue = s.recovery
        if queue is None:
            return None
        tail = [e for e in queue if e.position > sent]
        if not tail and state.held is None:
            return sent, linked
        s.recovery = []
        if tail and not linked:
            linked = True
            if not replay.continues(min(tail, key=lambda e: e.position), since, replayed_to):
                ctx.metrics.resume_gaps.labels("tail").inc()
                _notify_gap(ctx, s, channel)
        if tail:
            sent = await _write(ctx, s, channel, tail, sent, None)
        elif state.held is not None:  # a gap repair is in flight: its events come to the queue
            await asyncio.sleep(0.01)


def _short(
    state: ChannelState[Session], queue: list[Envelope] | None, since: int, replayed_to: int | None
) -> bool:
    """True if what the node has seen of the channel already shows the replay stops short: the
    first queued live event does not link to it, or the node delivered an event past `since`
    before this session joined (`last_position`, a real event of the channel) that neither the
    replay nor the queue holds."""
    after = since if replayed_to is None else replayed_to
    tail = [e for e in queue or () if e.position > after]
    if tail and not replay.continues(min(tail, key=lambda e: e.position), since, replayed_to):
        return True
    end = max([after, *(e.position for e in queue or ())])
    return state.last_position is not None and state.last_position > end


def _unproven(
    s: Session, state: ChannelState[Session], since: int, replayed_to: int | None, sent: int
) -> bool:
    """No live event continued the replay yet: True if the node's own stream of the channel
    proves a hole now; otherwise leave the proof to the next live event (fanout checks it)."""
    last = state.last_position
    if last is not None:
        # `last` is a real event of the channel; the client must have it if it is past `since`.
        return last > sent
    if replayed_to is not None and state.recovering == {s} and not state.unproven:
        # The channel's live stream links from the replay's end: the fanout's gap check (and
        # bounded repair) guards it, and a late relay copy of a replayed event is a duplicate.
        # Not while other resumes of the channel are in flight: their replays may end earlier.
        state.last_position = replayed_to
    else:
        state.unproven[s] = (since, replayed_to)  # settled by the first live event past it
    return False


def _notify_gap(ctx: Context, s: Session, channel: Channel) -> None:
    """After `recovered: true`: the replay proved short; the client refetches this channel.
    Synchronous (written before any later event), so nothing can slip past a promotion."""
    ctx.metrics.resyncs.inc()
    s.ws.write(protocol.resync(channel.name, "gap"))


async def _write(
    ctx: Context, s: Session, channel: Channel, events: list[Envelope], sent: int, cut: int | None
) -> int:
    """Send events above `sent` (and not past `cut`) in frames of max_batch_events."""
    batch: list[bytes] = []
    for env in sorted(events, key=lambda e: e.position):
        if env.position <= sent or (cut is not None and env.position > cut):
            continue
        batch.append(protocol.client_event(env))
        sent = env.position
        if len(batch) >= ctx.config.max_batch_events:
            await s.ws.send(protocol.events_frame(channel.name, batch))
            batch = []
    if batch:
        await s.ws.send(protocol.events_frame(channel.name, batch))
    return sent


async def _go_live_resync(
    ctx: Context,
    s: Session,
    channel: Channel,
    name: str,
    state: ChannelState[Session],
    rid: protocol.RequestId,
    acked: bool = False,
) -> None:
    """Live from now on; the client refetches state over REST (`recovered: false`)."""
    s.recovery = None
    ctx.metrics.resyncs.inc()
    ctx.metrics.resumes.labels("resync").inc()
    if s.closing or ctx.fanout.registry.get(name) is not state:
        return
    ctx.fanout.promote(s, state)
    s.channels[name] = channel
    ctx.metrics.subscriptions.inc()
    if acked:
        frame = protocol.resync(channel.name, s.recovery_lost)
    else:
        frame = protocol.ack(rid, "subscribe", channel.name, recovered=False, resync=True)
    await s.ws.send(frame)


def _abandon(ctx: Context, s: Session, name: str) -> None:
    s.recovery = None
    ctx.fanout.leave(s, name)
