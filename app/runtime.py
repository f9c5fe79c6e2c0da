"""The background parts of an API process, started and stopped by the lifespan.

- the projection runner (read models), when RUN_PROJECTIONS is on;
- the relay (event store -> broker), when RUN_RELAY is on; with PostgreSQL every replica runs
  one and an advisory lock lets exactly one publish; beside it the inbox relay (notifications
  -> each user's channel), under its own lock;
- in the embedded default (no REDIS_URL), a gateway node in this same process, fed by the
  in-process broker, so one command gives a working realtime server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

from app import readmodels
from app.kernel.signals import CommitSignal
from app.notifications.relay import InboxRelay
from app.readside.checkpoint_watch import CheckpointWatch
from app.readside.runner import ProjectionRunner
from app.relay.backfill import BackfillQuery, backfill
from app.relay.loop import Relay
from app.relay.publisher import InMemoryPublisher, Publisher, redis_publisher
from app.settings import Settings
from realtime.backfill import Fetch, Page, page_from_json
from realtime.broker import MemoryBroker
from realtime.config import GatewayConfig
from realtime.server import Gateway

log = logging.getLogger("collabspace.runtime")


@dataclasses.dataclass(slots=True)
class Runtime:
    runner: ProjectionRunner | None = None
    relay: Relay | None = None
    inbox: InboxRelay | None = None
    gateway: Gateway | None = None
    # What `?min_position=` waits on: the runner when this process runs the projections, else
    # the checkpoints as another process (the worker) writes them.
    read_progress: ProjectionRunner | CheckpointWatch | None = None

    @property
    def gateway_port(self) -> int | None:
        return None if self.gateway is None else self.gateway.port


def direct_backfill(engine: AsyncEngine, config: GatewayConfig) -> Fetch:
    """The embedded gateway reads backfill in-process: same query as GET /internal/backfill."""

    async def fetch(tenant: str, scope: str, after: int, limit: int) -> Page:
        query = BackfillQuery(tenant, scope, after, limit)
        body = await backfill(engine, config.channel_prefix, query, readmodels.BACKFILL_READERS)
        return page_from_json(body)

    return fetch


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    engine: AsyncEngine,
    signal: CommitSignal,
    *,
    request_engine: AsyncEngine | None = None,
) -> AsyncIterator[Runtime]:
    """`engine` is the owner's (relay, projections); `request_engine` the app role's, for what
    this process reads on behalf of requests (checkpoints, the embedded gateway's backfill)."""
    reads = request_engine or engine
    runtime = Runtime()
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    publisher: Publisher | None = None
    broker: MemoryBroker | None = None
    try:
        if settings.run_projections:
            runtime.runner = ProjectionRunner(
                engine,
                readmodels.projectors(),
                signal=signal,
                coalesce_interval=settings.projection_coalesce_ms / 1000,
            )
            await runtime.runner.start()
            runtime.read_progress = runtime.runner
        else:
            runtime.read_progress = CheckpointWatch(reads, readmodels.NAMES)
        if settings.redis_url is None and settings.embedded_gateway:
            broker = MemoryBroker()
            config = GatewayConfig(
                secret_key=settings.secret_key,
                host=settings.realtime_host,
                port=settings.realtime_port,
                channel_prefix=settings.channel_prefix,
            )
            runtime.gateway = Gateway(config, broker, backfill=direct_backfill(reads, config))
            await runtime.gateway.start()
            log.info("embedded gateway on ws://%s:%d/ws", config.host, runtime.gateway.port)
        if settings.run_relay:
            publisher = (
                redis_publisher(settings.redis_url)
                if settings.redis_url
                else InMemoryPublisher(broker)
            )
            runtime.relay = Relay(engine, publisher, prefix=settings.channel_prefix, signal=signal)
            tasks.append(asyncio.create_task(runtime.relay.run(stop), name="relay"))
            runtime.inbox = InboxRelay(
                engine, publisher, prefix=settings.channel_prefix, signal=signal
            )
            tasks.append(asyncio.create_task(runtime.inbox.run(stop), name="inbox-relay"))
        yield runtime
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if runtime.gateway is not None:
            await runtime.gateway.close()
        if runtime.runner is not None:
            await runtime.runner.stop()
        elif isinstance(runtime.read_progress, CheckpointWatch):
            await runtime.read_progress.close()
        if publisher is not None:
            await publisher.close()
        if broker is not None:
            await broker.close()
