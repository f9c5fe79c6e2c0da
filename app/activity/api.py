"""What other contexts may ask the activity context: a project's feed and newest entries, and
how an entry reads (the projects projection renders its dashboard document with it)."""

from __future__ import annotations

from app.activity.schemas import ActivityItem
from app.activity.tables import activity_entry
from app.activity.texts import actor_of, describe, iso, item_of
from app.activity.views import project_activity, recent

__all__ = [
    "ActivityItem",
    "activity_entry",
    "actor_of",
    "describe",
    "item_of",
    "iso",
    "project_activity",
    "recent",
]
