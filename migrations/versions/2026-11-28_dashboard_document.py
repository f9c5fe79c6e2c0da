"""The dashboard document: the projects projection keeps each project's dashboard ready to read.

Revision ID: 0005_dashboard_document
Revises: 0004_row_level_security
Create Date: 2026-11-29

`project_summary` gains `recent` (the newest 20 activity entries of the project, with the ids
and copied names they mention) and `dashboard` (the dashboard JSON as the API answers it, minus
`as_of_position`), and `project_task` gains `title` (for the entries' sentences). The upgrade
fills `title` and `recent` from the activity read model, so the projection continues correctly
from where it is; `dashboard` stays NULL until the projection next writes the row (or
`collabspace projections rebuild projects` rewrites them all), and a NULL document is composed
per request as before. On PostgreSQL, `collabspace_dashboard_document` reads it as the app
role: one primary-key lookup under row-level security, closed with the `projects` checkpoint.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_dashboard_document"
down_revision = "0004_row_level_security"
branch_labels = None
depends_on = None

Json = postgresql.JSONB()
APP_ROLE = "collabspace_app"
RECENT = 20
ENTRY = ("actor_id", "actor_name", "task_id", "task_title", "user_id", "user_name")

# The read: set the tenant for this one-statement transaction (row-level security applies, the
# function runs as the caller), then one primary-key lookup with the access check. It answers
# "<projects checkpoint> <document>"; NULL: not found or not readable; '': no document yet.
# A scalar text result, no SET clause, no OUT parameters and no character-counting string
# functions on the document: each of those cost more than the lookup itself (docs/read-side.md).
DASHBOARD_FUNCTION = """
CREATE FUNCTION collabspace_dashboard_document(
    p_tenant text, p_project text, p_user text, p_admin boolean
) RETURNS text
LANGUAGE plpgsql SECURITY INVOKER
AS $$
DECLARE
    body text;
BEGIN
    PERFORM pg_catalog.set_config('app.tenant_id', p_tenant, true);
    SELECT coalesce(c.position || ' ' || s.dashboard, '') INTO body
      FROM public.project_summary s, public.projection_checkpoint c
     WHERE s.tenant_id = p_tenant AND s.project_id = p_project AND c.name = 'projects'
       AND (p_admin OR EXISTS (SELECT FROM public.project_member m
                               WHERE m.project_id = p_project AND m.user_id = p_user));
    RETURN body;
END
$$
"""


def upgrade() -> None:
    op.add_column("project_summary", sa.Column("recent", Json, nullable=False, server_default="[]"))
    op.add_column("project_summary", sa.Column("dashboard", sa.Text(), nullable=True))
    op.add_column(
        "project_task",
        sa.Column("title", sa.String(300), nullable=False, server_default=""),
    )
    op.execute(
        "UPDATE project_task SET title = coalesce((SELECT l.name FROM activity_lookup l"
        " WHERE l.kind = 'task' AND l.ref_id = project_task.task_id), '')"
    )
    _fill_recent()
    # lz4 decompresses the ~6 KB document in a third of pglz's time (a PostgreSQL built
    # without lz4 keeps pglz). A rebuild carries the setting to its shadow table.
    op.execute(
        """
        DO $$ BEGIN
            ALTER TABLE project_summary ALTER COLUMN dashboard SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
            RAISE NOTICE 'lz4 not available: the dashboard document stays pglz-compressed';
        END $$;
        """
    )
    op.execute(DASHBOARD_FUNCTION)
    op.execute(
        f"""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                GRANT EXECUTE ON FUNCTION
                    collabspace_dashboard_document(text, text, text, boolean) TO {APP_ROLE};
            END IF;
        END $$;
        """
    )


def _fill_recent() -> None:
    """Each project's newest entries, from the activity read model (the projection's shape)."""
    entries = sa.table(
        "activity_entry",
        sa.column("position", sa.BigInteger),
        sa.column("project_id", sa.String),
        sa.column("type", sa.String),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("detail", Json),
        *(sa.column(c, sa.String) for c in ENTRY),
    )
    rank = (
        sa.func.row_number()
        .over(partition_by=entries.c.project_id, order_by=entries.c.position.desc())
        .label("rank")
    )
    ranked = sa.select(entries, rank).where(entries.c.project_id.is_not(None)).subquery("ranked")
    rows = op.get_bind().execute(
        sa.select(ranked).where(ranked.c.rank <= RECENT).order_by(ranked.c.position.desc())
    )
    # An entry's task_title is the title when it was written; feeds show the current one.
    titles = dict(
        op.get_bind()
        .execute(sa.text("SELECT ref_id, name FROM activity_lookup WHERE kind = 'task'"))
        .all()
    )
    recent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows.mappings():
        detail = row["detail"]
        entry = {
            "position": row["position"],
            "type": row["type"],
            "occurred_at": _iso(row["occurred_at"]),
            **{c: row[c] for c in ENTRY},
            "detail": orjson.loads(detail) if isinstance(detail, str) else detail,
        }
        entry["task_title"] = titles.get(row["task_id"], row["task_title"])
        recent[row["project_id"]].append(entry)
    summary = sa.table("project_summary", sa.column("project_id"), sa.column("recent", Json))
    if recent:
        op.get_bind().execute(
            summary.update()
            .where(summary.c.project_id == sa.bindparam("p"))
            .values(recent=sa.bindparam("r")),
            [{"p": project, "r": items} for project, items in recent.items()],
        )


def _iso(value: datetime) -> str:
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS collabspace_dashboard_document(text, text, text, boolean)")
    op.drop_column("project_task", "title")
    op.drop_column("project_summary", "dashboard")
    op.drop_column("project_summary", "recent")
