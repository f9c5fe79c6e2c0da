"""REDIS_URL: one Redis (`redis://…`) or a Redis Cluster (`redis+cluster://host:port,host:port`).

The cluster form lists seed nodes (any few; the client learns the rest from the cluster), with
optional `user:password@` before them; `rediss+cluster://` speaks TLS. A cluster has only
database 0, so a path is refused rather than ignored. The API (relay, login throttle) and the
gateway (broker, presence, tickets) build their clients here, so both read the URL one way.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")

# What a process holds: one Redis or a cluster client; both speak the same commands.
Client = aioredis.Redis | RedisCluster


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def cluster_options(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """The seed nodes and the connection options (credentials, TLS) of a cluster URL."""
    if not is_cluster(url):
        raise ValueError(f"not a redis+cluster:// URL: {url!r}")
    scheme, _, rest = url.partition("://")
    options: dict[str, Any] = {"ssl": True} if scheme.startswith("rediss") else {}
    userinfo, at, hosts = rest.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if colon:
            options["password"] = unquote(password)
        if user:
            options["username"] = unquote(user)
    hosts, _, path = hosts.partition("/")
    if path.strip("/") not in ("", "0"):
        raise ValueError("a Redis Cluster has only database 0: drop the path from REDIS_URL")
    seeds = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"cluster seed {item!r} is not host:port")
        seeds.append((host.strip("[]"), int(port)))
    return seeds, options


def connect(url: str, **kwargs: Any) -> Client:
    """A client for `url`: `redis.asyncio.Redis`, or `RedisCluster` for a cluster URL.

    For a cluster, `max_connections` counts per node and there is no blocking pool: past it a
    command fails at once (MaxConnectionsError), which the callers already treat as Redis
    being unavailable.
    """
    if not is_cluster(url):
        return aioredis.Redis.from_url(url, **kwargs)
    seeds, options = cluster_options(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in seeds], **options, **kwargs
    )
