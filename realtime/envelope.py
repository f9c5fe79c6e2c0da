"""The event message on the broker: the one definition that the relay (publisher) and the
gateway (subscriber) both import.

Wire form (orjson, UTF-8 JSON object), version 1:

    {"v": 1, "position": 42, "prev": 40, "channel": "cs:<tenant>:project:<project>",
     "stream": "task-<uuid>", "version": 3, "type": "TaskMoved",
     "time": "2026-11-27T05:33:27.123456+00:00",
     "tenant": "<uuid>", "project": "<uuid>" | null, "user": "<uuid>" | null,
     "correlation": "<id>" | null, "data": {...}}

`position` is the event's global position in the store (the one cursor clients resume from).
`prev` is the position of the previous event published on the same `channel` (null for the
first), so a receiver notices a missing predecessor. `user` is the user an access event is about
(membership or role changes), which the relay also publishes on that user's channel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

import orjson

ENVELOPE_VERSION = 1

# Events that change who may read what. The relay also publishes them on the affected user's
# channel so that every gateway node holding that user's sockets can drop subscriptions at once.
ACCESS_EVENT_TYPES = frozenset(
    {"ProjectMemberAdded", "ProjectMemberRemoved", "UserRoleChanged", "UserDeactivated"}
)


class EnvelopeError(ValueError):
    """A broker message that is not a valid version-1 envelope."""


@dataclass(frozen=True, slots=True)
class Envelope:
    position: int
    stream: str
    version: int
    type: str
    time: str
    tenant: str
    project: str | None
    user: str | None
    correlation: str | None
    data: dict[str, Any]
    channel: str = ""
    prev: int | None = None

    def on_channel(self, channel: str, prev: int | None) -> Envelope:
        """The same event addressed to one channel, with that channel's predecessor."""
        return replace(self, channel=channel, prev=prev)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": ENVELOPE_VERSION,
            "position": self.position,
            "prev": self.prev,
            "channel": self.channel,
            "stream": self.stream,
            "version": self.version,
            "type": self.type,
            "time": self.time,
            "tenant": self.tenant,
            "project": self.project,
            "user": self.user,
            "correlation": self.correlation,
            "data": self.data,
        }


def encode(envelope: Envelope) -> bytes:
    return orjson.dumps(envelope.to_dict())


def encode_on(envelope: Envelope, channel: str, prev: int | None) -> bytes:
    """`encode(envelope.on_channel(channel, prev))` without building the copy: the relay encodes
    every event once per channel it goes to."""
    fields = envelope.to_dict()
    fields["channel"] = channel
    fields["prev"] = prev
    return orjson.dumps(fields)


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "position": int,
    "stream": str,
    "version": int,
    "type": str,
    "time": str,
    "tenant": str,
    "channel": str,
    "data": dict,
}
_OPTIONAL_STR = ("project", "user", "correlation")


def decode(raw: bytes | str) -> Envelope:
    """Parse and check a broker message; anything malformed raises EnvelopeError."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("v") != ENVELOPE_VERSION:
        raise EnvelopeError("not a version-1 envelope")
    for key, kind in _REQUIRED.items():
        value = obj.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise EnvelopeError(f"field {key!r} missing or of the wrong type")
    for key in _OPTIONAL_STR:
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise EnvelopeError(f"field {key!r} must be a string or null")
    prev = obj.get("prev")
    if prev is not None and (not isinstance(prev, int) or isinstance(prev, bool)):
        raise EnvelopeError("field 'prev' must be an integer or null")
    return Envelope(
        position=obj["position"],
        stream=obj["stream"],
        version=obj["version"],
        type=obj["type"],
        time=obj["time"],
        tenant=obj["tenant"],
        project=obj.get("project"),
        user=obj.get("user"),
        correlation=obj.get("correlation"),
        data=obj["data"],
        channel=obj["channel"],
        prev=prev,
    )


# Channel names are namespaced by tenant, so no two tenants can ever share one.
def tenant_channel(prefix: str, tenant: str) -> str:
    return f"{prefix}:{tenant}:tenant"


def project_channel(prefix: str, tenant: str, project: str) -> str:
    return f"{prefix}:{tenant}:project:{project}"


def user_channel(prefix: str, tenant: str, user: str) -> str:
    return f"{prefix}:{tenant}:user:{user}"


def notifications_channel(prefix: str, tenant: str, user: str) -> str:
    """A user's inbox: the notifications relay (app/notifications/relay.py) publishes on it."""
    return f"{prefix}:{tenant}:notifications:{user}"


ChannelKind = Literal["tenant", "project", "user"]


class EventChannel(NamedTuple):
    """A broker channel an event is published on, with what the channel is about."""

    name: str
    kind: ChannelKind
    tenant: str
    key: str | None  # the project or user id; None for the tenant channel

    @property
    def scope(self) -> tuple[str, str, str | None]:
        """(kind, tenant, key): what the relay's store reads to find the channel's last event."""
        return (self.kind, self.tenant, self.key)


def event_channels(prefix: str, envelope: Envelope) -> list[EventChannel]:
    """Every channel an event is published on, in a fixed order: the channel rule, defined here
    only (the relay publishes by it, the backfill addresses by it, the gateway subscribes by it).
    """
    tenant = envelope.tenant
    channels = [EventChannel(tenant_channel(prefix, tenant), "tenant", tenant, None)]
    if envelope.project is not None:
        channels.append(
            EventChannel(
                project_channel(prefix, tenant, envelope.project),
                "project",
                tenant,
                envelope.project,
            )
        )
    if envelope.user is not None and envelope.type in ACCESS_EVENT_TYPES:
        channels.append(
            EventChannel(user_channel(prefix, tenant, envelope.user), "user", tenant, envelope.user)
        )
    return channels


def channel_of(name: str) -> EventChannel:
    """What a channel named by `event_channels` is about (the prefix may hold colons)."""
    parts = name.split(":")
    if len(parts) >= 3 and parts[-1] == "tenant":
        return EventChannel(name, "tenant", parts[-2], None)
    if len(parts) >= 4 and parts[-2] == "project":
        return EventChannel(name, "project", parts[-3], parts[-1])
    if len(parts) >= 4 and parts[-2] == "user":
        return EventChannel(name, "user", parts[-3], parts[-1])
    raise ValueError(f"not an event channel: {name!r}")


def channels_for(prefix: str, envelope: Envelope) -> list[str]:
    """The names of `event_channels`, in the same order."""
    return [channel.name for channel in event_channels(prefix, envelope)]
