"""A project's daily series over a range of UTC days, the quiet days filled in."""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.analytics.tables import analytics_day
from app.kernel.domain import Actor, InvalidInputError
from app.projects import api as projects
from app.readside.projector import read_checkpoints

READS = ("analytics",)
MAX_DAYS = 366
THROUGHPUT_WINDOW = 7  # days: throughput is the completions of the trailing week


def check_range(start: date, end: date) -> None:
    if start > end:
        raise InvalidInputError("from must not be after to", field="from")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInputError(f"a range holds at most {MAX_DAYS} days", field="to")


def _median(values: list[int]) -> float | None:
    return float(statistics.median(values)) if values else None


async def project_analytics(
    connection: AsyncConnection, actor: Actor, project_id: str, start: date, end: date
) -> dict[str, Any]:
    """Every day from `start` to `end` inclusive; access as for the project's other reads."""
    check_range(start, end)
    await projects.require_readable(connection, actor, project_id)
    window_start = start - timedelta(days=THROUGHPUT_WINDOW - 1)
    where = [analytics_day.c.tenant_id == actor.tenant_id, analytics_day.c.project_id == project_id]
    rows = {
        r.day: r
        for r in await connection.execute(
            sa.select(analytics_day)
            .where(*where, analytics_day.c.day >= window_start, analytics_day.c.day <= end)
            .order_by(analytics_day.c.day)
        )
    }
    # Open tasks at the end of the last active day before the range: where the line starts.
    open_before = await connection.scalar(
        sa.select(analytics_day.c.open_end)
        .where(*where, analytics_day.c.day < start)
        .order_by(analytics_day.c.day.desc())
        .limit(1)
    )
    open_now = int(open_before or 0)
    days: list[dict[str, Any]] = []
    cycles: list[int] = []
    completed_total = created_total = spend_total = 0
    for n in range((end - start).days + 1):
        day = start + timedelta(days=n)
        row = rows.get(day)
        if row is not None:
            open_now = int(row.open_end)
        week = [rows.get(day - timedelta(days=k)) for k in range(THROUGHPUT_WINDOW)]
        day_cycles = [int(s) for s in row.cycle_seconds] if row is not None else []
        cycles.extend(day_cycles)
        created = int(row.created) if row is not None else 0
        completed = int(row.completed) if row is not None else 0
        spend = int(row.spend_cents) if row is not None else 0
        created_total, completed_total = created_total + created, completed_total + completed
        spend_total += spend
        days.append(
            {
                "day": day.isoformat(),
                "created": created,
                "completed": completed,
                "open": open_now,
                "throughput_7d": sum(int(r.completed) for r in week if r is not None),
                "median_cycle_seconds": _median(day_cycles),
                "spend_cents": spend,
            }
        )
    return {
        "project_id": project_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "timezone": "UTC",
        "days": days,
        "totals": {
            "created": created_total,
            "completed": completed_total,
            "spend_cents": spend_total,
            "median_cycle_seconds": _median(cycles),
        },
        "as_of_position": min((await read_checkpoints(connection, READS)).values()),
    }
