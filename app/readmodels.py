"""The read side's composition: every projector, and the `projections rebuild` command logic."""

from __future__ import annotations

import os
import sys
from types import MappingProxyType
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncEngine

from app import embedded
from app.activity.projections import ActivityProjector
from app.analytics.projections import AnalyticsProjector
from app.kernel.db import make_engine
from app.notifications import backfill as inbox
from app.notifications.projections import NotificationsProjector
from app.projects.projections import ProjectsProjector
from app.readside.projector import Projector
from app.readside.rebuild import RebuildReport, rebuild_projection
from app.relay.backfill import ScopeReaders
from app.search.projections import SearchProjector
from app.settings import Settings
from app.tasks.projections import BoardProjector
from app.tenants.projections import UserDirectoryProjector

PROJECTORS: tuple[type[Projector], ...] = (
    UserDirectoryProjector,
    ProjectsProjector,
    BoardProjector,
    ActivityProjector,
    NotificationsProjector,
    AnalyticsProjector,
    SearchProjector,
)
NAMES = tuple(cls.name for cls in PROJECTORS)

# Channels a read model publishes (its relay's outbox), backfilled from it rather than from the
# event store: GET /internal/backfill and the embedded gateway resume them the same way.
BACKFILL_READERS: ScopeReaders = MappingProxyType({inbox.KIND: inbox.inbox_backfill})


def projectors(names: tuple[str, ...] | list[str] | None = None) -> list[Projector]:
    """Fresh projector instances (all of them, or the named ones); unknown names raise KeyError."""
    by_name = {cls.name: cls for cls in PROJECTORS}
    return [by_name[name]() for name in (names or NAMES)]


async def rebuild(
    engine: AsyncEngine,
    name: str,
    *,
    out: TextIO | None = None,
    batch_size: int = 5000,
    partitions: int = 1,
) -> RebuildReport:
    """Rebuild one projection from position zero while the old tables keep serving."""
    (projector,) = projectors([name])
    return await rebuild_projection(
        engine, projector, out=out, batch_size=batch_size, partitions=partitions
    )


async def rebuild_command(settings: Settings, name: str | None, out: TextIO = sys.stdout) -> int:
    """`collabspace projections rebuild [NAME]`: one projection, or all; answers the exit code."""
    if name is not None and name not in NAMES:
        out.write(f"unknown projection {name!r}; known: {', '.join(NAMES)}\n")
        return 2
    async with embedded.running(settings) as active:
        engine = make_engine(active.database_url)
        try:
            for each in [name] if name else list(NAMES):
                # One process per core for the bulk of a large store (app.readside.rebuild).
                await rebuild(engine, each, out=out, partitions=os.cpu_count() or 1)
        finally:
            await engine.dispose()
    return 0
