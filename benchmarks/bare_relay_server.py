"""The comparison floor for gateway_latency.py --bare: a bare `websockets` + redis-py relay.

One Redis channel (BARE_CHANNEL), every message written as is to every connection with the
library's `broadcast()`, wrapped in the gateway's `events` frame so the same load client reads
both. No authentication, no subscriptions, no ordering checks, no resume: what any relay does
at least, so its CPU per delivery is the floor the gateway is measured against.

    BARE_CHANNEL=... REDIS_URL=... python benchmarks/bare_relay_server.py
"""

from __future__ import annotations

import asyncio
import os

import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, broadcast, serve


async def main() -> None:
    channel = os.environ["BARE_CHANNEL"]
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    redis = aioredis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel)
    async with serve(handler, "127.0.0.1", 0, compression=None, backlog=2048):
        async for message in pubsub.listen():
            if message["type"] == "message":
                frame = b'{"type":"events","events":[' + message["data"] + b"]}"
                broadcast(clients, frame, text=True)


if __name__ == "__main__":
    asyncio.run(main())
