"""Which primary serves which hash slot of a Redis Cluster, read with CLUSTER SLOTS.

A channel (or key) belongs to slot CRC16(name) mod 16384 (`{…}` hash tags aside), and each slot
range to one primary. The sharded broker (shards.py) asks `owner` where to SSUBSCRIBE and
re-reads the map when a shard fails or on its periodic check.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import RedisError

Address = tuple[str, int]
READ_TIMEOUT_S = 2.0


class SlotMapError(RedisError):
    """No node of the cluster answered CLUSTER SLOTS."""


class SlotMap:
    def __init__(self) -> None:
        self._starts: list[int] = []  # sorted slot-range starts
        self._ranges: list[tuple[int, int, Address]] = []

    def owner(self, name: str) -> Address | None:
        slot = key_slot(name.encode())
        i = bisect.bisect_right(self._starts, slot) - 1
        if i < 0 or not self._ranges[i][0] <= slot <= self._ranges[i][1]:
            return None
        return self._ranges[i][2]

    def primaries(self) -> list[Address]:
        return list(dict.fromkeys(address for _, _, address in self._ranges))

    async def read(self, candidates: Iterable[Address], options: dict[str, Any]) -> None:
        """Replace the map with the first answer of `candidates` (tried in order, once each)."""
        error: BaseException | None = None
        for host, port in dict.fromkeys(candidates):
            client = aioredis.Redis(
                host=host,
                port=port,
                socket_connect_timeout=READ_TIMEOUT_S,
                socket_timeout=READ_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),
                **options,
            )
            try:
                reply = await client.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
            except (RedisError, OSError) as exc:
                error = exc
                continue
            finally:
                await client.aclose()
            # Each entry: low, high, [primary host, port, id, …], replicas…; an empty host means
            # "the node you asked".
            self._ranges = sorted(
                (int(low), int(high), (_text(node[0]) or host, int(node[1])))
                for low, high, node, *_ in reply
            )
            self._starts = [low for low, _, _ in self._ranges]
            return
        raise SlotMapError(f"no cluster node answered CLUSTER SLOTS: {error!r}")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
