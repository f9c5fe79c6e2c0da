"""Wire models of the analytics context."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from app.kernel.web import ReadParams, Wire


class AnalyticsParams(ReadParams):
    # `from` is a Python keyword: the field is `start`, the query parameter `from`.
    start: date | None = Field(
        default=None, alias="from", description="First UTC day (YYYY-MM-DD); default 29 days ago"
    )
    end: date | None = Field(
        default=None, alias="to", description="Last UTC day (YYYY-MM-DD), inclusive; default today"
    )


class AnalyticsDay(Wire):
    day: str = Field(description="A UTC date")
    created: int = Field(description="Tasks created that day")
    completed: int = Field(description="Tasks moved to done that day")
    open: int = Field(description="Tasks neither done nor archived at the end of the day")
    throughput_7d: int = Field(description="Tasks completed in the 7 days ending that day")
    median_cycle_seconds: float | None = Field(
        description="Median time from creation (todo) to done of that day's completions"
    )
    spend_cents: int = Field(description="Spend recorded that day")


class AnalyticsTotals(Wire):
    created: int
    completed: int
    spend_cents: int
    median_cycle_seconds: float | None


class AnalyticsOut(Wire):
    project_id: str
    from_: str = Field(alias="from")
    to: str
    timezone: str = Field(description="Always UTC: days are UTC dates of the events' commit time")
    days: list[AnalyticsDay]
    totals: AnalyticsTotals
    as_of_position: int
