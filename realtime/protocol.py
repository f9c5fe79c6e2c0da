"""The client wire protocol: close codes, error codes, client-frame parsing and server frames.

docs/protocol.md is the normative description; this module is its executable form. Server frames
are built as bytes (orjson) so that fan-out encodes an event once and sends the same bytes to
every subscriber.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Literal

import orjson

from realtime.envelope import Envelope

PROTOCOL_VERSION = 1
MAX_ID_LENGTH = 64
MAX_TICKET_LENGTH = 32 * 1024  # a ticket lists the user's projects; frames stop at 64 KiB


class CloseCode(IntEnum):
    NORMAL = 1000
    POLICY = 1008  # auth or authorisation refused, deactivated, flood: do not retry blindly
    TOO_BIG = 1009  # sent by the websockets library when a frame exceeds max_size
    INTERNAL = 1011  # an unhandled error (library); never used for auth
    RESTART = 1012  # drain/deploy: reconnect (to any node) after a random 0-5 s delay
    OVERLOADED = 1013  # node full: back off exponentially before reconnecting
    REAUTHENTICATE = 4001  # ticket or connection lifetime expired: get a new ticket, reconnect
    RESYNC = 4002  # slow consumer: reconnect and resume with `since` (or refetch state)


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    BINARY_UNSUPPORTED = "binary_unsupported"
    BAD_CHANNEL = "bad_channel"
    FORBIDDEN = "forbidden"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    ALREADY_AUTHENTICATED = "already_authenticated"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


class ProtocolError(Exception):
    """A client frame that breaks the protocol; answered with an error frame, never a crash."""

    def __init__(self, code: ErrorCode, message: str, request_id: RequestId = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


RequestId = str | int | None
ChannelKind = Literal["tenant", "project", "notifications"]


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel as clients name it: `tenant`, `project:<uuid>` or `notifications:<user uuid>`;
    never carries the tenant."""

    kind: ChannelKind
    project: str | None = None
    user: str | None = None  # whose inbox, for a notifications channel

    @property
    def name(self) -> str:
        if self.user is not None:
            return f"notifications:{self.user}"
        return "tenant" if self.project is None else f"project:{self.project}"


def parse_channel(value: object, request_id: RequestId = None) -> Channel:
    if value == "tenant":
        return Channel("tenant")
    if isinstance(value, str) and value.startswith("project:") and len(value) <= 64:
        try:
            # Canonical form, so "project:ABC..." and "project:abc..." are one channel.
            return Channel("project", str(uuid.UUID(value[len("project:") :])))
        except ValueError:
            pass
    if isinstance(value, str) and value.startswith("notifications:") and len(value) <= 64:
        try:
            return Channel("notifications", user=str(uuid.UUID(value[len("notifications:") :])))
        except ValueError:
            pass
    raise ProtocolError(
        ErrorCode.BAD_CHANNEL,
        "channel must be 'tenant', 'project:<uuid>' or 'notifications:<uuid>'",
        request_id,
    )


@dataclass(frozen=True, slots=True)
class Auth:
    ticket: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    id: RequestId
    channel: Channel
    since: int | None  # the last position the client saw: resume from there


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    id: RequestId
    channel: Channel


@dataclass(frozen=True, slots=True)
class Ping:
    id: RequestId


@dataclass(frozen=True, slots=True)
class Broadcast:
    id: RequestId
    channel: Channel
    data: Any


ClientFrame = Auth | Subscribe | Unsubscribe | Ping | Broadcast


def _request_id(obj: dict[str, Any]) -> RequestId:
    rid = obj.get("id")
    if rid is None:
        return None
    if isinstance(rid, str) and len(rid) <= MAX_ID_LENGTH:
        return rid
    if isinstance(rid, int) and not isinstance(rid, bool) and abs(rid) < 2**53:
        return rid
    raise ProtocolError(ErrorCode.BAD_FRAME, "id must be a string (<= 64 chars) or an integer")


def parse_client_frame(raw: str | bytes) -> ClientFrame:
    """Parse one text frame from a client; anything else raises ProtocolError with a stable code."""
    if isinstance(raw, bytes):
        raise ProtocolError(ErrorCode.BINARY_UNSUPPORTED, "send JSON in text frames")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.BAD_JSON, "frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_FRAME, "frame must be a JSON object")
    rid = _request_id(obj)
    kind = obj.get("type")
    if kind == "subscribe":
        since = obj.get("since")
        if since is not None and (
            not isinstance(since, int) or isinstance(since, bool) or since < 0
        ):
            raise ProtocolError(ErrorCode.BAD_FRAME, "since must be a non-negative integer", rid)
        return Subscribe(rid, parse_channel(obj.get("channel"), rid), since)
    if kind == "unsubscribe":
        return Unsubscribe(rid, parse_channel(obj.get("channel"), rid))
    if kind == "ping":
        return Ping(rid)
    if kind == "broadcast":
        return Broadcast(rid, parse_channel(obj.get("channel"), rid), obj.get("data"))
    if kind == "auth":
        ticket = obj.get("ticket")
        if not isinstance(ticket, str) or not 0 < len(ticket) <= MAX_TICKET_LENGTH:
            raise ProtocolError(ErrorCode.BAD_FRAME, "ticket must be a non-empty string", rid)
        return Auth(ticket)
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.BAD_FRAME, "frame needs a string 'type'", rid)
    raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown type {kind[:32]!r}", rid)


# --- server frames -------------------------------------------------------------------------


def welcome(
    session: str,
    user: str,
    tenant: str,
    role: str,
    heartbeat_s: float,
    features: list[str] | None = None,
) -> bytes:
    return orjson.dumps(
        {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "session": session,
            "user": user,
            "tenant": tenant,
            "role": role,
            "heartbeat": heartbeat_s,
            "features": features or [],
        }
    )


def ack(request_id: RequestId, op: str, channel: str, **extra: Any) -> bytes:
    return orjson.dumps({"type": "ack", "id": request_id, "op": op, "channel": channel, **extra})


def error(code: ErrorCode, message: str, request_id: RequestId = None) -> bytes:
    return orjson.dumps({"type": "error", "id": request_id, "code": code.value, "message": message})


def pong(request_id: RequestId) -> bytes:
    return orjson.dumps({"type": "pong", "id": request_id})


def unsubscribed(channel: str, reason: str, position: int | None) -> bytes:
    """Server-initiated unsubscribe (access revoked); `position` is the event that revoked it."""
    return orjson.dumps(
        {"type": "unsubscribed", "channel": channel, "reason": reason, "position": position}
    )


def resync(channel: str, reason: str) -> bytes:
    """The channel's stream could not be made whole: refetch its state over REST."""
    return orjson.dumps({"type": "resync", "channel": channel, "reason": reason})


def presence(channel: str, **change: list[dict[str, str]]) -> bytes:
    """`members` (the full list, on subscribe) or `joined`/`left` (changes)."""
    return orjson.dumps({"type": "presence", "channel": channel, **change})


def client_event(env: Envelope) -> bytes:
    """One event as clients see it: no broker channel name, no tenant (implied by the ticket)."""
    return orjson.dumps(
        {
            "position": env.position,
            "prev": env.prev,
            "type": env.type,
            "stream": env.stream,
            "version": env.version,
            "time": env.time,
            "project": env.project,
            "user": env.user,
            "correlation": env.correlation,
            "data": env.data,
        }
    )


def events_frame(channel: str, events: list[bytes]) -> bytes:
    """Several pre-encoded events in one frame, built by concatenation rather than re-encoding."""
    head = b'{"type":"events","channel":' + orjson.dumps(channel) + b',"events":['
    return head + b",".join(events) + b"]}"
