"""A presence storm: N users join one project at once over 2 nodes (a deploy's reconnect wave).

Every join is announced to every subscriber of the project, so the frames grow with N squared
unless a node merges the changes it receives (PRESENCE_BATCH_MS). Reports how long the joins
took, the gateways' CPU until the storm settled (no presence frame for 1 s), the presence frames
and announced joins the clients received, and how many clients lost their connection.

    .venv/bin/python benchmarks/presence_storm.py [clients]
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import orjson
from gateway_common import Node, new_id, open_client, raise_nofile, tear_down, ticket
from websockets.asyncio.client import ClientConnection


async def main(n: int) -> None:
    raise_nofile()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    nodes = [await Node(prefix).ready(), await Node(prefix).ready()]
    tenant, project = new_id(), new_id()
    frames = announced = 0
    last_frame = time.monotonic()
    clients: list[ClientConnection] = []

    async def receive(ws: ClientConnection) -> None:
        nonlocal frames, announced, last_frame
        async for data in ws:
            msg = orjson.loads(data)
            if msg.get("type") == "presence" and "members" not in msg:
                frames += 1
                announced += len(msg.get("joined", [])) + len(msg.get("left", []))
                last_frame = time.monotonic()

    readers: list[asyncio.Task[None]] = []
    opening = asyncio.Semaphore(100)

    async def join(i: int) -> None:
        # Read from the moment it is subscribed: an unread socket would be a slow consumer.
        async with opening:
            ws = await open_client(
                nodes[i % 2].port, ticket(tenant, new_id(), [project]), f"project:{project}"
            )
        clients.append(ws)
        readers.append(asyncio.create_task(receive(ws)))

    cpu0, t0 = sum(node.cpu_s() for node in nodes), time.monotonic()
    await asyncio.gather(*(join(i) for i in range(n)))
    joined_s = time.monotonic() - t0
    while time.monotonic() - last_frame < 1.0:
        await asyncio.sleep(0.1)
    settled_s = time.monotonic() - t0 - 1.0
    cpu = sum(node.cpu_s() for node in nodes) - cpu0
    closed = sum(1 for ws in clients if ws.close_code is not None)
    print(
        f"{n} users joined one project over 2 nodes in {joined_s:.1f} s; settled after "
        f"{settled_s:.1f} s; gateway CPU {cpu:.1f} s; presence change frames received "
        f"{frames:,} (announced joins {announced:,}); clients closed {closed}"
    )
    tear_down(readers, clients, nodes)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if sys.argv[1:] else 1000))
