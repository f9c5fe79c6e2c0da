"""The board's activity feed tells task comments and due dates (issue 16), live and after a
reload (then from the activity read model), in headless Chromium against the real server."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import Server, require_realtime
from tests.e2e.people import api, invite, open_page, project_with_members, sign_up


def test_comments_and_due_dates_reach_the_boards_activity_feed(
    browser: Browser, server: Server, shoot: Any
) -> None:
    require_realtime(server)
    owner = sign_up(server, "dora")
    gus = invite(server, owner, "gus")
    project = project_with_members(server, owner, "Dated", gus)
    task = api(server, "POST", f"/projects/{project}/tasks", owner.token, json={"title": "Ship"})
    page = open_page(browser, server, owner)
    page.goto(f"{server.url}/#/projects/{project}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    feed = page.locator("#activity li")
    expect(feed.first).to_contain_text("Ship")

    # Live, from someone else: a comment, its edit and deletion, a due date set and cleared.
    path = f"/tasks/{task['id']}"
    comment = api(server, "POST", f"{path}/comments", gus.token, json={"body": "hello"})
    expect(feed.first).to_contain_text("Gus commented on “Ship”")
    api(server, "PATCH", f"{path}/comments/{comment['id']}", gus.token, json={"body": "hi"})
    expect(feed.first).to_contain_text("A comment on “Ship” edited")
    api(server, "DELETE", f"{path}/comments/{comment['id']}", gus.token)
    expect(feed.first).to_contain_text("A comment on “Ship” deleted")
    due = "2199-06-01T12:00:00+00:00"
    api(server, "PATCH", path, owner.token, json={"due_at": due})
    expect(feed.first).to_contain_text("Ship” due")
    last = api(server, "PATCH", path, owner.token, json={"due_at": None})
    expect(feed.first).to_contain_text("Ship” has no due date")

    # A reload reads the activity feed: the same story, in the read model's words.
    caught_up = f"/projects/{project}/activity?min_position={last['position']}"
    api(server, "GET", caught_up, owner.token)
    page.reload()
    expect(feed.first).to_contain_text('Dora cleared the due date of "Ship"')
    texts = feed.evaluate_all("items => items.map((li) => li.firstChild.textContent)")
    assert texts[:5] == [
        'Dora cleared the due date of "Ship"',
        'Dora set the due date of "Ship" to 2199-06-01 12:00 UTC',
        'Gus deleted a comment on "Ship"',
        'Gus edited a comment on "Ship"',
        'Gus commented on "Ship"',
    ], texts
    assert not [t for t in texts if "hello" in t or " hi" in t], "no comment's words in the feed"
    shoot(page, "activity")
