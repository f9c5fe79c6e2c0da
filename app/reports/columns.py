"""The columns of each report, in their documented order (docs/read-side.md, "Reports").

The order is part of the contract: a spreadsheet or a script reads columns by position, so a
new column is only ever appended, never inserted or renamed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

Column = tuple[str, Callable[[Any], object]]


def _iso(value: datetime) -> str:
    return value.isoformat()


def _completion(row: Any) -> int:
    # The project list's rule (projects.projections.completion, which this context may not
    # import): whole percent done, 0 without tasks. tests/integration/test_reports.py holds
    # the two to the same numbers.
    total, done = row["task_total"], row["task_done"]
    return round(100 * done / total) if total else 0


PROJECT_COLUMNS: tuple[Column, ...] = (
    ("project_id", lambda r: r["project_id"]),
    ("name", lambda r: r["name"]),
    ("status", lambda r: r["status"]),
    ("task_total", lambda r: r["task_total"]),
    ("task_done", lambda r: r["task_done"]),
    ("completion_pct", _completion),
    ("budget_cents", lambda r: r["budget_cents"]),
    ("spend_cents", lambda r: r["spend_cents"]),
    ("created_at", lambda r: _iso(r["created_at"])),
    ("updated_at", lambda r: _iso(r["updated_at"])),
)

TASK_COLUMNS: tuple[Column, ...] = (
    ("task_id", lambda r: r["task_id"]),
    ("project_id", lambda r: r["project_id"]),
    ("title", lambda r: r["title"]),
    ("status", lambda r: r["status"]),
    ("assignee_id", lambda r: r["assignee_id"] or ""),
    ("assignee_name", lambda r: r["assignee_name"] or ""),
    ("description", lambda r: r["description"]),
    ("version", lambda r: r["version"]),
    ("updated_at", lambda r: _iso(r["updated_at"])),
)
