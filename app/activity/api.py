"""What other contexts may ask the activity context: a project's feed and newest entries."""

from __future__ import annotations

from app.activity.tables import activity_entry
from app.activity.views import item_of, project_activity, recent

__all__ = ["activity_entry", "item_of", "project_activity", "recent"]
