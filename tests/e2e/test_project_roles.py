"""The board's project-role control (docs/permissions.md) in headless Chromium against the real
server: a manager or owner makes a member a manager or revokes it, every open board shows it
live, and the API agrees."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import STEP_MS, Server, require_realtime
from tests.e2e.people import Person, api, invite, open_page, project_with_members, sign_up


def managers_become(server: Server, who: Person, project: str, expected: set[str]) -> None:
    """The API's managers of the project reach `expected` (bounded: the click is async)."""
    deadline = time.monotonic() + 10 * STEP_MS / 1000
    managers: set[str] = set()
    while time.monotonic() < deadline:
        managers = set(api(server, "GET", f"/projects/{project}", who.token)["managers"])
        if managers == expected:
            return
        time.sleep(0.05)
    raise AssertionError(f"managers are {managers}, expected {expected}")


def row(page: Page, person: Person) -> Any:
    return page.locator(f'#member-roles li[data-member="{person.user_id}"]')


def test_a_manager_makes_a_member_a_manager_and_revokes_it_live(
    browser: Browser, server: Server, shoot: Any
) -> None:
    require_realtime(server)
    owner = sign_up(server, "rolf")
    gus = invite(server, owner, "gus")
    project = project_with_members(server, owner, "Roles", gus)
    boards = []
    for person in (owner, gus):
        page = open_page(browser, server, person)
        page.goto(f"{server.url}/#/projects/{project}")
        expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
        expect(page.locator("#board-members")).to_contain_text("Gus")
        boards.append(page)
    mine, his = boards
    # A plain member gets no control; the owner (the project's creator and manager) does.
    expect(his.locator("#member-roles")).to_be_hidden()
    expect(row(mine, gus)).to_have_attribute("data-role", "member")
    expect(row(mine, owner).locator("button")).to_be_disabled()  # the last manager stays

    row(mine, gus).get_by_role("button", name="Make manager").click()
    managers_become(server, owner, project, {owner.user_id, gus.user_id})
    expect(row(mine, gus)).to_have_attribute("data-role", "manager")
    # Gus's board changes live: he is a manager now, and so he gets the control.
    expect(his.locator("#board-members")).to_contain_text("Gus (manager)")
    expect(his.locator("#member-roles")).to_be_visible()
    shoot(mine, "promoted")

    # Gus, a manager, revokes the creator's role; the owner keeps the control (tenant owner).
    row(his, owner).get_by_role("button", name="Revoke manager").click()
    managers_become(server, gus, project, {gus.user_id})
    expect(row(mine, owner)).to_have_attribute("data-role", "member")
    expect(mine.locator("#board-members")).to_have_text("Rolf, Gus (manager)")
    expect(row(his, gus).locator("button")).to_be_disabled()

    # The owner takes the role back, then revokes Gus's (no longer the last manager).
    row(mine, owner).get_by_role("button", name="Make manager").click()
    managers_become(server, owner, project, {owner.user_id, gus.user_id})
    row(mine, gus).get_by_role("button", name="Revoke manager").click()
    managers_become(server, owner, project, {owner.user_id})
    expect(his.locator("#member-roles")).to_be_hidden()
    expect(his.locator("#board-members")).to_have_text("Rolf (manager), Gus")
    shoot(his, "revoked")
