"""`python -m app.worker`: the relay as its own process (Procfile `worker`).

Reads Settings from the environment once, publishes to REDIS_URL, and stops cleanly on SIGTERM
or SIGINT (releasing the leadership, so a standby takes over at once). Run several for a hot
standby; exactly one publishes at a time.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from app.kernel.broker import RedisPublisher
from app.kernel.db import make_engine
from app.kernel.relay import Relay
from app.settings import Settings, SettingsError

log = logging.getLogger("app.worker")


def check(settings: Settings) -> str:
    """The Redis URL, refusing configurations where a separate relay process is pointless."""
    if not settings.is_postgres:
        raise SettingsError("the standalone relay needs DATABASE_URL to point at PostgreSQL")
    if not settings.redis_url:
        # An in-memory broker in its own process would reach no gateway.
        raise SettingsError("the standalone relay needs REDIS_URL")
    return settings.redis_url


async def main(settings: Settings) -> None:
    redis_url = check(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    engine = make_engine(settings.database_url, pool_size=2)
    publisher = RedisPublisher(redis_url)
    relay = Relay(engine, publisher, prefix=settings.channel_prefix)
    try:
        await relay.run(stop)
    finally:
        await publisher.close()
        await engine.dispose()
    log.info("relay stopped at position %d", relay.metrics.checkpoint)


def run() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env()
        check(settings)
    except SettingsError as exc:
        print(f"collabspace worker: {exc}", file=sys.stderr)
        return 2
    asyncio.run(main(settings))
    return 0


if __name__ == "__main__":
    sys.exit(run())
