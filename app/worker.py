"""`python -m app.worker`: the relay and the projection runner as their own process.

Procfile `relay`. Reads Settings from the environment once. The relay (RUN_RELAY, on by
default) publishes to REDIS_URL; the projection runner (RUN_PROJECTIONS, on by default) keeps
the read models. Either may be switched off, and the API's own copies switched off with the
same flags, so the API process serves requests only (docs/scaling.md). Stops cleanly on SIGTERM
or SIGINT, releasing its leaderships so a standby takes over at once. Run several for a hot
standby: exactly one relay publishes and one runner applies each projection at a time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from app.kernel.db import make_engine
from app.kernel.signals import CommitSignal
from app.runtime import running
from app.settings import Settings, SettingsError
from app.tools import gctuning

log = logging.getLogger("app.worker")


def check(settings: Settings) -> Settings:
    """The worker's settings, refusing configurations where a separate process is pointless."""
    if settings.embedded:
        raise SettingsError("the worker needs DATABASE_URL (the embedded default is one process)")
    if settings.run_relay and not settings.redis_url:
        # An in-memory broker in its own process would reach no gateway.
        raise SettingsError("the standalone relay needs REDIS_URL (or RUN_RELAY=0)")
    if not settings.run_relay and not settings.run_projections:
        raise SettingsError("RUN_RELAY=0 and RUN_PROJECTIONS=0 leave the worker nothing to do")
    # A worker serves no browser: never an embedded gateway.
    return dataclasses.replace(settings, embedded_gateway=False)


async def main(settings: Settings) -> None:
    settings = check(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # The relay's leader lock and reads, and one session per leading projector.
    engine = make_engine(settings.database_url, pool_size=6)
    try:
        async with running(settings, engine, CommitSignal()) as runtime:
            gctuning.settle()
            await stop.wait()
    finally:
        await engine.dispose()
    if runtime.relay is not None:
        log.info("relay stopped at position %d", runtime.relay.metrics.checkpoint)


def run() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = check(Settings.from_env())
    except SettingsError as exc:
        print(f"collabspace worker: {exc}", file=sys.stderr)
        return 2
    run_loop(main(settings))
    return 0


def run_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (uvicorn[standard] brings it), as uvicorn runs the
    API; else on asyncio's own loop. The worker is socket-bound (PostgreSQL, Redis): its
    transports' writes were a quarter of its samples on asyncio's selector loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is part of uvicorn[standard] on Linux
        asyncio.run(coroutine)
        return
    uvloop.run(coroutine)


if __name__ == "__main__":
    sys.exit(run())
