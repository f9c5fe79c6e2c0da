"""A test double of the broker that loses messages like Redis pub/sub may (at most once).

`LossyBroker(inner, every=n)` passes everything through to and from `inner`, except that it
drops every `n`th event message it receives on a tenant or project channel. Access events (user
channels) and presence/ephemeral messages (`:live` channels) always pass: the gateway's gap
repair is about the event stream of the channels clients subscribe to.
"""

from __future__ import annotations

from collections.abc import Callable

from realtime.broker import Broker, MessageHandler


def is_event_channel(broker_name: str) -> bool:
    """A tenant or project channel (`<prefix>:<tenant>:tenant`, `...:project:<id>`)."""
    return not broker_name.endswith(":live") and ":user:" not in broker_name


class LossyBroker(Broker):
    def __init__(
        self, inner: Broker, *, every: int, on_drop: Callable[[], None] | None = None
    ) -> None:
        assert every > 0
        self.inner, self.every, self.on_drop = inner, every, on_drop
        self.received = self.dropped = 0

    async def start(self, handler: MessageHandler) -> None:
        def lossy(broker_name: str, data: bytes) -> None:
            if is_event_channel(broker_name):
                self.received += 1
                if self.received % self.every == 0:
                    self.dropped += 1
                    if self.on_drop is not None:
                        self.on_drop()
                    return
            handler(broker_name, data)

        await self.inner.start(lossy)

    async def subscribe(self, channel: str) -> None:
        await self.inner.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self.inner.unsubscribe(channel)

    async def publish(self, channel: str, data: bytes) -> None:
        await self.inner.publish(channel, data)

    async def close(self) -> None:
        await self.inner.close()
