"""Wire models of the analytics context."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from app.kernel.web import ReadParams, Wire

# Bounds of a day the API takes: a range's arithmetic (the week before `from`, 30 days
# before `to`) must stay within Python's dates, and there are no events before 1970.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9999, 12, 1)


class AnalyticsParams(ReadParams):
    # `from` is a Python keyword: the field is `start`, the query parameter `from`.
    start: date | None = Field(
        default=None,
        alias="from",
        ge=FIRST_DAY,
        le=LAST_DAY,
        description="First UTC day (YYYY-MM-DD); default 29 days before `to`",
    )
    end: date | None = Field(
        default=None,
        alias="to",
        ge=FIRST_DAY,
        le=LAST_DAY,
        description="Last UTC day (YYYY-MM-DD), inclusive; default today",
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
