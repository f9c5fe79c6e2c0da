"""HTTP endpoints of the activity context: the tenant-wide feed and a project's feed."""

from __future__ import annotations

from app.activity import views
from app.activity.schemas import FeedOut, FeedParams
from app.kernel.web import Api, Call, Reply, path_id, query_read_model

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


@api.route(
    "GET",
    "/projects/{project_id}/activity",
    summary="A project's activity, newest first",
    query=FeedParams,
    response=FeedOut,
    errors=(401, 404, 422),
)
async def project_activity(call: Call[None, FeedParams]) -> Reply:
    project_id = path_id(call, "project_id")
    q = call.query
    return await query_read_model(
        call, views.project_activity, call.actor, project_id, before=q.before, limit=q.limit
    )
