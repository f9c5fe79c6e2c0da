"""One frozen Settings, read from the environment once by the entrypoints and passed down."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.engine import URL, make_url

# An empty DATABASE_URL selects the embedded default: a PostgreSQL server from a wheel under
# ./var/pgdata, started by the API's lifespan (app.embedded).
EMBEDDED_DATABASE_URL = ""
APP_ROLE = "collabspace_app"


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
    port: int = 8000
    channel_prefix: str = "cs"
    access_token_ttl_s: int = 900
    realtime_ticket_ttl_s: int = 60
    default_project_limit: int = 100
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
        database_url = normalize_database_url(env.get("DATABASE_URL", "") or EMBEDDED_DATABASE_URL)
        if database_url and not database_url.startswith("postgresql"):
            raise SettingsError("DATABASE_URL must be a PostgreSQL URL (postgresql://...)")
        app_database_url = normalize_database_url(env.get("APP_DATABASE_URL", ""))
        if app_database_url and not database_url:
            raise SettingsError("APP_DATABASE_URL needs DATABASE_URL (embedded: it is derived)")
        secret = env.get("SECRET_KEY", "")
        if not secret:
            if database_url:
                # Several processes (API replicas, gateway nodes) must share one signing key.
                raise SettingsError("SECRET_KEY must be set when DATABASE_URL points at PostgreSQL")
            secret = secrets.token_urlsafe(32)
        if len(secret) < 16:
            raise SettingsError("SECRET_KEY must be at least 16 characters")
        try:
            port = int(env.get("PORT", "8000"))
            return cls(
                database_url=database_url,
                app_database_url=app_database_url,
                redis_url=env.get("REDIS_URL") or None,
                secret_key=secret,
                port=port,
                channel_prefix=env.get("CHANNEL_PREFIX", "cs"),
                access_token_ttl_s=int(env.get("ACCESS_TOKEN_TTL", "900")),
                realtime_ticket_ttl_s=int(env.get("REALTIME_TICKET_TTL", "60")),
                default_project_limit=int(env.get("PROJECT_LIMIT", "100")),
                run_relay=_flag(env.get("RUN_RELAY", "1")),
                run_projections=_flag(env.get("RUN_PROJECTIONS", "1")),
                db_pool_size=int(env.get("DB_POOL_SIZE", "10")),
                projection_coalesce_ms=int(env.get("PROJECTION_COALESCE_MS", "50")),
                realtime_public_url=env.get("REALTIME_PUBLIC_URL", ""),
                embedded_gateway=_flag(env.get("EMBEDDED_GATEWAY", "1")),
                realtime_host=env.get("REALTIME_HOST", "127.0.0.1"),
                realtime_port=int(env.get("REALTIME_PORT", str(port + 1))),
            )
        except ValueError as exc:
            raise SettingsError(f"bad numeric setting: {exc}") from None


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}
