"""Entrypoint: `python -m realtime` and `collabspace gateway` call `main()`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
from collections.abc import Sequence

from realtime.backfill import HttpBackfill
from realtime.broker import Broker, MemoryBroker, RedisBroker
from realtime.config import ConfigError, GatewayConfig
from realtime.metrics import Metrics
from realtime.presence import MemoryPresenceStore, PresenceStore, RedisPresenceStore
from realtime.redisurl import is_cluster
from realtime.server import run_gateway
from realtime.shards import ShardedBroker
from realtime.tickets import MemoryTicketStore, RedisTicketStore, TicketStore

log = logging.getLogger("realtime")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one gateway node configured from the environment; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="collabspace gateway", description="CollabSpace WebSocket gateway node"
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--host",
        default=None,
        help="interface to listen on (overrides REALTIME_HOST; default 127.0.0.1)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        config = GatewayConfig.from_env()
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if args.host:
        config = dataclasses.replace(config, host=args.host)
    if os.environ.get("HOST") and not os.environ.get("REALTIME_HOST") and not args.host:
        # HOST was read by older releases; it is ignored now so that a stray, generic variable
        # cannot open the node to every interface.
        log.warning("HOST is ignored; set REALTIME_HOST (listening on %s)", config.host)
    asyncio.run(_serve(config))
    return 0


def broker_for(config: GatewayConfig) -> Broker:
    """The node's broker: Redis (sharded pub/sub on a cluster) when configured, else the
    in-process twin."""
    if config.redis_url and is_cluster(config.redis_url):
        return ShardedBroker(config.redis_url)
    if config.redis_url:
        return RedisBroker(config.redis_url)
    # Standalone without Redis only sees what is published in this process: useful for
    # local experiments; the embedded default runs the gateway inside the API instead.
    log.warning("REDIS_URL not set: in-memory broker, this node receives no relay events")
    return MemoryBroker()


async def _serve(config: GatewayConfig) -> None:
    broker = broker_for(config)
    try:
        await serve(config, broker)
    finally:
        await broker.close()


async def serve(config: GatewayConfig, broker: Broker, *, metrics: Metrics | None = None) -> None:
    """Run one node on `broker` until SIGTERM or SIGINT, then drain; the caller closes `broker`,
    this closes the stores and the backfill client it opened."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    backfill = HttpBackfill(config.api_url, config.secret_key) if config.api_url else None
    if backfill is None:
        log.warning("API_URL not set: resume and gap repair are off (subscribers get resync)")
    store: PresenceStore = (
        RedisPresenceStore(config.redis_url) if config.redis_url else MemoryPresenceStore()
    )
    # Used tickets are remembered where every node sharing the Redis sees them.
    tickets: TicketStore = (
        RedisTicketStore(config.redis_url, config.channel_prefix)
        if config.redis_url
        else MemoryTicketStore()
    )
    try:
        await run_gateway(
            config,
            broker,
            stop,
            metrics=metrics,
            backfill=backfill,
            presence_store=store,
            tickets=tickets,
        )
    finally:
        await tickets.close()
        if backfill is not None:
            await backfill.close()
