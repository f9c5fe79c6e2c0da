"""The CSV reports over HTTP, as the app role: columns, quoting, access, and what they hold."""

from __future__ import annotations

import csv
import io

import httpx

from app.reports.columns import PROJECT_COLUMNS, TASK_COLUMNS
from tests.integration.api_helpers import assert_problem
from tests.search.helpers import World
from tests.support import invite, sign_up

PROJECT_HEADER = [
    "project_id",
    "name",
    "status",
    "task_total",
    "task_done",
    "completion_pct",
    "budget_cents",
    "spend_cents",
    "created_at",
    "updated_at",
]
TASK_HEADER = [
    "task_id",
    "project_id",
    "title",
    "status",
    "assignee_id",
    "assignee_name",
    "description",
    "version",
    "updated_at",
]
AWKWARD = 'Q3, "big" launch\nline two; ünïcødé ✓ =1+1'


def rows_of(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment;")
    text = response.content.decode()
    assert text.endswith("\r\n")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_column_order_is_the_documented_one() -> None:
    # Appending a column is allowed; reordering or renaming breaks every reader by position.
    assert [name for name, _ in PROJECT_COLUMNS] == PROJECT_HEADER
    assert [name for name, _ in TASK_COLUMNS] == TASK_HEADER


async def test_the_projects_report_holds_what_the_list_shows_with_budget_and_spend(
    client: httpx.AsyncClient,
) -> None:
    w = World(client)
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    awkward = await w.project(owner, AWKWARD[:60].replace("\n", " "))
    await w.write("PATCH", f"/projects/{awkward}", owner, {"name": 'Q3, "big" launch'})
    other = await w.project(owner, "Plain")
    tasks = [await w.task(owner, awkward, f"t{i}") for i in range(3)]
    await w.write("POST", f"/tasks/{tasks[0]}/move", owner, {"status": "done"})
    await w.write("POST", f"/projects/{awkward}/spend", owner, {"amount_cents": 250})
    await w.write("POST", f"/projects/{awkward}/members", owner, {"user_id": mia["user_id"]})
    response = await w.get("/reports/projects.csv", owner)
    assert response.content.decode().split("\r\n", 1)[0] == ",".join(PROJECT_HEADER)
    assert int(response.headers["x-as-of-position"]) >= w.position
    rows = rows_of(response)
    listed = (await w.get("/projects", owner)).json()["items"]
    assert [r["project_id"] for r in rows] == [p["project_id"] for p in listed] == [other, awkward]
    for row, item in zip(rows, listed, strict=True):
        for key in ("name", "status", "task_total", "task_done", "completion_pct"):
            assert row[key] == str(item[key]), key
        assert row["created_at"] == item["created_at"]
    by_id = {r["project_id"]: r for r in rows}
    assert by_id[awkward]["name"] == 'Q3, "big" launch'
    assert (by_id[awkward]["task_total"], by_id[awkward]["task_done"]) == ("3", "1")
    assert by_id[awkward]["completion_pct"] == "33"
    assert (by_id[awkward]["budget_cents"], by_id[awkward]["spend_cents"]) == ("1000", "250")
    # A member reports the projects they are in, and nothing else.
    assert [r["project_id"] for r in rows_of(await w.get("/reports/projects.csv", mia))] == [
        awkward
    ]
    assert_problem(await client.get("/reports/projects.csv"), 401)


async def test_the_tasks_report_quotes_any_text_and_follows_project_access(
    client: httpx.AsyncClient,
) -> None:
    w = World(client)
    owner = await sign_up(client)
    mia = await invite(client, owner, "Mia")
    pid = await w.project(owner, "Reports")
    first = await w.task(owner, pid, 'Say "hi", then leave', AWKWARD)
    second = await w.task(owner, pid, "Plain")
    gone = await w.task(owner, pid, "Archived")
    await w.write("POST", f"/tasks/{gone}/archive", owner)
    await w.write("POST", f"/projects/{pid}/members", owner, {"user_id": mia["user_id"]})
    await w.write("PUT", f"/tasks/{second}/assignee", owner, {"assignee_id": mia["user_id"]})
    path = f"/projects/{pid}/reports/tasks.csv"
    raw = (await w.get(path, owner)).content.decode()
    assert raw.split("\r\n", 1)[0] == ",".join(TASK_HEADER)
    rows = rows_of(await w.get(path, mia))
    assert [r["task_id"] for r in rows] == [first, second]
    assert rows[0]["title"] == 'Say "hi", then leave' and rows[0]["description"] == AWKWARD
    assert (rows[0]["assignee_id"], rows[0]["assignee_name"]) == ("", "")
    assert (rows[1]["assignee_id"], rows[1]["assignee_name"]) == (mia["user_id"], "Mia")
    assert rows[0]["project_id"] == pid and rows[0]["status"] == "todo"
    await w.write("DELETE", f"/projects/{pid}/members/{mia['user_id']}", owner)
    assert_problem(await w.get(path, mia), 404)
    stranger = await sign_up(client, tenant="Other")
    assert_problem(await w.get(path, stranger), 404)
    assert_problem(await w.get("/projects/not-a-uuid/reports/tasks.csv", owner), 404)
    empty = await w.project(owner, "Empty")
    empty_rows = await w.get(f"/projects/{empty}/reports/tasks.csv", owner)
    assert empty_rows.content.decode() == ",".join(TASK_HEADER) + "\r\n"
