"""The people of a browser test: sign-up, invitation, a logged-in page, and REST calls as them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import STEP_MS, Server

PASSWORD = "correct horse battery"


@dataclass
class Person:
    email: str
    name: str
    token: str
    user_id: str
    tenant_id: str


def api(server: Server, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.request(method, server.url + path, headers=headers, timeout=10, **kw)
    assert r.status_code < 300, (r.status_code, r.text)
    return r.json()


def sign_up(server: Server, label: str) -> Person:
    email = f"{label}-{uuid.uuid4().hex[:8]}@example.com"
    body = {
        "tenant_name": f"{label} corp",
        "name": label.title(),
        "email": email,
        "password": PASSWORD,
    }
    r = api(server, "POST", "/auth/signup", json=body)
    return Person(email, label.title(), r["access_token"], r["user_id"], r["tenant_id"])


def invite(server: Server, owner: Person, label: str) -> Person:
    email = f"{label}-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "name": label.title(), "role": "member", "password": PASSWORD}
    api(server, "POST", "/users", owner.token, json=body)
    r = api(server, "POST", "/auth/login", json={"email": email, "password": PASSWORD})
    return Person(email, label.title(), r["access_token"], r["user_id"], r["tenant_id"])


def open_page(browser: Browser, server: Server, person: Person) -> Page:
    """A fresh browser context logged in through the page's own form."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(10 * STEP_MS)
    page.goto(server.url + "/")
    page.fill("#login-form [name=email]", person.email)
    page.fill("#login-form [name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#view-projects")).to_be_visible()
    return page


def project_with_members(server: Server, owner: Person, name: str, *members: Person) -> str:
    """A new project of `owner`'s, with `members` added; its id."""
    project: str = api(server, "POST", "/projects", owner.token, json={"name": name})["id"]
    for member in members:
        body = {"user_id": member.user_id}
        api(server, "POST", f"/projects/{project}/members", owner.token, json=body)
    return project
