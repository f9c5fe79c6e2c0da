"""The live board in headless Chromium against the real server (embedded default)."""

from __future__ import annotations

import signal
import uuid
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import STEP_MS, Server, require_realtime
from tests.e2e.people import PASSWORD, api, invite, open_page, project_with_members, sign_up


def card(page: Page, title: str) -> Any:
    return page.locator(f'li.task[data-title="{title}"]')


def column_of(page: Page, title: str) -> Any:
    return page.locator(f'ul.tasks:has(li.task[data-title="{title}"])')


def test_a_person_signs_up_creates_a_project_and_works_its_board(
    browser: Browser, server: Server, shoot: Any
) -> None:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(10 * STEP_MS)
    page.goto(server.url + "/")
    email = f"solo-{uuid.uuid4().hex[:8]}@example.com"
    page.fill("#signup-form [name=tenant_name]", "Solo corp")
    page.fill("#signup-form [name=name]", "Solo")
    page.fill("#signup-form [name=email]", email)
    page.fill("#signup-form [name=password]", PASSWORD)
    page.click("#signup-form button[type=submit]")
    expect(page.locator("#view-projects")).to_be_visible()

    page.fill("#project-form [name=name]", "Launch")
    page.fill("#project-form [name=budget]", "1000")
    page.click("#project-form button[type=submit]")
    expect(page.locator("#board-name")).to_have_text("Launch")
    expect(page.locator("#fig-budget")).to_contain_text("1,000")
    expect(page.locator("#board-members")).to_have_text("Solo (manager)")

    for title in ("Write copy", "Ship it"):
        page.fill("#task-form [name=title]", title)
        page.click("#task-form button[type=submit]")
        expect(card(page, title)).to_be_visible()
    card(page, "Ship it").locator("button.move-right").click()
    expect(column_of(page, "Ship it")).to_have_attribute("data-status", "in_progress")
    card(page, "Ship it").locator("button.move-right").click()
    expect(column_of(page, "Ship it")).to_have_attribute("data-status", "done")
    expect(page.locator("#fig-completion")).to_have_text("50%")

    # A refused command is explained in plain words and nothing changes.
    page.fill("#spend-form [name=amount]", "5000")
    page.click("#spend-form button[type=submit]")
    expect(page.locator("#flash")).to_contain_text("budget")
    expect(page.locator("#fig-spend")).to_contain_text("0.00")

    page.click('#status-actions button[data-to="on_hold"]')
    expect(page.locator("#board-status")).to_have_text("On hold")
    expect(page.locator('#status-actions button[data-to="completed"]')).to_have_count(0)
    shoot(page, "board")

    # The state survives a reload (it came from the server, not from the page).
    page.reload()
    expect(page.locator("#board-status")).to_have_text("On hold")
    expect(column_of(page, "Ship it")).to_have_attribute("data-status", "done")


def test_a_move_by_one_member_appears_live_for_the_other_and_never_in_another_tenant(
    browser: Browser, server: Server, shoot: Any
) -> None:
    require_realtime(server)
    ann = sign_up(server, "ann")
    bob = invite(server, ann, "bob")
    eve = sign_up(server, "eve")  # another tenant
    project = project_with_members(server, ann, "Apollo", bob)
    task = api(server, "POST", f"/projects/{project}/tasks", ann.token, json={"title": "Fuel"})

    page_a = open_page(browser, server, ann)
    page_b = open_page(browser, server, bob)
    page_e = open_page(browser, server, eve)
    board = f"{server.url}/#/projects/{project}"
    for page in (page_a, page_b):
        page.goto(board)
        expect(card(page, "Fuel")).to_be_visible()
        expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    expect(page_e.locator("#conn")).to_have_attribute("data-state", "connected")

    page_a.evaluate("window.__reloaded = 1")
    page_b.evaluate("window.__reloaded = 1")
    card(page_a, "Fuel").locator("button.move-right").click()
    expect(column_of(page_b, "Fuel")).to_have_attribute("data-status", "in_progress")
    assert page_b.evaluate("window.__reloaded") == 1, "the other page was not reloaded"

    # Made over REST by Ann elsewhere: both pages get it live.
    api(server, "POST", f"/projects/{project}/tasks", ann.token, json={"title": "Ignite"})
    for page in (page_a, page_b):
        expect(card(page, "Ignite")).to_be_visible()

    # The embedded gateway announces presence and ephemeral broadcasts: both must work.
    assert page_a.evaluate("window.collabspace.client.supports('presence')")
    for page in (page_a, page_b):
        expect(page.locator("#presence")).to_contain_text("Ann")
        expect(page.locator("#presence")).to_contain_text("Bob")

    # Bob types in a task's edit dialog: Ann sees it on that card, live, nothing stored.
    card(page_b, "Ignite").locator(".title").click()
    page_b.locator("#task-edit-form input[name=title]").type(" now", delay=50)
    expect(card(page_a, "Ignite").locator(".typing")).to_contain_text("is typing")
    page_b.keyboard.press("Escape")
    shoot(page_b, "other-member")

    # Eve (another tenant) sees no project, received no event, and cannot open the board.
    expect(page_e.locator("#project-rows tr")).to_have_count(0)
    assert page_e.evaluate("window.collabspace.board") is None
    page_e.goto(board)
    expect(page_e.locator("#flash")).to_be_visible()
    expect(page_e.locator("#view-projects")).to_be_visible()
    assert "Fuel" not in page_e.content()
    assert task["id"] not in page_e.content()
    shoot(page_e, "other-tenant")


def test_a_restarted_server_makes_the_page_reconnect_and_catch_up(
    browser: Browser, server: Server, shoot: Any
) -> None:
    require_realtime(server)
    ann = sign_up(server, "cat")
    project = api(server, "POST", "/projects", ann.token, json={"name": "Outage"})["id"]
    api(server, "POST", f"/projects/{project}/tasks", ann.token, json={"title": "Before"})
    page = open_page(browser, server, ann)
    page.goto(f"{server.url}/#/projects/{project}")
    expect(card(page, "Before")).to_be_visible()
    conn = page.locator("#conn")
    expect(conn).to_have_attribute("data-state", "connected")

    server.stop(signal.SIGKILL)
    expect(conn).to_have_attribute("data-state", "reconnecting", timeout=10 * STEP_MS)
    shoot(page, "reconnecting")
    server.start()
    # Written while the page is still away: it must show up once the page is back.
    api(server, "POST", f"/projects/{project}/tasks", ann.token, json={"title": "During"})
    expect(conn).to_have_attribute("data-state", "connected", timeout=40 * STEP_MS)
    expect(card(page, "During")).to_be_visible(timeout=10 * STEP_MS)
    expect(card(page, "Before")).to_have_count(1)
    shoot(page, "caught-up")


def test_the_plan_card_shows_the_plan_the_owner_changes_it_and_it_updates_live(
    browser: Browser, server: Server, shoot: Any
) -> None:
    require_realtime(server)
    olga = sign_up(server, "olga")
    mo = invite(server, olga, "mo")
    owner_page, member_page = open_page(browser, server, olga), open_page(browser, server, mo)
    expect(owner_page.locator("#plan-name")).to_have_text("free")
    expect(owner_page.locator("#plan-usage")).to_contain_text("0 of")
    expect(owner_page.locator("#plan-usage")).to_contain_text("2 of")  # two people
    expect(member_page.locator("#plan-name")).to_have_text("free")
    expect(member_page.locator("#plan-form")).to_have_count(0)  # only the owner changes it
    expect(owner_page.locator("#conn")).to_have_attribute("data-state", "connected")

    owner_page.select_option("#plan-select", "team")
    owner_page.click("#plan-form button[type=submit]")
    expect(owner_page.locator("#plan-name")).to_have_text("team")
    # Changed elsewhere (over REST): the owner's page follows live, on the tenant channel.
    api(server, "PUT", "/tenant/plan", olga.token, json={"plan": "business"})
    expect(owner_page.locator("#plan-name")).to_have_text("business")
    shoot(owner_page, "plan")


def test_due_dates_priorities_comments_and_my_tasks_show_on_the_board_and_update_live(
    browser: Browser, server: Server, shoot: Any
) -> None:
    require_realtime(server)
    ida = sign_up(server, "ida")
    jon = invite(server, ida, "jon")
    project = project_with_members(server, ida, "Orion", jon)
    late = {"title": "Late", "due_at": "2026-01-02T09:00:00Z", "assignee_id": jon.user_id}
    task = api(server, "POST", f"/projects/{project}/tasks", ida.token, json=late)["id"]
    api(server, "POST", f"/projects/{project}/tasks", ida.token, json={"title": "Calm"})

    page_i, page_j = open_page(browser, server, ida), open_page(browser, server, jon)
    # Jon's "My tasks" lists the overdue task.
    expect(page_j.locator("#my-tasks li.overdue")).to_contain_text("Late")
    board = f"{server.url}/#/projects/{project}"
    for page in (page_i, page_j):
        page.goto(board)
        expect(card(page, "Late").locator(".due.overdue")).to_be_visible()
        expect(card(page, "Calm").locator(".due")).to_have_count(0)
        # The assignee comes from the read side's card ({"assignee": {"user_id", ...}}).
        expect(card(page, "Late").locator("select")).to_have_value(jon.user_id)
        expect(page.locator("#conn")).to_have_attribute("data-state", "connected")

    # Jon comments in the task panel; Ida's card counts it live.
    card(page_j, "Late").locator("button.comments-open").click()
    page_j.fill("#comment-form textarea", "On it")
    page_j.click("#comment-form button[type=submit]")
    expect(page_j.locator("#comments li")).to_contain_text("On it")
    expect(page_j.locator("#comments li button.comment-delete")).to_have_count(1)
    expect(card(page_i, "Late").locator("button.comments-open")).to_have_text("1 comment")
    # Ida sees Jon's comment but may not edit or delete it.
    card(page_i, "Late").locator("button.comments-open").click()
    expect(page_i.locator("#comments li")).to_contain_text("On it")
    expect(page_i.locator("#comments li button.comment-delete")).to_have_count(0)
    page_i.keyboard.press("Escape")
    # A priority set over REST elsewhere reaches both boards live.
    api(server, "PATCH", f"/tasks/{task}", ida.token, json={"priority": "urgent"})
    expect(card(page_i, "Late").locator(".priority")).to_have_text("urgent")
    page_j.keyboard.press("Escape")
    expect(card(page_j, "Late").locator(".priority")).to_have_text("urgent")
    shoot(page_i, "task-fields")
