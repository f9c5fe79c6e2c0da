"""HTTP endpoints of the reports context: CSV files, streamed."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from app.kernel.web import (
    Api,
    Call,
    ReadParams,
    Reply,
    StreamReply,
    path_id,
    wait_for_min_position,
)
from app.reports import views
from app.reports.columns import PROJECT_COLUMNS, TASK_COLUMNS, Column

api = Api("reports")


def _columns(columns: tuple[Column, ...]) -> str:
    return ", ".join(f"`{name}`" for name, _ in columns)


async def _stream(
    call: Call[None, ReadParams], report: AsyncGenerator[bytes | int, None], filename: str
) -> Reply:
    # Run the report up to its first item before answering: a refused access check is then
    # a 404 problem, not a broken download, and the snapshot's position goes in a header.
    position = await anext(report)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in report:
                assert isinstance(chunk, bytes)
                yield chunk
        finally:
            # A client that goes away mid-download: the snapshot's connection goes back now.
            await report.aclose()

    headers = {
        "X-As-Of-Position": str(position),
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    wanted = call.query.min_position
    if wanted is not None and int(position) < wanted:
        headers["X-Read-Lag"] = str(wanted - int(position))
    return StreamReply(body(), headers=headers)


@api.route(
    "GET",
    "/reports/projects.csv",
    summary="The projects you may read as CSV, with task totals, completion, budget and spend",
    description=(
        f"Columns, in this order: {_columns(PROJECT_COLUMNS)}. Newest project first, the"
        " same projects as GET /projects (members: their projects; owners and admins: all)."
        " RFC 4180 CSV (CRLF, quoted where needed), UTF-8, streamed; money in integer cents."
        " X-As-Of-Position names the position the rows reflect."
    ),
    query=ReadParams,
    media_type="text/csv",
    errors=(401, 422),
)
async def projects_csv(call: Call[None, ReadParams]) -> Reply:
    await wait_for_min_position(call)
    report = views.projects_report(call.services.engine, call.actor)
    return await _stream(call, report, "projects.csv")


@api.route(
    "GET",
    "/projects/{project_id}/reports/tasks.csv",
    summary="A project's open tasks as CSV",
    description=(
        f"Columns, in this order: {_columns(TASK_COLUMNS)}. Oldest task first, the tasks of"
        " the board (archived tasks are not in it); readable by whoever may read the project."
        " RFC 4180 CSV (CRLF, quoted where needed), UTF-8, streamed."
    ),
    query=ReadParams,
    media_type="text/csv",
    errors=(401, 404, 422),
)
async def tasks_csv(call: Call[None, ReadParams]) -> Reply:
    project_id = path_id(call, "project_id")
    await wait_for_min_position(call)
    report = views.tasks_report(call.services.engine, call.actor, project_id)
    return await _stream(call, report, "tasks.csv")
