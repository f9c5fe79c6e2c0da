"""What other contexts may ask the tasks context: the board's table, for reports."""

from __future__ import annotations

from app.tasks.tables import task_card

__all__ = ["task_card"]
