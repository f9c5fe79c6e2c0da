"""The CSV downloads on the board page, in headless Chromium against the real server."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import Server
from tests.e2e.people import api, open_page, sign_up


def test_the_project_list_and_a_board_download_their_csv_reports(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    owner = sign_up(server, "exporter")
    pid = api(server, "POST", "/projects", owner.token, json={"name": 'Export, "quoted"'})["id"]
    last: dict[str, Any] = {}
    for title in ("First, task", "Second"):
        last = api(server, "POST", f"/projects/{pid}/tasks", owner.token, json={"title": title})
    api(server, "GET", f"/projects?min_position={last['position']}", owner.token)

    page = open_page(browser, server, owner)
    with page.expect_download() as listed:
        page.click("#projects-csv")
    saved = tmp_path / "projects.csv"
    listed.value.save_as(saved)
    (row,) = csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"), newline=""))
    assert (row["project_id"], row["name"], row["task_total"]) == (pid, 'Export, "quoted"', "2")

    page.goto(f"{server.url}/#/projects/{pid}")
    expect(page.locator("#board-name")).to_have_text('Export, "quoted"')
    with page.expect_download() as tasks:
        page.click("#tasks-csv")
    saved = tmp_path / "tasks.csv"
    tasks.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"), newline="")))
    assert [r["title"] for r in rows] == ["First, task", "Second"]
    expect(page.locator("#flash")).to_be_hidden()
