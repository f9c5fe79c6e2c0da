"""HTTP endpoint of the search context."""

from __future__ import annotations

from app.kernel.web import Api, Call, Reply, read_reply, wait_for_min_position
from app.search import views
from app.search.schemas import SearchOut, SearchParams

api = Api("search")


@api.route(
    "GET",
    "/search",
    summary="Full-text search over the projects and tasks you may read",
    description=(
        "Ranked best first, cursor paged: first the hits with every word in their title"
        " (`in_title`), then the others, each by rank (title above description). Members find"
        " the projects they are in and those projects' open tasks; owners and admins find every"
        " project of the tenant. Archived tasks are not found. PostgreSQL full text, configuration"
        " 'simple': words are not stemmed, the last word matches as a prefix (from three"
        " letters; a shorter last word matches whole)."
    ),
    query=SearchParams,
    response=SearchOut,
    errors=(401, 422),
)
async def search(call: Call[None, SearchParams]) -> Reply:
    q = call.query
    request = views.parse(call.actor, q.q, limit=q.limit, cursor=q.cursor)
    await wait_for_min_position(call)
    # One statement on an autocommit connection (it scopes itself to the tenant): one round
    # trip instead of begin, set tenant, checkpoint, search and commit (docs/search-and-reports).
    async with call.services.pool.autocommit() as connection:
        body = await views.run(connection, request)
    return read_reply(call, body)
