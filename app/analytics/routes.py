"""HTTP endpoints of the analytics context."""

from __future__ import annotations

from datetime import timedelta

from app.analytics import views
from app.analytics.schemas import AnalyticsOut, AnalyticsParams
from app.kernel.web import Api, Call, Reply, path_id, query_read_model

api = Api("analytics")
DEFAULT_DAYS = 30


@api.route(
    "GET",
    "/projects/{project_id}/analytics",
    summary="A project's daily series (UTC days): created, completed, open, throughput, "
    "median cycle time and spend",
    query=AnalyticsParams,
    response=AnalyticsOut,
    errors=(401, 404, 422),
)
async def project_analytics(call: Call[None, AnalyticsParams]) -> Reply:
    project_id = path_id(call, "project_id")
    q = call.query
    end = q.end or call.services.clock().date()
    start = q.start or end - timedelta(days=DEFAULT_DAYS - 1)
    return await query_read_model(call, views.project_analytics, call.actor, project_id, start, end)
