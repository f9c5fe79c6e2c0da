"""Alembic environment: async engine, or a connection handed in by `app.migrate`."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.kernel.db import make_engine, metadata
from app.settings import Settings

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = make_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    if not url:
        # The embedded default migrates itself when it starts (`collabspace migrate` too).
        raise SystemExit("alembic needs DATABASE_URL; the embedded default: `collabspace migrate`")
    asyncio.run(_run_async(url))
