"""The search box on the board page, in headless Chromium against the real server."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import STEP_MS, Server
from tests.e2e.people import api, invite, open_page, sign_up


def test_a_member_searches_as_they_type_finds_only_their_projects_and_opens_a_hit(
    browser: Browser, server: Server, shoot: Any
) -> None:
    owner = sign_up(server, "searcher")
    mia = invite(server, owner, "mia")
    shared = api(server, "POST", "/projects", owner.token, json={"name": "Rocket shared"})["id"]
    private = api(server, "POST", "/projects", owner.token, json={"name": "Rocket private"})["id"]
    api(server, "POST", f"/projects/{shared}/members", owner.token, json={"user_id": mia.user_id})
    body = {"title": "Rocket nozzle drawings", "description": "for the test stand"}
    api(server, "POST", f"/projects/{shared}/tasks", owner.token, json=body)
    last = api(
        server, "POST", f"/projects/{private}/tasks", owner.token, json={"title": "Rocket budget"}
    )
    # The search model has seen every write before the page asks (read-your-writes).
    api(server, "GET", f"/search?q=x&min_position={last['position']}", owner.token)

    page = open_page(browser, server, mia)
    box = page.locator("#search-q")
    expect(box).to_be_visible()
    box.press_sequentially("rocket noz", delay=30)
    hits = page.locator("#search-results .search-hit")
    expect(hits).to_have_count(1)
    expect(hits.first).to_contain_text("Rocket nozzle drawings")
    expect(hits.first).to_contain_text("in Rocket shared")

    box.fill("")
    box.press_sequentially("rocket", delay=30)
    expect(hits).to_have_count(2)  # the project and its task; nothing of the private one
    expect(page.locator("#search-results")).not_to_contain_text("private")
    expect(page.locator("#search-results")).not_to_contain_text("budget")
    shoot(page, "search")

    # Odd input is a query like any other: no error, just nothing found.
    box.fill("'); DROP TABLE -- & | !:*")
    expect(page.locator("#search-results .search-empty")).to_contain_text("Nothing found")
    expect(page.locator("#flash")).to_be_hidden()

    box.fill("nozzle")
    expect(hits).to_have_count(1)
    hits.first.locator("a").click()
    expect(page.locator("#board-name")).to_have_text("Rocket shared", timeout=10 * STEP_MS)
    expect(page.locator("#search-results")).to_be_hidden()
    page.keyboard.press("Escape")
