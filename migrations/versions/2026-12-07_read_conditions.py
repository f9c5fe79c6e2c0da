"""Read conditions: a command's condition on a stream it read moves nothing for later commands.

Revision ID: 0013_read_conditions
Revises: 0012_batch_append_fast
Create Date: 2026-12-07

A unit of work may declare a stream it read but does not write as a condition of its commit
(`EventStore.expect`: assigning a task rests on the project's members). The group commit sends
it as an append of no events, which `collabspace_append_batch` (migration 0008) already checks
like any append: one primary-key probe of the stream's head against the expected version, no
event inserted, no position taken. But the batch then marked the stream as taken, so a later
command of the same batch that reads or writes that stream failed as stale (a retry for
nothing: every assignment in one project, batched together, but the first). Here only an append
with events takes its stream. Everything else, the plan-cache setting of 0012 included, stays.
"""

from __future__ import annotations

import importlib.util
import pathlib

from alembic import op

revision = "0013_read_conditions"
down_revision = "0012_batch_append_fast"
branch_labels = None
depends_on = None

BATCH_FUNCTION = (
    "collabspace_append_batch("
    "uuid[], uuid[], uuid[], text[], text[], int[], text[], timestamptz[],"
    " int[], text[], int[], int[],"
    " int[], int[], text[], text[], int2[], text[], text[], timestamptz[])"
)

_TAKES_ALWAYS = """
                total := total + p_counts[a];
                taken_streams[stream_nos[a]] := true;
"""
_TAKES_WHEN_WRITTEN = """
                total := total + p_counts[a];
                -- A condition (no events) moves nothing: later commands may still rely on it.
                IF p_counts[a] > 0 THEN
                    taken_streams[stream_nos[a]] := true;
                END IF;
"""


def _group_commit_function() -> str:
    """Migration 0008's definition (a frozen file), as CREATE OR REPLACE: grants stay."""
    path = pathlib.Path(__file__).with_name("2026-12-07_group_commit.py")
    spec = importlib.util.spec_from_file_location("_group_commit_0008", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = str(module.BATCH_FUNCTION)
    assert text.count("CREATE FUNCTION") == 1 and text.count(_TAKES_ALWAYS) == 1
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


def _replace(definition: str) -> None:
    op.execute(definition)
    # CREATE OR REPLACE drops the function's SET clauses: 0012's setting again.
    op.execute(f"ALTER FUNCTION {BATCH_FUNCTION} SET plan_cache_mode = force_generic_plan")


def upgrade() -> None:
    _replace(_group_commit_function().replace(_TAKES_ALWAYS, _TAKES_WHEN_WRITTEN))


def downgrade() -> None:
    _replace(_group_commit_function())
