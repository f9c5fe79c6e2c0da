"""The reliability ledger (tests/reliability/ledger.py) in the system topology, with resyncs apart.

A `resync` is the protocol's honest "I could not replay this, refetch": an `ack` without
`recovered: true` after a `since` (protocol 7.1), or a `resync` notice on the live stream (7.3).
Each one excuses the interval the client would refetch over REST (its last kept position up to
the store head when it was told). Those events count as re-synced, never as delivered and never
as lost: `lost` is an owed event neither delivered nor covered by a resync. A `prev` above the
last position kept, with no resync from the server, excuses nothing (unlike the reliability
ledger): it means the server promised a stream it did not deliver, so those events are lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from typing import Any

from tests.reliability.ledger import (
    LedgerClient,
    Subscription,
    caught_up,
    store_channels,
    store_head,
)
from tests.reliability.load import Load
from tests.system.topology import T, Topology


class Client(LedgerClient):
    """A reconnecting ledger client that also honours `resync` notices (protocol 7.1, 7.3)."""

    def __init__(self, topology: Topology, token: str, channels: list[str], node: int) -> None:
        super().__init__(topology, token, channels, node)  # type: ignore[arg-type]
        self.notices = 0
        self.prev_gaps = 0
        self.failures: Counter[str] = Counter()  # why sessions ended, for the figures
        self._pending: list[asyncio.Task[None]] = []

    async def _session(self) -> None:
        try:
            await super()._session()
        except Exception as exc:
            self.failures[type(exc).__name__ + ": " + str(exc)[:60]] += 1
            raise

    def _on_frame(self, frame: dict[str, Any], seen: dict[str, int]) -> None:
        if frame["type"] == "resync" and frame.get("channel") in self.subs:
            self.notices += 1
            sub = self.subs[frame["channel"]]
            last = sub.kept[-1] if sub.kept else sub.start
            self._pending.append(asyncio.create_task(self._excuse(sub, last)))
            return
        super()._on_frame(frame, seen)

    def _on_gap(self, sub: Subscription, prev: int) -> None:
        # The server skipped events without saying so (no resync): counted, and what was
        # skipped stays owed, so it shows up as lost.
        self.prev_gaps += 1

    async def _excuse(self, sub: Any, last: int) -> None:
        head = await store_head(self.stack)
        if head > last:
            sub.excused.append((last, head))

    async def stop(self) -> None:
        await super().stop()
        await asyncio.gather(*self._pending, return_exceptions=True)


@dataclasses.dataclass
class Tally:
    committed: int = 0  # events of the tenant in the store
    owed: int = 0  # (client, channel, event) triples a client was owed
    delivered: int = 0
    resynced: int = 0  # owed, not delivered, covered by a resync: refetched over REST
    lost: int = 0  # owed, not delivered, not covered by a resync
    duplicated: int = 0
    disorder: int = 0
    resync_intervals: int = 0  # acks with resync after `since`, and resync notices
    resync_notices: int = 0
    prev_gaps: int = 0  # a `prev` above the last position kept, with no resync: not excused
    reconnects: int = 0
    session_ends: dict[str, int] = dataclasses.field(default_factory=dict)
    lost_sample: list[tuple[str, int]] = dataclasses.field(default_factory=list)


def tally(clients: list[Client], store: dict[str, list[int]]) -> Tally:
    figures = Tally(committed=len(store.get("tenant", [])))
    for client in clients:
        figures.resync_notices += client.notices
        figures.prev_gaps += client.prev_gaps
        figures.reconnects += client.reconnects
        for why, n in client.failures.items():
            figures.session_ends[why] = figures.session_ends.get(why, 0) + n
        for channel, sub in client.subs.items():
            owed = [p for p in store.get(channel, []) if p > sub.start]
            kept = set(sub.kept)
            missing = [p for p in owed if p not in kept]
            resynced = [p for p in missing if any(a < p <= b for a, b in sub.excused)]
            figures.owed += len(owed)
            figures.delivered += len(kept)
            figures.resynced += len(resynced)
            figures.lost += len(missing) - len(resynced)
            figures.lost_sample += [(channel[:16], p) for p in missing if p not in resynced][
                : max(0, 10 - len(figures.lost_sample))
            ]
            figures.duplicated += sub.in_connection_duplicates
            figures.disorder += sub.disorder + int(sub.kept != sorted(kept))
            figures.resync_intervals += len(sub.excused)
    return figures


async def settle(
    topology: Topology, clients: list[Client], tenant: str, load: Load | None = None
) -> Tally:
    """Wait (bounded) for every client to reach the store's last event of its channels."""
    deadline = time.monotonic() + 4 * T
    while True:
        store, _ = await store_channels(topology, tenant)  # type: ignore[arg-type]
        if await caught_up(clients, store) or time.monotonic() > deadline:  # type: ignore[arg-type]
            break
        await asyncio.sleep(0.2)
    for client in clients:
        await asyncio.gather(*client._pending, return_exceptions=True)
    return tally(clients, store)
