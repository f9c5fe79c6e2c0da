"""What other contexts may ask the activity context: a project's feed and newest entries."""

from __future__ import annotations

from app.activity.views import project_activity, recent

__all__ = ["project_activity", "recent"]
