"""Gateway configuration: one frozen object, read from the environment once by the entrypoint."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

KIB = 1024
N = TypeVar("N", int, float)


class ConfigError(Exception):
    """A misconfiguration, refused at start-up rather than at the first connection."""


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    secret_key: str
    # Loopback unless told otherwise: a node behind a load balancer on another host needs
    # REALTIME_HOST=0.0.0.0 (the Procfile passes --host 0.0.0.0), nothing else should listen wide.
    host: str = "127.0.0.1"
    port: int = 8001
    redis_url: str | None = None
    channel_prefix: str = "cs"
    # websockets limits (STYLE section 6): every one explicit.
    max_size: int = 64 * KIB
    max_queue: int = 16
    write_limit: int = 32 * KIB
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    open_timeout: float = 10.0
    close_timeout: float = 10.0
    # Our own limits.
    auth_timeout: float = 5.0
    heartbeat_s: float = 25.0
    max_connections: int = 20_000
    # Per user and per node (nodes share nothing): tabs and devices of one person, not a botnet.
    max_connections_per_user: int = 20
    max_subscriptions: int = 100
    rate_per_s: float = 20.0
    rate_burst: int = 40
    # Unsent bytes in a connection's transport past which it is a slow consumer (close 4002).
    slow_consumer_bytes: int = 1024 * KIB
    # Events per batch frame; a channel's pending batch is flushed at the end of the loop turn
    # or when it reaches this size, whichever comes first.
    max_batch_events: int = 256
    max_lifetime_s: float = 3600.0
    drain_seconds: float = 5.0
    # Resume and gap repair (issue 6).
    api_url: str | None = None  # where GET /internal/backfill lives; None: no resume
    backfill_limit: int = 2000  # more missed events than this on a channel: resync
    backfill_concurrency: int = 8  # backfill requests in flight per node
    recovery_buffer: int = 10_000  # live events held per resuming connection
    # Gap repair bounds, per gap (realtime/repair.py): then `resync` for the channel.
    repair_max_reads: int = 5  # backfill reads; 5 pages of backfill_limit cover 10,000 events
    repair_timeout_s: float = 10.0  # shorter than a client's patience, longer than an API blip
    repair_hold_limit: int = 5_000  # live events held per channel while its gap is repaired
    drop_every_n: int = 0  # TEST HOOK: discard every Nth broker event message (0: off)
    presence_ttl_s: float = 20.0  # a dead node's presence entries go within ttl * 1.25
    presence_batch_ms: float = 50.0  # presence changes merged per channel for this long
    ephemeral_per_s: float = 5.0
    ephemeral_burst: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayConfig:
        env = os.environ if env is None else env
        secret = env.get("SECRET_KEY", "")
        if len(secret) < 16:
            # Tickets are signed by the API with this key; without it nobody could connect.
            raise ConfigError("SECRET_KEY must be set (16+ characters, shared with the API)")
        port = env.get("REALTIME_PORT") or env.get("PORT") or "8001"
        try:
            return cls(
                secret_key=secret,
                host=env.get("REALTIME_HOST") or "127.0.0.1",
                port=int(port),
                redis_url=env.get("REDIS_URL") or None,
                channel_prefix=env.get("CHANNEL_PREFIX", "cs") or "cs",
                auth_timeout=float(env.get("AUTH_TIMEOUT_SECONDS", "5")),
                max_connections=int(env.get("MAX_CONNECTIONS", "20000")),
                max_connections_per_user=int(env.get("MAX_CONNECTIONS_PER_USER", "20")),
                rate_per_s=float(env.get("RATE_PER_SECOND", "20")),
                rate_burst=int(env.get("RATE_BURST", "40")),
                slow_consumer_bytes=int(env.get("SLOW_CONSUMER_BYTES", str(1024 * KIB))),
                max_lifetime_s=float(env.get("MAX_LIFETIME_SECONDS", "3600")),
                drain_seconds=float(env.get("DRAIN_SECONDS", "5")),
                api_url=env.get("API_URL") or None,
                backfill_limit=int(env.get("BACKFILL_LIMIT", "2000")),
                backfill_concurrency=int(env.get("BACKFILL_CONCURRENCY", "8")),
                drop_every_n=int(env.get("DROP_EVERY_N", "0")),
                repair_max_reads=_positive(int(env.get("REPAIR_MAX_READS", "5"))),
                repair_timeout_s=_positive(float(env.get("REPAIR_TIMEOUT_SECONDS", "10"))),
                repair_hold_limit=_positive(int(env.get("REPAIR_HOLD_LIMIT", "5000"))),
                presence_ttl_s=float(env.get("PRESENCE_TTL_SECONDS", "20")),
                presence_batch_ms=float(env.get("PRESENCE_BATCH_MS", "50")),
            )
        except ValueError as exc:
            raise ConfigError(f"bad numeric setting: {exc}") from None


def _positive(value: N) -> N:
    if value <= 0:
        raise ValueError(f"{value} is not positive")
    return value
