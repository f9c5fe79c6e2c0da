"""What other contexts may ask the activity context: a project's newest entries."""

from __future__ import annotations

from app.activity.views import recent

__all__ = ["recent"]
