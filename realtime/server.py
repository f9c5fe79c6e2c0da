"""The gateway node: `serve()` with every limit explicit, /healthz and /metrics, graceful drain."""

from __future__ import annotations

import asyncio
import functools
import logging

from prometheus_client import CONTENT_TYPE_LATEST
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from realtime import access, repair, session
from realtime.backfill import Coalescer, Fetch
from realtime.broker import Broker
from realtime.config import GatewayConfig
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
        self._server: Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

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
        self._server = await serve(
            functools.partial(session.handle, self.ctx),
            c.host,
            c.port,
            process_request=self._process_request,
            compression=None,  # ~14 KiB per connection instead of ~64 KiB
            max_size=c.max_size,
            max_queue=c.max_queue,
            write_limit=c.write_limit,
            ping_interval=c.ping_interval,
            ping_timeout=c.ping_timeout,
            open_timeout=c.open_timeout,
            close_timeout=c.close_timeout,
            server_header=None,
        )
        self._sweeper = asyncio.create_task(self._sweep_lifetimes(), name="lifetime-sweeper")
        self.presence.start()

    async def _sweep_lifetimes(self) -> None:
        interval = max(0.05, min(30.0, self.config.max_lifetime_s / 10))
        while True:
            await asyncio.sleep(interval)
            session.expire_sessions(self.ctx)

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return conn.respond(503, "draining\n") if self.draining else conn.respond(200, "ok\n")
        if path == "/metrics":
            response = conn.respond(200, "")
            response.body = self.metrics.render()
            del response.headers["Content-Length"]
            del response.headers["Content-Type"]
            response.headers["Content-Length"] = str(len(response.body))
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response
        if self.draining:
            # The listener stays open during the drain so the load balancer can read 503 on
            # /healthz; new WebSocket sessions are refused so clients go to another node.
            return conn.respond(503, "draining\n")
        return None

    async def drain(self, seconds: float | None = None) -> None:
        """SIGTERM: /healthz 503, refuse new sessions, close clients with 1012 over the window."""
        assert self._server is not None
        window = self.config.drain_seconds if seconds is None else seconds
        self.draining = True
        if self._sweeper is not None:
            self._sweeper.cancel()
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
        self._server.close(code=CloseCode.RESTART, reason="server draining")
        try:
            async with asyncio.timeout(self.config.close_timeout + 1):
                await self._server.wait_closed()
        except TimeoutError:
            log.warning("some connections did not close within close_timeout")
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
