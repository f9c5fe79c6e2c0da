"""HTTP endpoints of the activity context: the tenant-wide feed."""

from __future__ import annotations

from app.activity import views
from app.kernel.db import tenant_connection
from app.kernel.web import Api, Call, Reply, read_model_reply, wait_for_position
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
    await wait_for_position(call)
    async with tenant_connection(call.services.engine, call.actor.tenant_id) as connection:
        body = await views.tenant_activity(
            connection, call.actor, before=call.query.before, limit=call.query.limit
        )
    return await read_model_reply(call, body)
