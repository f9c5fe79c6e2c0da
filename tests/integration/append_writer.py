"""A process that appends through the real store, for the several-processes and crash tests.

    python -m tests.integration.append_writer URL TENANT USER NAME WRITERS APPENDS STREAM...

WRITERS coroutines each make APPENDS commands (0: until killed): load a random stream, append
1-3 events at its version with an Idempotency-Key `NAME-<n>` (n counts this process's
commands from 1), retry on conflict. Each commit is printed as `position count key`, flushed,
so that the test knows what this process was told was committed.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sys

from app.eventstore.idempotency import IdempotencyRecord
from app.eventstore.port import NewEvent
from app.eventstore.postgres import PgPool, pg_uow_factory
from app.kernel.clock import utc_now
from app.kernel.domain import ConcurrencyError


async def main(argv: list[str]) -> None:
    url, tenant, user, name, writers, appends, *streams = argv
    pool = PgPool(url, size=int(writers))
    make = pg_uow_factory(pool)
    numbers = itertools.count(1)

    async def writer(seed: int) -> None:
        rng = random.Random(seed)
        rounds = itertools.count() if int(appends) == 0 else range(int(appends))
        for _ in rounds:
            stream = rng.choice(streams)
            while True:
                count, key = rng.randint(1, 3), f"{name}-{next(numbers)}"
                try:
                    async with make(tenant_id=tenant) as uow:
                        version = len(await uow.events.load(stream))
                        events = [NewEvent("Ticked", {"by": name})] * count
                        await uow.events.append(
                            stream, version, events, context=uow.context(tenant)
                        )
                        record = IdempotencyRecord("h", 200, {})
                        await uow.idempotency.put(tenant, user, key, record, utc_now())
                except ConcurrencyError:
                    continue
                print(uow.position, count, key, flush=True)
                break

    try:
        await asyncio.gather(*(writer(i) for i in range(int(writers))))
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
