"""How an activity entry reads: the sentence for each event type and the item the API shows.

Pure functions of an entry (its copied names and historical detail), shared by the activity
feeds (rendered at read time) and the projects projection's dashboard document (rendered when
the projection writes it). No database here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.eventstore.port import StoredEvent


def actor_of(event: Any, record: StoredEvent) -> str | None:
    """Who sent the command; older or system events fall back to who the data names."""
    actor = record.metadata.get("actor_id")
    if actor:
        return str(actor)
    for field in ("created_by", "invited_by"):
        value = getattr(event, field, None)
        if value:
            return str(value)
    return None


def iso(value: datetime | str) -> str:
    """A timestamp as the API shows it (naive ones are UTC)."""
    if isinstance(value, str):
        return value
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def _money(cents: Any) -> str:
    return f"{int(cents) / 100:,.2f}"


def _due(e: dict[str, Any]) -> str:
    due = e["detail"].get("due_at")
    if not due:
        return f'{e["actor_name"]} cleared the due date of "{e["task_title"]}"'
    when = datetime.fromisoformat(due).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f'{e["actor_name"]} set the due date of "{e["task_title"]}" to {when}'


# The sentence for each entry type, from the entry's current names and its historical detail.
TEXTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "UserRegistered": lambda e: (
        f"{e['user_name']} created the workspace"
        if e["actor_id"] == e["user_id"] or e["actor_id"] is None
        else f"{e['actor_name']} invited {e['user_name']} as {e['detail'].get('role')}"
    ),
    "UserRenamed": lambda e: (
        f"{e['actor_name']} renamed {e['detail'].get('old_name')} to {e['detail'].get('new_name')}"
    ),
    "UserRoleChanged": lambda e: (
        f"{e['actor_name']} made {e['user_name']} {e['detail'].get('role')}"
    ),
    "UserDeactivated": lambda e: f"{e['actor_name']} deactivated {e['user_name']}",
    "ProjectCreated": lambda e: f"{e['actor_name']} created the project {e['project_name']}",
    "ProjectRenamed": lambda e: (
        f"{e['actor_name']} renamed the project {e['detail'].get('old_name')} "
        f"to {e['detail'].get('new_name')}"
    ),
    "ProjectDescribed": lambda e: (
        f"{e['actor_name']} updated the description of {e['project_name']}"
    ),
    "ProjectStatusChanged": lambda e: (
        f"{e['actor_name']} moved {e['project_name']} from {e['detail'].get('from')} "
        f"to {e['detail'].get('to')}"
    ),
    "ProjectBudgetChanged": lambda e: (
        f"{e['actor_name']} set the budget of {e['project_name']} to "
        f"{_money(e['detail'].get('budget_cents', 0))}"
    ),
    "ProjectSpendRecorded": lambda e: (
        f"{e['actor_name']} recorded {_money(e['detail'].get('amount_cents', 0))} "
        f"spent on {e['project_name']}"
        + (f" ({e['detail']['note']})" if e["detail"].get("note") else "")
    ),
    "ProjectMemberAdded": lambda e: (
        f"{e['actor_name']} added {e['user_name']} to {e['project_name']}"
    ),
    "ProjectMemberRemoved": lambda e: (
        f"{e['actor_name']} removed {e['user_name']} from {e['project_name']}"
    ),
    "ProjectMemberRoleChanged": lambda e: (
        f"{e['actor_name']} made {e['user_name']} a {e['detail'].get('role')}"
        f" of {e['project_name']}"
    ),
    "TenantPlanChanged": lambda e: (
        f"{e['actor_name']} changed the plan from {e['detail'].get('from')}"
        f" to {e['detail'].get('to')}"
    ),
    "TaskCreated": lambda e: (
        f'{e["actor_name"]} created the task "{e["task_title"]}" in {e["project_name"]}'
    ),
    "TaskEdited": lambda e: f'{e["actor_name"]} edited the task "{e["task_title"]}"',
    "TaskAssigned": lambda e: f'{e["actor_name"]} assigned "{e["task_title"]}" to {e["user_name"]}',
    "TaskUnassigned": lambda e: (
        f'{e["actor_name"]} unassigned {e["user_name"] or "someone"} from "{e["task_title"]}"'
    ),
    "TaskMoved": lambda e: (
        f'{e["actor_name"]} moved "{e["task_title"]}" from {e["detail"].get("from")} '
        f"to {e['detail'].get('to')}"
    ),
    "TaskArchived": lambda e: f'{e["actor_name"]} archived the task "{e["task_title"]}"',
    "TaskDueDateChanged": _due,
    "TaskCommentAdded": lambda e: f'{e["actor_name"]} commented on "{e["task_title"]}"',
    "TaskCommentEdited": lambda e: f'{e["actor_name"]} edited a comment on "{e["task_title"]}"',
    "TaskCommentDeleted": lambda e: f'{e["actor_name"]} deleted a comment on "{e["task_title"]}"',
}


def describe(entry: dict[str, Any]) -> str:
    text = TEXTS.get(entry["type"])
    return text(entry) if text is not None else f"{entry['actor_name']}: {entry['type']}"


def item_of(entry: dict[str, Any]) -> dict[str, Any]:
    """An activity entry (column -> value; occurred_at a datetime or its ISO text) as the API
    shows it."""
    return {
        "position": entry["position"],
        "type": entry["type"],
        "occurred_at": iso(entry["occurred_at"]),
        "project_id": entry["project_id"],
        "actor": {"user_id": entry["actor_id"], "name": entry["actor_name"]},
        "text": describe(entry),
    }
