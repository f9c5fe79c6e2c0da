"""The bell and the analytics chart on the board, in headless Chromium against the real server
(embedded default: the inbox relay publishes to the embedded gateway)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import Server, require_realtime
from tests.e2e.people import api, invite, open_page, project_with_members, sign_up


def test_the_bell_counts_what_others_did_live_and_clears_when_read(
    browser: Browser, server: Server, shoot: Any
) -> None:
    require_realtime(server)
    owner = sign_up(server, "belle")
    ann = invite(server, owner, "ann")
    project = project_with_members(server, owner, "Bells", ann)
    page = open_page(browser, server, ann)
    count = page.locator("#bell-count")
    expect(count).to_have_text("1")  # added to Bells
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")

    # Live, without a reload: the owner assigns her a task, then moves it.
    task = api(server, "POST", f"/projects/{project}/tasks", owner.token, json={"title": "Ring"})
    api(
        server,
        "PUT",
        f"/tasks/{task['id']}/assignee",
        owner.token,
        json={"assignee_id": ann.user_id},
    )
    expect(count).to_have_text("2")
    api(server, "POST", f"/tasks/{task['id']}/move", owner.token, json={"status": "in_progress"})
    expect(count).to_have_text("3")

    page.click("#bell")
    items = page.locator("#notification-list li")
    expect(items).to_have_count(3)
    expect(items.first).to_contain_text('Belle moved "Ring" from todo to in_progress')
    shoot(page, "bell-open")
    items.first.locator("button").click()
    expect(count).to_have_text("2")
    page.click("#mark-all-read")
    expect(count).to_be_hidden()
    expect(page.locator("#notification-list li.unread")).to_have_count(0)

    # Her own move tells her nothing; a reload shows the same, from the server.
    api(server, "POST", f"/tasks/{task['id']}/move", ann.token, json={"status": "done"})
    page.reload()
    expect(page.locator("#bell")).to_be_visible()
    expect(count).to_be_hidden()


def test_the_board_draws_the_projects_analytics_and_redraws_on_events(
    browser: Browser, server: Server, shoot: Any
) -> None:
    owner = sign_up(server, "chart")
    project = api(server, "POST", "/projects", owner.token, json={"name": "Charted"})["id"]
    for title in ("One", "Two", "Three"):
        task = api(server, "POST", f"/projects/{project}/tasks", owner.token, json={"title": title})
    page = open_page(browser, server, owner)
    page.goto(f"{server.url}/#/projects/{project}")
    chart = page.locator("#analytics-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("circle.dot.open")).to_have_count(30)
    expect(chart.locator("circle.dot.open").last).to_have_attribute("data-open", "3")
    expect(page.locator("#an-created")).to_have_text("3")
    expect(chart.locator("rect.bar.completed")).to_have_count(0)

    # A completion elsewhere (the API) redraws the chart live: a bar, one open task fewer.
    api(server, "POST", f"/tasks/{task['id']}/move", owner.token, json={"status": "done"})
    expect(chart.locator("rect.bar.completed")).to_have_count(1)
    expect(page.locator("#an-completed")).to_have_text("1")
    expect(page.locator("#analytics-chart circle.dot.open").last).to_have_attribute(
        "data-open", "2"
    )
    shoot(page, "chart")
