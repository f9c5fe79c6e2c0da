"""One load-client process: holds its share of the WebSocket clients and their delivery ledgers.

The parent talks to it over a multiprocessing pipe with request/reply tuples:
`("connect",)`, `("poll",)`, `("expect", {channel: positions}, drain_s)`, `("close",)`.
Several of these processes spread the client CPU over the cores (one Python process reads about
30,000 frames/s at most).
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.tools.loadtest.stats import Histogram, Ledger, Tally

CONNECT_CONCURRENCY = 100
STEP_S = 0.1


@dataclass(frozen=True, slots=True)
class ClientSpec:
    gateway: str
    user: int
    channel: str


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    api: str
    tokens: dict[int, str]
    clients: list[ClientSpec]
    open_timeout_s: float = 30.0


@dataclass(slots=True)
class Client:
    spec: ClientSpec
    ledger: Ledger = field(default_factory=Ledger)
    ws: ClientConnection | None = None
    task: asyncio.Task[None] | None = None


class Worker:
    def __init__(self, plan: WorkerPlan) -> None:
        self.plan = plan
        self.clients = [Client(spec) for spec in plan.clients]
        self.latency = Histogram()
        self.times: dict[int, float] = {}
        self.errors: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()
        self.frames = 0
        self.bytes = 0
        self.first_at = 0.0
        self.last_at = 0.0
        self.lag_max_s = 0.0

    async def watch_lag(self) -> None:
        """How late this loop wakes up: above ~0.1 s the client, not the server, sets latency."""
        loop = asyncio.get_running_loop()
        for _ in range(10_000_000):
            planned = loop.time() + STEP_S
            await asyncio.sleep(STEP_S)
            self.lag_max_s = max(self.lag_max_s, loop.time() - planned)

    async def ticket(self, user: int) -> str:
        """A fresh ticket for each connection: a ticket opens one connection (docs/client.md)."""
        import httpx

        headers = {"Authorization": f"Bearer {self.plan.tokens[user]}"}
        async with httpx.AsyncClient(base_url=self.plan.api, timeout=30) as http:
            reply = await http.post("/auth/realtime-ticket", headers=headers)
        reply.raise_for_status()
        value: str = reply.json()["ticket"]
        return value

    async def open_one(self, client: Client, gate: asyncio.Semaphore) -> None:
        spec = client.spec
        async with gate:
            try:
                ticket = await self.ticket(spec.user)
                ws = await connect(
                    spec.gateway,
                    compression=None,
                    ping_interval=None,
                    open_timeout=self.plan.open_timeout_s,
                    max_size=2**24,
                    close_timeout=2,
                )
                async with asyncio.timeout(self.plan.open_timeout_s):
                    await ws.send(orjson.dumps({"type": "auth", "ticket": ticket}).decode())
                    welcome = orjson.loads(await ws.recv())
                    if welcome.get("type") != "welcome":
                        raise RuntimeError(f"auth refused: {welcome}")
                    await ws.send(
                        orjson.dumps(
                            {"type": "subscribe", "id": 1, "channel": spec.channel}
                        ).decode()
                    )
                    ack = orjson.loads(await ws.recv())
                    if ack.get("type") != "ack":
                        raise RuntimeError(f"subscribe refused: {ack}")
            except Exception as exc:  # every failure is counted, none is fatal
                self.errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                return
        client.ws = ws
        client.task = asyncio.create_task(self.read(client, ws))

    async def read(self, client: Client, ws: ClientConnection) -> None:
        ledger, times, latency = client.ledger, self.times, self.latency
        try:
            async for message in ws:
                now = time.time()
                self.frames += 1
                self.bytes += len(message)
                frame = orjson.loads(message)
                if frame.get("type") != "events":
                    continue
                if not self.first_at:
                    self.first_at = now
                self.last_at = now
                for event in frame["events"]:
                    position = event["position"]
                    if not ledger.record(position):
                        continue
                    committed = times.get(position)
                    if committed is None:
                        committed = datetime.fromisoformat(event["time"]).timestamp()
                        times[position] = committed
                    latency.add(now - committed)
        except ConnectionClosed as exc:
            self.closes[str(exc.rcvd.code if exc.rcvd else "none")] += 1
        else:
            code = ws.close_code
            self.closes[str(code)] += 1

    async def connect_all(self) -> dict[str, Any]:
        started = time.monotonic()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        await asyncio.gather(*(self.open_one(c, gate) for c in self.clients))
        per_gateway: Counter[str] = Counter(c.spec.gateway for c in self.clients if c.ws)
        return {
            "connected": sum(per_gateway.values()),
            "failed": len(self.clients) - sum(per_gateway.values()),
            "per_gateway": dict(per_gateway),
            "errors": dict(self.errors.most_common(5)),
            "seconds": time.monotonic() - started,
        }

    def poll(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        received = sum(len(c.ledger.received) + len(c.ledger.late) for c in self.clients)
        return {
            "received": received,
            "frames": self.frames,
            "bytes": self.bytes,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss_kib": usage.ru_maxrss,
            "open": sum(1 for c in self.clients if c.task and not c.task.done()),
            "lag_max_s": self.lag_max_s,
        }

    async def drain(self, expected: dict[str, list[int]], drain_s: float) -> dict[str, Any]:
        """Wait (bounded) until every client saw the last expected position, then tally."""
        sets = {channel: frozenset(ps) for channel, ps in expected.items()}
        last = {channel: max(ps, default=-1) for channel, ps in expected.items()}
        started = time.monotonic()
        for _ in range(int(drain_s / STEP_S) + 1):
            waiting = [
                c
                for c in self.clients
                if c.ws
                and c.task
                and not c.task.done()
                and c.ledger.last < last.get(c.spec.channel, -1)
            ]
            if not waiting:
                break
            await asyncio.sleep(STEP_S)
        tally = Tally()
        for c in self.clients:
            if c.ws is not None:
                tally.add(c.ledger, sets.get(c.spec.channel, frozenset()))
        return {
            "tally": tally.as_dict(),
            "latency": self.latency,
            "drain_s": time.monotonic() - started,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "closes": dict(self.closes),
            **self.poll(),
        }

    async def close(self) -> None:
        async def one(c: Client) -> None:
            if c.ws is not None:
                try:
                    async with asyncio.timeout(5):
                        await c.ws.close()
                except (TimeoutError, OSError):
                    pass
            if c.task is not None:
                c.task.cancel()

        await asyncio.gather(*(one(c) for c in self.clients), return_exceptions=True)


async def _serve(conn: Connection, plan: WorkerPlan) -> None:
    worker = Worker(plan)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    closing = 0
    loop.add_reader(conn.fileno(), lambda: inbox.put_nowait(conn.recv()))
    lag = asyncio.create_task(worker.watch_lag())
    try:
        while True:
            seq, *message = await inbox.get()
            if message[0] == "connect":
                conn.send((seq, await worker.connect_all()))
                worker.lag_max_s = 0.0
            elif message[0] == "poll":
                conn.send((seq, worker.poll()))
            elif message[0] == "expect":
                conn.send((seq, await worker.drain(message[1], message[2])))
            else:
                closing = seq
                break
    finally:
        loop.remove_reader(conn.fileno())
        lag.cancel()
        await worker.close()
        conn.send((closing, {"closed": True}))


def run(conn: Connection, plan: WorkerPlan) -> None:
    """Process entry point."""
    raise_nofile(len(plan.clients) + 256)
    asyncio.run(_serve(conn, plan))


def raise_nofile(needed: int) -> int:
    """Raise the soft fd limit towards the hard one; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        soft = hard if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft
