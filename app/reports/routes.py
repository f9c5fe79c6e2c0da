"""HTTP endpoints of the reports context: CSV files, streamed."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from app.kernel.web import Api, Call, Reply, StreamReply, path_id
from app.reports import views
from app.reports.columns import PROJECT_COLUMNS, TASK_COLUMNS, Column

api = Api("reports")


def _columns(columns: tuple[Column, ...]) -> str:
    return ", ".join(f"`{name}`" for name, _ in columns)


async def _stream(report: AsyncGenerator[bytes | int, None], filename: str) -> Reply:
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
    media_type="text/csv",
    errors=(401,),
)
async def projects_csv(call: Call[None, None]) -> Reply:
    report = views.projects_report(call.services.engine, call.actor)
    return await _stream(report, "projects.csv")


@api.route(
    "GET",
    "/projects/{project_id}/reports/tasks.csv",
    summary="A project's open tasks as CSV",
    description=(
        f"Columns, in this order: {_columns(TASK_COLUMNS)}. Oldest task first, the tasks of"
        " the board (archived tasks are not in it); readable by whoever may read the project."
        " RFC 4180 CSV (CRLF, quoted where needed), UTF-8, streamed."
    ),
    media_type="text/csv",
    errors=(401, 404),
)
async def tasks_csv(call: Call[None, None]) -> Reply:
    report = views.tasks_report(call.services.engine, call.actor, path_id(call, "project_id"))
    return await _stream(report, "tasks.csv")
