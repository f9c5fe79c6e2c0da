"""Clients that keep a ledger of what they received, a steady mutation load, and the checker.

A client subscribes to its channels, records every event, and on losing its socket reconnects
(to another node if its own is gone) and subscribes again with `since` = the last position it
saw. An ack with `recovered: true` promises the missed events; `recovered: false` means the
client must refetch state, so the missed interval is recorded as *excused* (covered by the
store through a REST refetch). A `prev` that does not match is a detected gap, excused alike.

EXACT_RESUME = True: every interval a client missed must come back through resume (`since`).
When exact resume (issue 6) lands, set it to True: then an excused interval is a failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import uuid
from collections import Counter
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.reliability.stack import Stack, T

EXACT_RESUME = True


@dataclasses.dataclass
class Subscription:
    start: int  # store head when first acknowledged: everything after it is owed
    kept: list[int] = dataclasses.field(default_factory=list)
    excused: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (after, upto]
    in_connection_duplicates: int = 0
    disorder: int = 0
    raw: int = 0


class LedgerClient:
    def __init__(self, stack: Stack, token: str, channels: list[str], node: int) -> None:
        self.stack, self.token, self.channels, self.node = stack, token, channels, node
        self.subs: dict[str, Subscription] = {}
        self.closes: list[int | None] = []
        self.reconnects = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        nodes = len(self.stack.nodes)
        while not self._stop.is_set():
            try:
                await self._session()
            except (OSError, ConnectionClosed, InvalidStatus, httpx.HTTPError, TimeoutError):
                pass
            if self._stop.is_set():
                return
            self.reconnects += 1
            if not self.stack.nodes[self.node].alive:
                self.node = (self.node + 1) % nodes  # the load balancer sends us elsewhere
            await asyncio.sleep(0.2)

    async def _session(self) -> None:
        async with httpx.AsyncClient(base_url=self.stack.api_url, timeout=T) as http:
            got = await http.post(
                "/auth/realtime-ticket", headers={"Authorization": f"Bearer {self.token}"}
            )
            got.raise_for_status()
            ticket = got.json()["ticket"]
        seen: dict[str, int] = {}  # this connection's last position per channel
        async with connect(self.stack.ws_url(self.node), open_timeout=T) as ws:
            await ws.send(orjson.dumps({"type": "auth", "ticket": ticket}).decode())
            assert orjson.loads(await ws.recv())["type"] == "welcome"
            for channel in self.channels:
                await self._subscribe(ws, channel)
            try:
                async for raw in ws:
                    self._on_frame(orjson.loads(raw), seen)
            finally:
                rcvd = ws.protocol.close_rcvd
                self.closes.append(rcvd.code if rcvd else None)

    async def _subscribe(self, ws: Any, channel: str) -> None:
        sub = self.subs.get(channel)
        request: dict[str, Any] = {"type": "subscribe", "id": next(self._ids), "channel": channel}
        if sub is not None and sub.kept:
            request["since"] = sub.kept[-1]
        await ws.send(orjson.dumps(request).decode())
        while True:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), T))
            if frame["type"] == "ack" and frame["id"] == request["id"]:
                break
            self._on_frame(frame, {})
        head = await store_head(self.stack)
        if sub is None:
            self.subs[channel] = Subscription(start=head)
        elif not frame.get("recovered"):
            last = sub.kept[-1] if sub.kept else sub.start
            if head > last:
                sub.excused.append((last, head))

    def _on_frame(self, frame: dict[str, Any], seen: dict[str, int]) -> None:
        if frame["type"] != "events":
            return
        sub = self.subs.get(frame["channel"])
        if sub is None:
            return
        for event in frame["events"]:
            position, prev = event["position"], event["prev"]
            sub.raw += 1
            last_here = seen.get(frame["channel"])
            if last_here is not None and position <= last_here:
                if position == last_here or position in sub.kept:
                    sub.in_connection_duplicates += 1
                else:
                    sub.disorder += 1
                continue
            seen[frame["channel"]] = position
            if sub.kept and position <= sub.kept[-1]:
                continue  # a copy from before a reconnect: dropped by position, as documented
            if sub.kept and prev is not None and prev > sub.kept[-1]:
                self._on_gap(sub, prev)
            sub.kept.append(position)

    def _on_gap(self, sub: Subscription, prev: int) -> None:
        """A `prev` above the last position kept: a detected gap, excused (refetch state)."""
        sub.excused.append((sub.kept[-1], prev))


async def store_head(stack: Stack) -> int:
    conn = await asyncpg.connect(stack.db_url.replace("+asyncpg", ""))
    try:
        return int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM event"))
    finally:
        await conn.close()


async def store_channels(stack: Stack, tenant: str) -> tuple[dict[str, list[int]], Counter[str]]:
    """Positions per client channel name, and events per correlation id, read from the store."""
    conn = await asyncpg.connect(stack.db_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(
            "SELECT position, project_id, metadata->>'correlation_id' AS corr FROM event "
            "WHERE tenant_id = $1 ORDER BY position",
            uuid.UUID(tenant),
        )
    finally:
        await conn.close()
    channels: dict[str, list[int]] = {"tenant": []}
    for row in rows:
        channels["tenant"].append(row["position"])
        if row["project_id"] is not None:
            channels.setdefault(f"project:{row['project_id']}", []).append(row["position"])
    return channels, Counter(r["corr"] for r in rows if r["corr"])


@dataclasses.dataclass
class Figures:
    committed: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    disorder: int = 0
    excused: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def audit(clients: list[LedgerClient], store: dict[str, list[int]]) -> Figures:
    """Compare every client's ledger with the store: lost, duplicated, out of order, excused."""
    figures = Figures(committed=len(store["tenant"]))
    for client in clients:
        for channel, sub in client.subs.items():
            owed = [p for p in store.get(channel, []) if p > sub.start]
            kept = set(sub.kept)
            missing = [p for p in owed if p not in kept]
            excused = [p for p in missing if any(a < p <= b for a, b in sub.excused)]
            figures.delivered += len(kept)
            figures.excused += len(excused)
            figures.lost += len(missing) - len(excused) + (len(excused) if EXACT_RESUME else 0)
            figures.duplicated += sub.in_connection_duplicates
            figures.disorder += sub.disorder + int(sub.kept != sorted(kept))
    return figures


async def caught_up(clients: list[LedgerClient], store: dict[str, list[int]]) -> bool:
    return all(
        sub.kept and sub.kept[-1] == store[ch][-1]
        for c in clients
        for ch, sub in c.subs.items()
        if store.get(ch)
    )
