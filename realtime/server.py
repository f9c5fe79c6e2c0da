"""The gateway node: the listener, /healthz and /metrics, node-wide sweeps, graceful drain."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Coroutine
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from websockets.http11 import Request, Response

from realtime import access, connection, repair, session
from realtime.backfill import Coalescer, Fetch
from realtime.broker import Broker
from realtime.config import GatewayConfig
from realtime.connection import Connection
from realtime.context import Context
from realtime.envelope import Envelope
from realtime.fanout import Fanout
from realtime.metrics import Metrics
from realtime.presence import MemoryPresenceStore, Presence, PresenceStore
from realtime.protocol import CloseCode
from realtime.registry import ChannelState
from realtime.state import Session
from realtime.tickets import MemoryTicketStore, TicketStore

log = logging.getLogger("realtime.server")
DRAIN_TICK_S = 0.05
# Connections waiting in the kernel while a reconnect storm is accepted (asyncio's default: 100).
LISTEN_BACKLOG = 2048


class Gateway:
    """One node. `start()` listens; `drain()` empties it politely; the caller owns the broker."""

    def __init__(
        self,
        config: GatewayConfig,
        broker: Broker,
        metrics: Metrics | None = None,
        *,
        backfill: Fetch | None = None,
        presence_store: PresenceStore | None = None,
        tickets: TicketStore | None = None,
    ) -> None:
        """The composition root of a node: each part is built with what it needs, in order."""
        self.config = config
        self.broker = broker
        self.metrics = metrics or Metrics()
        coalescer = (
            None
            if backfill is None
            else Coalescer(
                backfill,
                limit=config.backfill_limit,
                max_concurrent=config.backfill_concurrency,
                on_fetch=self.metrics.backfill_fetches.inc,
            )
        )
        gap_repair = (
            None
            if coalescer is None
            else functools.partial(
                repair.repair,
                coalescer=coalescer,
                max_reads=config.repair_max_reads,
                timeout_s=config.repair_timeout_s,
            )
        )
        self.presence = Presence(
            presence_store or MemoryPresenceStore(),
            broker,
            self.metrics,
            config.channel_prefix,
            config.presence_ttl_s,
            batch_s=config.presence_batch_ms / 1000,
        )
        self.fanout = Fanout(
            broker,
            self.metrics,
            slow_consumer_bytes=config.slow_consumer_bytes,
            max_batch_events=config.max_batch_events,
            flush_window_s=config.flush_window_ms / 1000,
            on_access=self._on_access,
            on_live=self.presence.on_live,
            repair=gap_repair,
            recovery_limit=config.recovery_buffer,
            hold_limit=config.repair_hold_limit,
        )
        self.ctx = Context(
            config,
            self.fanout,
            self.metrics,
            coalescer=coalescer,
            presence=self.presence,
            tickets=tickets or MemoryTicketStore(),
        )
        self.draining = False
        self.conns: set[Connection] = set()  # upgraded connections, authenticated or not
        self._server: asyncio.Server | None = None
        self._sweepers: list[asyncio.Task[None]] = []

    def _on_access(self, state: ChannelState[Session], env: Envelope) -> None:
        # The one edge that goes back up: the fan-out (built before the context that holds it)
        # hands access events to the connection layer through the node that owns both.
        access.apply_access_event(self.ctx, list(state.members), env)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        c = self.config
        await self.broker.start(self.fanout.on_message)
        # No compression (permessage-deflate costs ~50 KiB per connection); every other limit
        # is the config's (connection.Limits).
        self._server = await asyncio.get_running_loop().create_server(
            lambda: Connection(self, c), c.host, c.port, backlog=LISTEN_BACKLOG
        )
        self._sweepers = [
            asyncio.create_task(self._sweep_lifetimes(), name="lifetime-sweeper"),
            asyncio.create_task(self._sweep_keepalive(), name="keepalive-sweeper"),
        ]
        self.presence.start()

    async def _sweep_lifetimes(self) -> None:
        interval = max(0.05, min(30.0, self.config.max_lifetime_s / 10))
        while True:
            await asyncio.sleep(interval)
            session.expire_sessions(self.ctx)

    async def _sweep_keepalive(self) -> None:
        # One task pings every connection, instead of a task and a timer per connection.
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.ping_interval)
            connection.keepalive(list(self.conns), loop.time(), self.config.ping_timeout)

    # --- connection.Handler ----------------------------------------------------------------

    def opened(self, conn: Connection) -> None:
        self.conns.add(conn)
        session.opened(self.ctx, conn)

    def message(self, conn: Connection, raw: str | bytes) -> Coroutine[Any, Any, None]:
        return session.message(self.ctx, conn, raw)

    def closed(self, conn: Connection) -> None:
        self.conns.discard(conn)
        session.closed(self.ctx, conn)

    def process_request(self, conn: Connection, request: Request) -> Response | None:
        reject = conn.protocol.reject
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return reject(503, "draining\n") if self.draining else reject(200, "ok\n")
        if path == "/metrics":
            response = reject(200, "")
            response.body = self.metrics.render()
            del response.headers["Content-Length"]
            del response.headers["Content-Type"]
            response.headers["Content-Length"] = str(len(response.body))
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response
        if self.draining:
            # The listener stays open during the drain so the load balancer can read 503 on
            # /healthz; new WebSocket sessions are refused so clients go to another node.
            return reject(503, "draining\n")
        return None

    async def drain(self, seconds: float | None = None) -> None:
        """SIGTERM: /healthz 503, refuse new sessions, close clients with 1012 over the window."""
        assert self._server is not None
        window = self.config.drain_seconds if seconds is None else seconds
        self.draining = True
        for sweeper in self._sweepers:
            sweeper.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window
        victims = [s for s in self.ctx.sessions if not s.closing]
        # Spread the closes so that reconnecting clients do not hit the other nodes at once.
        ticks = max(1, int(window / DRAIN_TICK_S))
        per_tick = max(1, -(-len(victims) // ticks))
        while victims:
            batch, victims = victims[:per_tick], victims[per_tick:]
            for s in batch:
                self.fanout.kick(s, CloseCode.RESTART, "server draining", "drain")
            await asyncio.sleep(min(DRAIN_TICK_S, max(0.0, deadline - loop.time())))
        self._server.close()  # stop listening
        for conn in list(self.conns):  # upgraded but not (yet) authenticated
            conn.close(CloseCode.RESTART, "server draining")
        closing_until = loop.time() + self.config.close_timeout + 1
        while self.conns and loop.time() < closing_until:
            await asyncio.sleep(DRAIN_TICK_S)
        if self.conns:
            log.warning("some connections did not close within close_timeout")
            for conn in list(self.conns):
                conn.abort()
        await self.fanout.close()
        await self.presence.close()

    async def close(self) -> None:
        """Immediate stop (tests, embedding): no spreading."""
        if self._server is not None:
            await self.drain(0.0)


async def run_gateway(
    config: GatewayConfig,
    broker: Broker,
    stop_event: asyncio.Event,
    *,
    metrics: Metrics | None = None,
    backfill: Fetch | None = None,
    presence_store: PresenceStore | None = None,
    tickets: TicketStore | None = None,
) -> None:
    """Serve until `stop_event` is set, then drain. Embeddable: the API runs it in-process."""
    gateway = Gateway(
        config, broker, metrics, backfill=backfill, presence_store=presence_store, tickets=tickets
    )
    await gateway.start()
    log.info("gateway listening on %s:%d", config.host, gateway.port)
    await stop_event.wait()
    log.info("draining for %.1fs", config.drain_seconds)
    await gateway.drain()
    log.info("gateway stopped")
