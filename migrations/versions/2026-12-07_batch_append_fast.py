"""The batch append keeps its generic plans: no re-planning per call at small batches.

Revision ID: 0012_batch_append_fast
Revises: 0011_search_fast
Create Date: 2026-12-07

`collabspace_append_batch` (migration 0008) runs nine statements whose parameters are the
batch's arrays. PostgreSQL's plan cache plans such a statement afresh for each of its first
five calls in a session and then keeps a generic plan only if that plan's estimated cost is not
much above the custom plans' average; with the group commit's batch sizes changing call by
call, some of the statements kept being planned per call. Measured as the writer's backend CPU
per call (benchmarks/append_function.py, one command per call, synchronous_commit off): 440-470
µs with the default, 250-257 µs with generic plans; 16 commands per call: no difference. The
generic plans are the ones the migration's comments describe (a primary-key probe per stream
and per key, hash joins of the batch's arrays); their row estimates do not change them.
The setting is the function's own (SET clause), so nothing else in the session changes.
"""

from __future__ import annotations

from alembic import op

revision = "0012_batch_append_fast"
down_revision = "0011_search_fast"
branch_labels = None
depends_on = None

BATCH_FUNCTION = (
    "collabspace_append_batch("
    "uuid[], uuid[], uuid[], text[], text[], int[], text[], timestamptz[],"
    " int[], text[], int[], int[],"
    " int[], int[], text[], text[], int2[], text[], text[], timestamptz[])"
)


def upgrade() -> None:
    op.execute(f"ALTER FUNCTION {BATCH_FUNCTION} SET plan_cache_mode = force_generic_plan")


def downgrade() -> None:
    op.execute(f"ALTER FUNCTION {BATCH_FUNCTION} RESET plan_cache_mode")
