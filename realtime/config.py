"""Gateway configuration: one frozen object, read from the environment once by the entrypoint."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

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
    # At most one event flush per node per this long: at high rates more events share a frame
    # (fewer writes per client); an event after a quiet spell still goes at once. 0: no window.
    flush_window_ms: float = 0.0
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
    presence_ttl_s: float = 20.0  # a dead node's presence entries go within ttl * 1.25
    presence_batch_ms: float = 50.0  # presence changes merged per channel for this long
    ephemeral_per_s: float = 5.0
    ephemeral_burst: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayConfig:
        env = os.environ if env is None else env
        try:
            values = read_settings(SETTINGS, env)
        except ValueError as exc:
            raise ConfigError(f"bad setting: {exc}") from None
        if len(values.get("secret_key", "")) < 16:
            # Tickets are signed by the API with this key; without it nobody could connect.
            raise ConfigError("SECRET_KEY must be set (16+ characters, shared with the API)")
        config = cls(**values)
        if config.ping_interval <= 0 or config.ping_timeout <= 0:
            raise ConfigError("PING_INTERVAL_SECONDS and PING_TIMEOUT_SECONDS must be positive")
        return config


@dataclass(frozen=True, slots=True)
class Setting:
    """One environment variable: the field it sets, how its text is read, what it is for.

    A process reads the environment only through its table of these (the gateway's `SETTINGS`
    here, the API's in app/settings.py); README's settings tables are generated from them
    (`collabspace settings`), so the two cannot drift apart.
    """

    env: str
    field: str
    parse: Callable[[str], Any]
    meaning: str
    default: str = ""  # how the default reads in the docs, when the field's value does not say


def read_settings(table: tuple[Setting, ...], env: Mapping[str, str]) -> dict[str, Any]:
    """Field values from the environment. Empty is unset; of two variables for one field, the
    first listed wins. A value that does not parse raises ValueError."""
    values: dict[str, Any] = {}
    for setting in table:
        raw = env.get(setting.env, "")
        if raw and setting.field not in values:
            values[setting.field] = setting.parse(raw)
    return values


def _positive(parse: Callable[[str], N]) -> Callable[[str], N]:
    def read(raw: str) -> N:
        value = parse(raw)
        if value <= 0:
            raise ValueError(f"{raw} is not positive")
        return value

    return read


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SECRET_KEY",
        "secret_key",
        str,
        "the API's signing key (tickets, service tokens); required, 16+ characters",
    ),
    Setting(
        "REALTIME_HOST",
        "host",
        str,
        "interface to listen on (`--host` overrides; the Procfile passes 0.0.0.0)",
    ),
    Setting("REALTIME_PORT", "port", int, "port to listen on"),
    Setting("PORT", "port", int, "the platform's port, when REALTIME_PORT is unset"),
    Setting(
        "REDIS_URL",
        "redis_url",
        str,
        "Redis for pub/sub, presence and single-use tickets; `redis+cluster://host:port,…`:"
        " a Redis Cluster (sharded pub/sub, see docs/scaling.md); unset: in-process only",
    ),
    Setting("CHANNEL_PREFIX", "channel_prefix", str, "namespace of the Redis channels and keys"),
    Setting(
        "API_URL",
        "api_url",
        str,
        "the API's base URL, for GET /internal/backfill; unset: no resume, gaps resync",
    ),
    Setting(
        "AUTH_TIMEOUT_SECONDS",
        "auth_timeout",
        float,
        "seconds a new connection has to present its ticket",
    ),
    Setting(
        "PING_INTERVAL_SECONDS",
        "ping_interval",
        float,
        "seconds between the node's keepalive pings (one sweep pings every connection)",
    ),
    Setting(
        "PING_TIMEOUT_SECONDS",
        "ping_timeout",
        float,
        "a connection that has not answered its ping this long is closed 1011 at the next sweep",
    ),
    Setting("MAX_CONNECTIONS", "max_connections", int, "connections per node"),
    Setting(
        "MAX_CONNECTIONS_PER_USER", "max_connections_per_user", int, "connections per user per node"
    ),
    Setting("RATE_PER_SECOND", "rate_per_s", float, "client frames per second, sustained"),
    Setting("RATE_BURST", "rate_burst", int, "client frames in a burst"),
    Setting(
        "SLOW_CONSUMER_BYTES",
        "slow_consumer_bytes",
        int,
        "unsent bytes past which a connection is closed 4002 (slow consumer)",
    ),
    Setting(
        "MAX_LIFETIME_SECONDS",
        "max_lifetime_s",
        float,
        "a connection is asked to reconnect after this long",
    ),
    Setting(
        "DRAIN_SECONDS",
        "drain_seconds",
        float,
        "on SIGTERM, seconds to move clients away before closing",
    ),
    Setting(
        "BACKFILL_LIMIT",
        "backfill_limit",
        int,
        "missed events replayed per channel on resume; more: resync",
    ),
    Setting(
        "BACKFILL_CONCURRENCY", "backfill_concurrency", int, "backfill requests in flight per node"
    ),
    Setting(
        "REPAIR_MAX_READS",
        "repair_max_reads",
        _positive(int),
        "backfill reads per gap before the channel is resynced",
    ),
    Setting(
        "REPAIR_TIMEOUT_SECONDS",
        "repair_timeout_s",
        _positive(float),
        "seconds per gap before the channel is resynced",
    ),
    Setting(
        "REPAIR_HOLD_LIMIT",
        "repair_hold_limit",
        _positive(int),
        "live events held per channel while its gap is repaired",
    ),
    Setting(
        "PRESENCE_TTL_SECONDS",
        "presence_ttl_s",
        float,
        "a dead node's presence entries expire within 1.25 times this",
    ),
    Setting(
        "FLUSH_WINDOW_MS",
        "flush_window_ms",
        float,
        "at most one event frame per channel per this long (0: at once)",
    ),
    Setting(
        "PRESENCE_BATCH_MS",
        "presence_batch_ms",
        float,
        "presence changes merged per channel for this long",
    ),
)
