"""The inbox relay: publishes each new notification on its user's channel, once the
notifications projection has committed it.

The inbox read model is this relay's outbox, as the event store is the main relay's: rows are
read by position up to the projection's checkpoint (every row at or below it is final, since a
projection commits rows and checkpoint together), published in (position, user) order, and only
then is the relay's own checkpoint (`relay_checkpoint` row "notifications") moved. A crash in
between republishes: delivery is at least once, and a notification's id is its position, so a
receiver drops a repeat. `prev` is the user's previous notification, read from the table (exact
after any restart). One leader at a time, by its own advisory lock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.kernel.clock import Clock, utc_now
from app.kernel.signals import CommitSignal
from app.notifications.tables import notification
from app.readside.projector import read_checkpoint
from app.relay.leader import Leadership, LeadershipError, PostgresLeader, asyncpg_dsn
from app.relay.loop import wait_at_most
from app.relay.publisher import Message, Publisher, PublishError
from app.relay.store import RelayStore
from realtime.envelope import Envelope, encode, notifications_channel

log = logging.getLogger(__name__)

NAME = "notifications"  # the projection it follows and its own relay_checkpoint row
INBOX_LOCK_KEY = 0x436F5349  # beside the main relay's RELAY_LOCK_KEY (0x436F5352)
EVENT_TYPE = "NotificationAdded"


def envelope_of(row: Any, prev: int | None, prefix: str) -> Envelope:
    """A notification as the gateway delivers it: small, the details are one GET away."""
    return Envelope(
        position=int(row.position),
        stream=f"inbox-{row.user_id}",
        version=0,
        type=EVENT_TYPE,
        time=row.occurred_at.isoformat(),
        tenant=row.tenant_id,
        project=row.project_id,
        user=row.user_id,
        correlation=None,
        data={"id": int(row.position), "type": row.type, "text": row.text},
        channel=notifications_channel(prefix, row.tenant_id, row.user_id),
        prev=prev,
    )


def previous_query(tenant: str, user: str, before: int) -> sa.Select[Any]:
    """The user's last notification before `before` (NULL: none): the `prev` of the one at
    `before`, the same for the relay and the backfill (app/notifications/backfill.py)."""
    n = notification
    return sa.select(sa.func.max(n.c.position)).where(
        n.c.tenant_id == tenant, n.c.user_id == user, n.c.position < before
    )


class InboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Publisher,
        *,
        prefix: str = "cs",
        signal: CommitSignal | None = None,
        clock: Clock = utc_now,
        leadership: Leadership | None = None,
        poll_interval: float = 0.1,
        batch_positions: int = 1000,
        backoff_max: float = 2.0,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._prefix = prefix
        self._signal = signal
        self._clock = clock
        self._leader = leadership or PostgresLeader(asyncpg_dsn(engine.url), key=INBOX_LOCK_KEY)
        self._store = RelayStore(engine, NAME)
        # Polled: the projection's progress has no signal of its own across processes, and
        # a bell 100 ms late is on time. A commit wakes it at once (the projection follows).
        self._poll = poll_interval
        self._span = batch_positions
        self._backoff_max = backoff_max
        self._wake = asyncio.Event()
        self.checkpoint = 0
        self.published = 0
        self._last: dict[str, int] = {}  # user -> last position published on their channel

    async def run(self, stop: asyncio.Event) -> None:
        """Lead or stand by until `stop` is set."""
        unlisten = self._signal.listen(lambda _p: self._wake.set()) if self._signal else None
        stopper = asyncio.create_task(self._wake_when(stop))
        backoff = self._poll
        try:
            while not stop.is_set():
                try:
                    if not self._leader.held and not await self._lead():
                        await wait_at_most(stop, 1.0)
                        continue
                    if not await self._step():
                        await wait_at_most(self._wake, self._poll)
                    backoff = self._poll
                except (SQLAlchemyError, OSError, TimeoutError, LeadershipError, PublishError) as e:
                    log.warning("inbox relay: %r", e)
                    await self._leader.release()
                    await self._store.close()
                    await wait_at_most(stop, backoff)
                    backoff = min(backoff * 2, self._backoff_max)
        finally:
            if unlisten is not None:
                unlisten()
            stopper.cancel()
            await asyncio.gather(stopper, return_exceptions=True)
            await self._leader.release()
            await self._store.close()

    async def _lead(self) -> bool:
        if not await self._leader.acquire():
            return False
        # Another leader may have published meanwhile: its checkpoint, no remembered `prev`.
        self.checkpoint = await self._store.checkpoint()
        self._last.clear()
        return True

    async def _step(self) -> bool:
        """Publish one span of positions; True when more may be waiting."""
        self._wake.clear()
        async with self._engine.connect() as connection:
            ready = await read_checkpoint(connection, NAME) or 0
            upto = min(ready, self.checkpoint + self._span)
            if upto <= self.checkpoint:
                return False
            rows = (
                await connection.execute(
                    sa.select(notification)
                    .where(notification.c.position > self.checkpoint)
                    .where(notification.c.position <= upto)
                    .order_by(notification.c.position, notification.c.user_id)
                )
            ).all()
            messages: list[Message] = []
            staged: dict[str, int] = {}
            for row in rows:
                prev = staged.get(row.user_id) or await self._prev(connection, row)
                staged[row.user_id] = int(row.position)
                env = envelope_of(row, prev, self._prefix)
                messages.append((env.channel, encode(env)))
        if messages and self._leader.held:
            await self._publisher.publish_batch(messages)
        if not self._leader.held:
            return False
        await self._store.save_checkpoint(upto, self._clock())
        self._last.update(staged)
        self.checkpoint = upto
        self.published += len(messages)
        return upto < ready

    async def _prev(self, connection: Any, row: Any) -> int | None:
        known = self._last.get(row.user_id)
        if known is not None:
            return known
        value = await connection.scalar(previous_query(row.tenant_id, row.user_id, row.position))
        return None if value is None else int(value)

    async def _wake_when(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()
