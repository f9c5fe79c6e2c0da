"""Wire types every context shares: ids, a user reference, the time-travel parameters, and the
shapes of an aggregate's history and past state (GET .../history and .../state)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from app.kernel.web import QueryParams, Wire

Uuid = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]


class UserRef(Wire):
    user_id: str | None
    name: str | None


class AsOfParams(QueryParams):
    as_of_version: int | None = Field(default=None, ge=1, le=2**31)
    as_of: datetime | None = Field(default=None, description="RFC 3339 time with a timezone")


class HistoryEvent(Wire):
    position: int
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    actor_id: str | None
    recorded_at: str


class HistoryOut(Wire):
    model_config = Wire.model_config | {"extra": "allow"}
    version: int
    events: list[HistoryEvent]


class StateOut(Wire):
    model_config = Wire.model_config | {"extra": "allow"}
    version: int
    state: dict[str, Any]
