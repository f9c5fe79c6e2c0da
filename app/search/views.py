"""The search query: one GIN-indexed, ranked read of the search read model, cursor paged."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.kernel.domain import Actor, InvalidInputError
from app.readside.projector import read_checkpoints
from app.search.query import After, BadCursorError, decode_cursor, terms, to_tsquery_text
from app.search.tables import CONFIG

SEARCH_READS = ("search",)
MAX_LIMIT = 50

# Ranked best first; ties (equal rank) in a stable order, so a page boundary never repeats or
# skips a hit. The rank is computed once per matching row (the ORDER BY and the cursor's
# comparison name the same expression); only the rows the GIN index finds are ranked.
_SELECT = f"""
SELECT e.kind, e.ref_id, e.project_id, e.project_name, e.title, e.status,
       ts_rank(e.tsv, query) AS rank
  FROM search_entry AS e, to_tsquery('{CONFIG}', CAST(:query AS text)) AS query
 WHERE e.tenant_id = :tenant AND e.tsv @@ query
"""
# A member finds what is in their projects; owners and admins read every project (as the
# project list does, app/projects/access.py). Removal from a project deletes the row here.
_MEMBER = """
   AND e.project_id IN (SELECT m.project_id FROM search_member AS m
                         WHERE m.tenant_id = :tenant AND m.user_id = :user)
"""
_AFTER = """
   AND (ts_rank(e.tsv, query) < CAST(:rank AS real)
        OR (ts_rank(e.tsv, query) = CAST(:rank AS real) AND (e.kind, e.ref_id) > (:kind, :ref)))
"""
_ORDER = " ORDER BY rank DESC, e.kind, e.ref_id LIMIT :fetch"


def _statement(actor: Actor, after: After | None) -> sa.TextClause:
    sql = _SELECT + ("" if actor.is_admin else _MEMBER) + ("" if after is None else _AFTER)
    return sa.text(sql + _ORDER)


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
        "tenant": actor.tenant_id,
        "user": actor.user_id,
        "fetch": limit + 1,
    }
    if after is not None:
        params |= {"rank": after.rank, "kind": after.kind, "ref": after.ref_id}
    rows = list(await connection.execute(_statement(actor, after), params))
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
