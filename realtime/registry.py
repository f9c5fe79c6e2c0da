"""Channel -> local members, plus per-channel fan-out state. Pure data: no I/O, no awaits.

The gateway keeps one broker subscription per channel that has at least one local member;
`join` and `leave` report the first join and the last leave so the caller can (un)subscribe.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from realtime.envelope import Envelope

M = TypeVar("M", bound=Hashable)
ChannelKind = Literal["tenant", "project", "user", "live", "notifications"]


@dataclass(slots=True, eq=False)
class ChannelState(Generic[M]):
    broker_name: str
    client_name: str  # what clients call it ("project:<id>", "tenant"); "" for user channels
    kind: ChannelKind
    members: set[M] = field(default_factory=set)
    # Encoded events waiting for the end of the loop turn, and their commit times (epoch s).
    pending: list[bytes] = field(default_factory=list)
    pending_times: list[float] = field(default_factory=list)
    # Highest position delivered on this channel: relay delivery is at least once, so a
    # position at or below it is a duplicate and is dropped.
    last_position: int | None = None
    # Sessions resuming this channel: live events go to their recovery queue, not the socket.
    recovering: set[M] = field(default_factory=set)
    # Not None while a gap is being repaired: events received meanwhile wait here, in order.
    held: list[Envelope] | None = None
    # Bumped when a repair starts or gives up: a repair task that finds another epoch stops.
    repair_epoch: int = 0
    # Resumed members whose replay is not yet proven to reach the live stream, with their
    # (`since`, last replayed position or None): the first live event past it settles each
    # (fanout.deliver, replay.continues). Added only while `last_position` is None: once the
    # node has delivered an event of the channel, a resume is checked against it at once.
    unproven: dict[M, tuple[int, int | None]] = field(default_factory=dict)


class Registry(Generic[M]):
    def __init__(self) -> None:
        self._channels: dict[str, ChannelState[M]] = {}

    def get(self, broker_name: str) -> ChannelState[M] | None:
        return self._channels.get(broker_name)

    def join(self, broker_name: str, client_name: str, kind: ChannelKind, member: M) -> bool:
        """Add a member; True when it is the channel's first local member."""
        state = self._channels.get(broker_name)
        first = state is None
        if state is None:
            state = self._channels[broker_name] = ChannelState(broker_name, client_name, kind)
        state.members.add(member)
        return first

    def join_recovering(
        self, broker_name: str, client_name: str, kind: ChannelKind, member: M
    ) -> ChannelState[M]:
        """Add a member that receives live events in its recovery queue until `promote`."""
        state = self._channels.get(broker_name)
        if state is None:
            state = self._channels[broker_name] = ChannelState(broker_name, client_name, kind)
        state.members.discard(member)
        state.recovering.add(member)
        return state

    def leave(self, broker_name: str, member: M) -> bool:
        """Remove a member; True when it was the channel's last local member."""
        state = self._channels.get(broker_name)
        if state is None or (member not in state.members and member not in state.recovering):
            return False
        state.members.discard(member)
        state.recovering.discard(member)
        state.unproven.pop(member, None)
        if not state.members and not state.recovering:
            del self._channels[broker_name]
            return True
        return False

    def wanted(self, broker_name: str) -> bool:
        return broker_name in self._channels

    def __iter__(self) -> Iterator[ChannelState[M]]:
        return iter(list(self._channels.values()))

    def __len__(self) -> int:
        return len(self._channels)
