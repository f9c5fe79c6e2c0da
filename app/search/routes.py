"""HTTP endpoint of the search context."""

from __future__ import annotations

from app.kernel.web import Api, Call, Reply, query_read_model
from app.search import views
from app.search.schemas import SearchOut, SearchParams

api = Api("search")


@api.route(
    "GET",
    "/search",
    summary="Full-text search over the projects and tasks you may read",
    description=(
        "Ranked best first (title above description), cursor paged. Members find the projects"
        " they are in and those projects' open tasks; owners and admins find every project of"
        " the tenant. Archived tasks are not found. PostgreSQL full text, configuration"
        " 'simple': words are not stemmed, the last word matches as a prefix."
    ),
    query=SearchParams,
    response=SearchOut,
    errors=(401, 422),
)
async def search(call: Call[None, SearchParams]) -> Reply:
    q = call.query
    return await query_read_model(
        call, views.search, call.actor, q.q, limit=q.limit, cursor=q.cursor
    )
