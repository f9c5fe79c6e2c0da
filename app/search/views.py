"""The search query: one GIN-indexed, ranked read of the search read model, cursor paged."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.kernel.domain import Actor, InvalidInputError
from app.readside.projector import read_checkpoints
from app.search.query import After, BadCursorError, decode_cursor, terms, to_tsquery_text

SEARCH_READS = ("search",)
MAX_LIMIT = 50

# One call of `collabspace_search` (migration 0009): under row-level security PostgreSQL may
# not use the GIN index for `tsv @@ query` (the operator is not LEAKPROOF) and would read every
# row; the function applies the tenant policy's condition itself, from the transaction's tenant.
# Ranked best first; ties (equal rank) in a stable order, so a page boundary never repeats or
# skips a hit. A member finds what is in their projects; owners and admins read every project
# (as the project list does, app/projects/access.py); a removal deletes the membership row.
_SEARCH = sa.text(
    "SELECT hit_kind AS kind, hit_ref AS ref_id, hit_project AS project_id,"
    " hit_project_name AS project_name, hit_title AS title, hit_status AS status,"
    " hit_rank AS rank"
    " FROM collabspace_search(:query, :user, :admin, :fetch,"
    " CAST(:rank AS real), :kind, :ref)"
)


def _cursor(cursor: str | None) -> After | None:
    if not cursor:
        return None
    try:
        return decode_cursor(cursor)
    except BadCursorError:
        raise InvalidInputError("cursor must be a value from next_cursor", field="cursor") from None


def _hit(row: Any) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "id": row.ref_id,
        "project_id": row.project_id,
        "project_name": row.project_name,
        "title": row.title,
        "status": row.status,
        "rank": float(row.rank),
    }


async def search(
    connection: AsyncConnection,
    actor: Actor,
    text: str,
    *,
    limit: int = 20,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The projects and open tasks the actor may read that match `text`, best first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    after = _cursor(cursor)
    words = terms(text)
    as_of = min((await read_checkpoints(connection, SEARCH_READS)).values())
    if not words:
        return {"items": [], "next_cursor": None, "terms": [], "as_of_position": as_of}
    params: dict[str, Any] = {
        "query": to_tsquery_text(words),
        "user": actor.user_id,
        "admin": actor.is_admin,
        "fetch": limit + 1,
        "rank": None if after is None else after.rank,
        "kind": None if after is None else after.kind,
        "ref": None if after is None else after.ref_id,
    }
    rows = list(await connection.execute(_SEARCH, params))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = After(float(last.rank), last.kind, last.ref_id).encode()
    return {
        "items": [_hit(row) for row in rows],
        "next_cursor": next_cursor,
        "terms": words,
        "as_of_position": as_of,
    }
