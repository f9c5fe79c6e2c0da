"""From a stored event to what goes on the broker: its envelope, its channels, and `prev`.

`prev` is the position of the previous event on the same channel. The relay remembers it per
channel and asks the store on a miss, so it is exact after restarts and leadership changes too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from app.eventstore.port import StoredEvent
from app.relay.store import Scope
from realtime.envelope import ACCESS_EVENT_TYPES, Envelope, event_channels


def envelope_of(event: StoredEvent) -> Envelope:
    """The broker envelope of a stored event, not yet addressed to a channel."""
    user = event.data.get("user_id") if event.type in ACCESS_EVENT_TYPES else None
    correlation = event.metadata.get("correlation_id")
    return Envelope(
        position=event.position,
        stream=event.stream_id,
        version=event.version,
        type=event.type,
        time=event.recorded_at.isoformat(),
        tenant=event.tenant_id,
        project=event.project_id,
        user=None if user is None else str(user),
        correlation=None if correlation is None else str(correlation),
        data=event.data,
    )


def scoped_channels(prefix: str, env: Envelope) -> list[tuple[str, Scope]]:
    """`realtime.envelope.event_channels` (the one channel rule), as (name, scope) pairs."""
    return [(channel.name, channel.scope) for channel in event_channels(prefix, env)]


Lookup = Callable[[Scope, int], Awaitable[int | None]]


class ChannelCursors:
    """Last published position per channel (bounded LRU), asking the store on a miss.

    A batch's positions are staged and committed only once the batch is published, so a retried
    batch computes the same `prev` values as the failed attempt.
    """

    def __init__(self, lookup: Lookup, capacity: int = 50_000) -> None:
        self._lookup = lookup
        self._capacity = capacity
        self._last: OrderedDict[str, int] = OrderedDict()
        self.misses = 0

    def reset(self) -> None:
        self._last.clear()

    async def prev(
        self, channel: str, scope: Scope, position: int, staged: dict[str, int]
    ) -> int | None:
        if channel in staged:
            return staged[channel]
        if channel in self._last:
            return self._last[channel]
        self.misses += 1
        return await self._lookup(scope, position)

    def commit(self, staged: dict[str, int]) -> None:
        for channel, position in staged.items():
            self._last[channel] = position
            self._last.move_to_end(channel)
        while len(self._last) > self._capacity:
            self._last.popitem(last=False)
