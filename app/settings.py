"""One frozen Settings, read from the environment once by the entrypoints and passed down."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.engine import URL, make_url

# One Setting type and one reader for every process (realtime/ imports nothing from app/).
from realtime.config import Setting, read_settings

# An empty DATABASE_URL selects the embedded default: a PostgreSQL server from a wheel under
# ./var/pgdata, started by the API's lifespan (app.embedded).
EMBEDDED_DATABASE_URL = ""
APP_ROLE = "collabspace_app"
DEFAULT_PORT = 8000


class SettingsError(Exception):
    """A misconfiguration, refused at start-up rather than at the first request."""


def normalize_database_url(url: str) -> str:
    """Accept the usual `postgres://` spellings and select the async driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def app_url_for(url: str) -> str:
    """The same server and database as the app role, which row-level security applies to."""
    owner = make_url(url)
    # Not URL.set(password=None): None there means "keep the owner's password".
    app = URL.create(
        owner.drivername,
        username=APP_ROLE,
        host=owner.host,
        port=owner.port,
        database=owner.database,
        query=owner.query,
    )
    return app.render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = EMBEDDED_DATABASE_URL
    # The request paths' connection: a role subject to row-level security (docs/security.md).
    # Empty: derived from database_url, as user collabspace_app with no password (the role
    # migration 0004 creates), so requests always run under row-level security.
    # DATABASE_URL stays the owner's, for migrations, the relay, projections and rebuilds.
    app_database_url: str = ""
    redis_url: str | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    port: int = DEFAULT_PORT
    channel_prefix: str = "cs"
    access_token_ttl_s: int = 900
    realtime_ticket_ttl_s: int = 60
    default_project_limit: int = 100
    default_member_limit: int = 50
    run_relay: bool = True
    run_projections: bool = True
    db_pool_size: int = 10
    # Projection batches start at most this often (ms): under load, one batch of many events
    # instead of one transaction per commit per projection; the read models lag at most this.
    projection_coalesce_ms: int = 50
    # Where browsers open their WebSocket; empty means the embedded gateway on this host.
    realtime_public_url: str = ""
    # The embedded default runs a gateway node inside the API process (only without REDIS_URL).
    embedded_gateway: bool = True
    realtime_host: str = "127.0.0.1"
    realtime_port: int = 8001

    @property
    def request_database_url(self) -> str:
        return self.app_database_url or app_url_for(self.database_url)

    @property
    def embedded(self) -> bool:
        """No DATABASE_URL: the embedded PostgreSQL server, started by the API itself."""
        return not self.database_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        try:
            values = read_settings(SETTINGS, env)
        except ValueError as exc:
            raise SettingsError(f"bad setting: {exc}") from None
        database_url = values.get("database_url", EMBEDDED_DATABASE_URL)
        if database_url and not database_url.startswith("postgresql"):
            raise SettingsError("DATABASE_URL must be a PostgreSQL URL (postgresql://...)")
        if values.get("app_database_url") and not database_url:
            raise SettingsError("APP_DATABASE_URL needs DATABASE_URL (embedded: it is derived)")
        secret = values.get("secret_key", "")
        if not secret and database_url:
            # Several processes (API replicas, gateway nodes) must share one signing key.
            raise SettingsError("SECRET_KEY must be set when DATABASE_URL points at PostgreSQL")
        if secret and len(secret) < 16:
            raise SettingsError("SECRET_KEY must be at least 16 characters")
        # The embedded gateway listens next to the API unless told otherwise.
        values.setdefault("realtime_port", values.get("port", DEFAULT_PORT) + 1)
        return cls(**values)


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        "database_url",
        normalize_database_url,
        "`postgresql://…`: the tables' owner, for migrations, relay, projections and"
        " rebuilds (asyncpg); only PostgreSQL URLs are accepted",
        "unset: embedded PostgreSQL in `./var/pgdata`",
    ),
    Setting(
        "APP_DATABASE_URL",
        "app_database_url",
        normalize_database_url,
        "the request paths' URL, as `collabspace_app` under row-level security"
        " (docs/security.md); set it when that role needs a password or another host. The"
        " API refuses to start if it cannot log in as that role",
        "unset: `DATABASE_URL` with user `collabspace_app` and no password",
    ),
    Setting(
        "SECRET_KEY",
        "secret_key",
        str,
        "signs access tokens and realtime tickets, shared with every gateway node; 16+"
        " characters, required with `DATABASE_URL`",
        "random per process (embedded default only)",
    ),
    Setting(
        "REDIS_URL",
        "redis_url",
        str,
        "`redis://…`: pub/sub from the relay to the gateway nodes, the shared login throttle;"
        " `redis+cluster://host:port,…`: a Redis Cluster (SPUBLISH)",
        "unset: in-process broker",
    ),
    Setting("PORT", "port", int, "HTTP port of `collabspace serve` (`--port` overrides)"),
    Setting(
        "CHANNEL_PREFIX",
        "channel_prefix",
        str,
        "namespace of the Redis channels and keys; the gateway nodes must use the same",
    ),
    Setting("ACCESS_TOKEN_TTL", "access_token_ttl_s", int, "seconds an access token lives"),
    Setting(
        "REALTIME_TICKET_TTL",
        "realtime_ticket_ttl_s",
        int,
        "seconds a realtime ticket may be used (once) to open a WebSocket",
    ),
    Setting(
        "PROJECT_LIMIT",
        "default_project_limit",
        int,
        "projects in use (not archived) the default plan (`free`) allows",
    ),
    Setting(
        "MEMBER_LIMIT",
        "default_member_limit",
        int,
        "active users the default plan (`free`) allows",
    ),
    Setting(
        "RUN_RELAY",
        "run_relay",
        _flag,
        "run the relay in this process (an advisory lock lets one publish); the Procfile's"
        " `web` sets 0, the worker runs it",
    ),
    Setting(
        "RUN_PROJECTIONS",
        "run_projections",
        _flag,
        "run the projection runner in this process; the Procfile's `web` sets 0, the worker"
        " runs it",
    ),
    Setting(
        "DB_POOL_SIZE",
        "db_pool_size",
        int,
        "PostgreSQL connections per pool (the API adds one for its group commit)",
    ),
    Setting(
        "PROJECTION_COALESCE_MS",
        "projection_coalesce_ms",
        int,
        "projection batches start at most this often (the read models' worst added lag)",
    ),
    Setting(
        "REALTIME_PUBLIC_URL",
        "realtime_public_url",
        str,
        "the WebSocket URL browsers are told to open (the gateway nodes' load balancer)",
        "unset: the embedded gateway on this host",
    ),
    Setting(
        "EMBEDDED_GATEWAY",
        "embedded_gateway",
        _flag,
        "without `REDIS_URL`, run a gateway node inside the API process",
    ),
    Setting("REALTIME_HOST", "realtime_host", str, "interface the embedded gateway listens on"),
    Setting("REALTIME_PORT", "realtime_port", int, "port of the embedded gateway", "`PORT` + 1"),
)
