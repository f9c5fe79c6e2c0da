"""The search query: one statement, one round trip, on a raw asyncpg connection; cursor paged."""

from __future__ import annotations

import dataclasses
from typing import Any

from app.kernel.domain import Actor, InvalidInputError
from app.search.query import After, BadCursorError, decode_cursor, terms, to_tsquery_text

MAX_LIMIT = 50

# One call of `collabspace_search` (migration 0011) in one statement on an autocommit
# connection, the way the dashboard is read (app/projects/views.py): the outer query sets the
# tenant for the statement's own transaction, and the function is called LATERAL on that
# result, so it runs after the setting (it reads the tenant from the transaction and answers
# nothing when it differs from the one it is handed). The `search` checkpoint comes from the
# same statement, hence the same snapshot as the rows (a STABLE function sees its caller's
# snapshot): `as_of_position` and the hits agree. Always at least one row; no hit: NULL hit.
#
# Why a function: under row-level security PostgreSQL may not use the GIN index for
# `tsv @@ query` (the operator is not LEAKPROOF) and would read every row; the function runs
# as the owner and applies the tenant policy's condition itself. Ranked best first within two
# tiers (every word in the title, then the rest); ties in a stable order, so a page boundary
# never repeats or skips a hit. A member finds what is in their projects; owners and admins
# read every project (as the project list does, app/projects/access.py).
SEARCH_SQL = """
SELECT coalesce(c.position, 0) AS as_of, s.*
  FROM (SELECT pg_catalog.set_config('app.tenant_id', $1::text, true) AS tenant) AS bound
  LEFT JOIN projection_checkpoint AS c ON c.name = 'search'
  LEFT JOIN LATERAL collabspace_search(bound.tenant, $2::text, $3::text, $4::boolean,
                                       $5::integer, $6::integer, $7::real, $8::text, $9::text)
       AS s ON true
"""
# A text without words finds nothing; the answer still says how far the model has read.
CHECKPOINT_SQL = (
    "SELECT coalesce((SELECT position FROM projection_checkpoint WHERE name = 'search'), 0)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class SearchRequest:
    """A search, parsed and checked before any connection is taken."""

    actor: Actor
    words: list[str]
    limit: int
    after: After | None


def parse(actor: Actor, text: str, *, limit: int = 20, cursor: str | None = None) -> SearchRequest:
    """The search `text` asks for; InvalidInputError for a bad limit or a foreign cursor."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    after = None
    if cursor:
        try:
            after = decode_cursor(cursor)
        except BadCursorError:
            raise InvalidInputError(
                "cursor must be a value from next_cursor", field="cursor"
            ) from None
    return SearchRequest(actor, terms(text), limit, after)


def _hit(row: Any) -> dict[str, Any]:
    return {
        "kind": row["hit_kind"],
        "id": row["hit_ref"],
        "project_id": row["hit_project"],
        "project_name": row["hit_project_name"],
        "title": row["hit_title"],
        "status": row["hit_status"],
        "in_title": row["hit_tier"] == 1,
        "rank": float(row["hit_rank"]),
    }


async def run(connection: Any, request: SearchRequest) -> dict[str, Any]:
    """The projects and open tasks the actor may read that match, best first, on a raw
    asyncpg connection outside any transaction (or in one scoped to the same tenant)."""
    if not request.words:
        as_of = await connection.fetchval(CHECKPOINT_SQL)
        return {"items": [], "next_cursor": None, "terms": [], "as_of_position": int(as_of)}
    actor, after = request.actor, request.after
    rows = await connection.fetch(
        SEARCH_SQL,
        actor.tenant_id,
        to_tsquery_text(request.words),
        actor.user_id,
        actor.is_admin,
        request.limit + 1,
        None if after is None else after.tier,
        None if after is None else after.rank,
        None if after is None else after.kind,
        None if after is None else after.ref_id,
    )
    as_of = int(rows[0]["as_of"])
    hits = [row for row in rows if row["hit_kind"] is not None]
    more = len(hits) > request.limit
    hits = hits[: request.limit]
    next_cursor = None
    if more:
        last = hits[-1]
        after = After(last["hit_tier"], float(last["hit_rank"]), last["hit_kind"], last["hit_ref"])
        next_cursor = after.encode()
    return {
        "items": [_hit(row) for row in hits],
        "next_cursor": next_cursor,
        "terms": request.words,
        "as_of_position": as_of,
    }


async def search(
    connection: Any,
    actor: Actor,
    text: str,
    *,
    limit: int = 20,
    cursor: str | None = None,
) -> dict[str, Any]:
    """`parse` then `run`: the projects and open tasks the actor may read matching `text`."""
    return await run(connection, parse(actor, text, limit=limit, cursor=cursor))
