"""Session-level presence and ephemeral broadcasts (realtime/presence.py: across nodes)."""

from __future__ import annotations

import asyncio
import logging

import orjson
from redis.exceptions import RedisError

from realtime import protocol
from realtime.broker import BrokerError
from realtime.context import Context
from realtime.protocol import Channel, ErrorCode, ProtocolError
from realtime.state import Session

log = logging.getLogger("realtime.live")
MAX_EPHEMERAL_BYTES = 1024


def _member(s: Session) -> str:
    return f"{s.user}|{s.session_id}|{s.name}"


async def presence_join(ctx: Context, s: Session, channel: Channel) -> None:
    """After a project subscription: join presence, send the current list to this client."""
    if ctx.presence is None or channel.project is None:
        return
    name = ctx.broker_name(s.tenant, channel)
    live = name + ":live"
    if name not in s.channels or channel in s.present:
        return
    s.present.append(channel)
    try:
        await ctx.fanout.join(s, live, channel.name, "live")
        members = await ctx.presence.join(
            ctx.presence.key(s.tenant, channel.project), live, _member(s)
        )
    except (BrokerError, RedisError, OSError) as exc:
        # Presence is best effort: the subscription stands without it.
        log.warning("presence unavailable: %r", exc)
        return
    await s.ws.send(protocol.presence(channel.name, members=members))


def presence_leave(ctx: Context, s: Session, channel: Channel) -> None:
    """From synchronous code (unsubscribe, revocation, close): stop and publish `left`."""
    if ctx.presence is None or channel not in s.present:
        return
    assert channel.project is not None
    s.present.remove(channel)
    live = ctx.broker_name(s.tenant, channel) + ":live"
    ctx.fanout.leave(s, live)
    ctx.fanout.spawn(
        ctx.presence.leave(ctx.presence.key(s.tenant, channel.project), live, _member(s))
    )


async def ephemeral(ctx: Context, s: Session, frame: protocol.Broadcast) -> bytes | None:
    """Relay a small transient message to the channel's other subscribers on every node."""
    rid = frame.id
    name = ctx.broker_name(s.tenant, frame.channel)
    if ctx.presence is None or frame.channel.project is None:
        raise ProtocolError(ErrorCode.BAD_CHANNEL, "broadcasts go to project channels", rid)
    if name not in s.channels:
        raise ProtocolError(ErrorCode.FORBIDDEN, "subscribe to the channel first", rid)
    if len(orjson.dumps(frame.data)) > MAX_EPHEMERAL_BYTES:
        raise ProtocolError(ErrorCode.BAD_FRAME, "broadcast data over 1 KiB", rid)
    now = asyncio.get_running_loop().time()
    c = ctx.config
    s.eph_tokens = min(
        float(c.ephemeral_burst), s.eph_tokens + (now - s.eph_refill) * c.ephemeral_per_s
    )
    s.eph_refill = now
    if s.eph_tokens < 1.0:
        raise ProtocolError(ErrorCode.RATE_LIMITED, "too many broadcasts", rid)
    s.eph_tokens -= 1.0
    sender = {"user": s.user, "name": s.name, "session": s.session_id}
    await ctx.presence.publish_ephemeral(name + ":live", sender, frame.data)
    return None if rid is None else protocol.ack(rid, "broadcast", frame.channel.name)
