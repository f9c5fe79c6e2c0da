"""HTTP endpoints of the activity context: the tenant-wide feed."""

from __future__ import annotations

from app.activity import views
from app.kernel.web import Api, Call, Reply, query_read_model
from app.projects.schemas import FeedOut, FeedParams

api = Api("activity")


@api.route(
    "GET",
    "/activity",
    summary="The tenant's activity the caller may see, newest first",
    query=FeedParams,
    response=FeedOut,
    errors=(401, 422),
)
async def tenant_activity(call: Call[None, FeedParams]) -> Reply:
    q = call.query
    return await query_read_model(
        call, views.tenant_activity, call.actor, before=q.before, limit=q.limit
    )
