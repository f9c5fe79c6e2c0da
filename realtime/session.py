"""A connection's session: authenticate with the first frame, then subscribe/unsubscribe/ping."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import uuid

from realtime import live, protocol, resume
from realtime.auth import Access, Ticket, TicketError, verify_ticket
from realtime.broker import BrokerError
from realtime.config import GatewayConfig
from realtime.connection import Connection
from realtime.context import Context
from realtime.envelope import user_channel
from realtime.protocol import Channel, CloseCode, ErrorCode, ProtocolError
from realtime.state import Session
from realtime.tickets import TicketStoreError

log = logging.getLogger("realtime.session")


def opened(ctx: Context, conn: Connection) -> None:
    """The upgrade is done: the client has `auth_timeout` to authenticate with its first frame."""
    if len(ctx.sessions) >= ctx.config.max_connections:
        ctx.metrics.closes["overloaded"].inc()
        conn.close(CloseCode.OVERLOADED, "node at capacity")
        return
    conn.set_deadline(ctx.config.auth_timeout, functools.partial(_auth_timeout, ctx, conn))


def _auth_timeout(ctx: Context, conn: Connection) -> None:
    if conn.session is None:
        ctx.metrics.closes["auth"].inc()
        conn.close(CloseCode.POLICY, "auth timeout")


async def message(ctx: Context, conn: Connection, raw: str | bytes) -> None:
    """One client message (a connection's messages are handled one at a time)."""
    try:
        if conn.session is None:
            await _open_session(ctx, conn, raw)
        else:
            await _on_frame(ctx, conn.session, raw)
    except BrokerError as exc:
        log.warning("broker unavailable: %s", exc)
        ctx.metrics.closes["overloaded"].inc()
        conn.close(CloseCode.OVERLOADED, "broker unavailable")


def closed(ctx: Context, conn: Connection) -> None:
    """The socket is gone: leave every channel and presence, and stop counting it."""
    session: Session | None = conn.session
    if session is None:
        return
    conn.session = None
    ctx.metrics.subscriptions.dec(len(session.channels))
    for channel in list(session.present):
        live.presence_leave(ctx, session, channel)
    ctx.fanout.drop(session)
    ctx.sessions.discard(session)
    left = ctx.per_user.pop(session.user, 1) - 1
    if left > 0:
        ctx.per_user[session.user] = left
    ctx.metrics.connections.dec()


async def _open_session(ctx: Context, conn: Connection, raw: str | bytes) -> None:
    ticket = await _authenticate(ctx, conn, raw)
    if ticket is None or not conn.open:
        return
    conn.set_deadline(None)
    if ctx.per_user.get(ticket.user, 0) >= ctx.config.max_connections_per_user:
        ctx.metrics.closes["user_cap"].inc()
        conn.close(CloseCode.OVERLOADED, "too many connections for this user")
        return
    now = asyncio.get_running_loop().time()
    # Jitter spreads the re-authentication of connections opened together (after a deploy).
    lifetime = ctx.config.max_lifetime_s * random.uniform(0.9, 1.1)
    session = Session(
        conn,
        ticket.user,
        ticket.tenant,
        Access.from_ticket(ticket),
        user_channel(ctx.config.channel_prefix, ticket.tenant, ticket.user),
        tokens=float(ctx.config.rate_burst),
        last_refill=now,
        expires_at=now + lifetime,
        name=ticket.name,
        session_id=uuid.uuid4().hex,
        eph_tokens=float(ctx.config.ephemeral_burst),
        eph_refill=now,
    )
    conn.session = session
    ctx.sessions.add(session)
    ctx.per_user[session.user] = ctx.per_user.get(session.user, 0) + 1
    ctx.metrics.connections.inc()
    # Access events for this user reach every node that holds one of its sockets.
    await ctx.fanout.join(session, session.user_channel, "", "user")
    await conn.send(
        protocol.welcome(
            session.session_id,
            session.user,
            session.tenant,
            session.access.role,
            ctx.config.heartbeat_s,
            ctx.features,
        )
    )


def expire_sessions(ctx: Context) -> None:
    """Close connections past their lifetime (one sweep for all: no timer per connection)."""
    now = asyncio.get_running_loop().time()
    for s in [s for s in ctx.sessions if s.expires_at <= now]:
        ctx.fanout.kick(s, CloseCode.REAUTHENTICATE, "connection lifetime reached", "lifetime")


async def _authenticate(ctx: Context, conn: Connection, raw: str | bytes) -> Ticket | None:
    try:
        frame = protocol.parse_client_frame(raw)
        if not isinstance(frame, protocol.Auth):
            raise ProtocolError(ErrorCode.BAD_FRAME, "first frame must be auth")
        ticket = verify_ticket(frame.ticket, ctx.config.secret_key)
        # Only a genuine ticket is remembered: forged ones cost no store entry.
        if not await ctx.tickets.claim(ticket.jti, ticket.expires_at):
            raise TicketError("ticket already used", expired=True)  # 4001: get a fresh one
        return ticket
    except ProtocolError as exc:
        code, reason = CloseCode.POLICY, exc.message
    except TicketError as exc:
        code = CloseCode.REAUTHENTICATE if exc.expired else CloseCode.POLICY
        reason = exc.reason
    except TicketStoreError as exc:
        # Fail closed: a ticket that cannot be proven unused is not admitted; the client backs
        # off and retries (with a fresh ticket: this one may have been claimed after all).
        log.warning("%s", exc)
        ctx.metrics.closes["overloaded"].inc()
        conn.close(CloseCode.OVERLOADED, "ticket store unavailable, retry")
        return None
    ctx.metrics.closes["auth"].inc()
    conn.close(code, reason)
    return None


async def _on_frame(ctx: Context, s: Session, raw: str | bytes) -> None:
    ctx.metrics.messages_in.inc()
    if not _charge(ctx.config, s):
        if s.strikes > ctx.config.rate_burst:
            ctx.fanout.kick(s, CloseCode.POLICY, "rate limit exceeded", "rate_limit")
        else:
            await s.ws.send(protocol.error(ErrorCode.RATE_LIMITED, "too many frames"))
        return
    reply: bytes | None
    subscribed: Channel | None = None
    try:
        frame = protocol.parse_client_frame(raw)
        if isinstance(frame, protocol.Ping):
            reply = protocol.pong(frame.id)
        elif isinstance(frame, protocol.Subscribe):
            fresh = ctx.broker_name(s.tenant, frame.channel) not in s.channels
            reply = await _subscribe(ctx, s, frame)
            if fresh and ctx.broker_name(s.tenant, frame.channel) in s.channels:
                subscribed = frame.channel
        elif isinstance(frame, protocol.Unsubscribe):
            reply = _unsubscribe(ctx, s, frame)
        elif isinstance(frame, protocol.Broadcast):
            reply = await live.ephemeral(ctx, s, frame)
        else:
            raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, "already authenticated")
    except ProtocolError as exc:
        reply = protocol.error(exc.code, exc.message, exc.request_id)
    # send(), not broadcast(): replies to one client want backpressure against floods.
    if reply is not None:
        await s.ws.send(reply)
    if subscribed is not None:
        await live.presence_join(ctx, s, subscribed)


def _charge(config: GatewayConfig, s: Session) -> bool:
    """Token bucket: `rate_burst` frames at once, `rate_per_s` sustained."""
    now = asyncio.get_running_loop().time()
    s.tokens = min(float(config.rate_burst), s.tokens + (now - s.last_refill) * config.rate_per_s)
    s.last_refill = now
    if s.tokens >= 1.0:
        s.tokens -= 1.0
        s.strikes = 0
        return True
    s.strikes += 1
    return False


async def _subscribe(ctx: Context, s: Session, frame: protocol.Subscribe) -> bytes | None:
    channel, rid = frame.channel, frame.id
    name = ctx.broker_name(s.tenant, channel)
    # A resume may replay up to a removal that happened while the client was away, so a
    # project or tenant channel is checked at each replayed event (replay.py). An inbox is its
    # user's alone at every position: checked here, before anything of it is read.
    resuming = frame.since is not None and ctx.coalescer is not None and name not in s.channels
    checked_later = resuming and channel.kind != "notifications"
    if not checked_later and not s.access.may_read(channel):
        raise ProtocolError(ErrorCode.FORBIDDEN, _forbidden_message(channel), rid)
    if name not in s.channels:
        if len(s.channels) >= ctx.config.max_subscriptions:
            raise ProtocolError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, "subscription limit reached", rid)
        if resuming and frame.since is not None:
            try:
                await resume.resume(ctx, s, channel, name, frame.since, rid)
            except BrokerError as exc:
                log.warning("subscribe failed: %s", exc)
                s.recovery = None
                ctx.fanout.leave(s, name)
                raise ProtocolError(
                    ErrorCode.UNAVAILABLE, "broker unavailable, retry", rid
                ) from None
            return None
        s.channels[name] = channel
        ctx.metrics.subscriptions.inc()
        try:
            await ctx.fanout.join(s, name, channel.name, channel.kind)
        except BrokerError as exc:
            log.warning("subscribe failed: %s", exc)
            _forget(ctx, s, name)
            raise ProtocolError(ErrorCode.UNAVAILABLE, "broker unavailable, retry", rid) from None
        if not s.access.may_read(channel) or s.closing:
            _forget(ctx, s, name)  # access was revoked while we waited for the broker
            raise ProtocolError(ErrorCode.FORBIDDEN, _forbidden_message(channel), rid)
    # Without `since` (or without a backfill API) the stream starts now: recovered=false.
    # `resync` tells a client that asked for `since` that it must refetch state.
    if frame.since is not None:
        ctx.metrics.resumes.labels("resync").inc()
        return protocol.ack(rid, "subscribe", channel.name, recovered=False, resync=True)
    return protocol.ack(rid, "subscribe", channel.name, recovered=False)


def _unsubscribe(ctx: Context, s: Session, frame: protocol.Unsubscribe) -> bytes:
    name = ctx.broker_name(s.tenant, frame.channel)
    if name in s.channels:
        _forget(ctx, s, name)
        live.presence_leave(ctx, s, frame.channel)
    return protocol.ack(frame.id, "unsubscribe", frame.channel.name)


def _forget(ctx: Context, s: Session, name: str) -> None:
    if s.channels.pop(name, None) is not None:
        ctx.metrics.subscriptions.dec()
    ctx.fanout.leave(s, name)


def _forbidden_message(channel: Channel) -> str:
    if channel.kind == "tenant":
        return "the tenant channel needs the owner or admin role"
    if channel.kind == "notifications":
        return "only its user may subscribe to a notifications channel"
    return "not a member of this project"
