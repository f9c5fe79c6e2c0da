"""Login throttling edge cases (per account, per address, Retry-After) and secrets never leaked."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.tenants.passwords import Argon2Hasher
from tests.reliability.stack import Stack
from tests.security.wsclient import user
from tests.support import REDIS_URL, settings_for, sign_up

PASSWORD = "correct horse"


@asynccontextmanager
async def clients(
    pg_url: str, *addresses: str, **settings: Any
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One app, one client per source address (the per-address limit reads the peer)."""
    app = create_app(settings_for(pg_url, **settings), hasher=Argon2Hasher(fast=True))
    async with LifespanManager(app) as manager:
        made = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app, client=(a, 1234)),
                base_url="http://api",
            )
            for a in addresses
        ]
        yield made
        for c in made:
            await c.aclose()


async def login(c: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await c.post("/auth/login", json={"email": email, "password": password})


async def test_the_account_limit_holds_across_addresses_and_spellings(pg_url: str) -> None:
    async with clients(pg_url, "10.0.0.1", "10.0.0.2") as (one, two):
        owner = await sign_up(one)
        for i in range(5):
            spelled = owner["email"].upper() if i % 2 else f"  {owner['email']} "
            assert (await login((one, two)[i % 2], spelled, "wrong")).status_code == 401
        for c in (one, two):
            blocked = await login(c, owner["email"], PASSWORD)  # even the right password
            assert blocked.status_code == 429
            assert 0 < int(blocked.headers["retry-after"]) <= 300
            assert PASSWORD not in blocked.text


async def test_the_address_limit_holds_across_accounts_known_or_not(pg_url: str) -> None:
    async with clients(pg_url, "10.0.1.1", "10.0.1.2") as (attacker, other):
        owner = await sign_up(other)
        for _ in range(30):
            unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
            assert (await login(attacker, unknown, "guess")).status_code == 401
        blocked = await login(attacker, owner["email"], PASSWORD)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert (await login(other, owner["email"], PASSWORD)).status_code == 200


async def test_a_success_resets_the_account_but_not_the_address(pg_url: str) -> None:
    async with clients(pg_url, "10.0.2.1") as (c,):
        owner = await sign_up(c)
        for _ in range(4):
            assert (await login(c, owner["email"], "wrong")).status_code == 401
        assert (await login(c, owner["email"], PASSWORD)).status_code == 200
        for _ in range(4):
            assert (await login(c, owner["email"], "wrong")).status_code == 401
        assert (await login(c, owner["email"], PASSWORD)).status_code == 200


async def test_replicas_sharing_redis_share_the_account_limit(pg_url: str) -> None:
    # Two API replicas (two apps) on one Redis: guesses spread over both still hit one budget.
    shared = {"redis_url": REDIS_URL, "channel_prefix": f"cs-test-{uuid.uuid4().hex[:10]}"}
    async with (
        clients(pg_url, "10.0.3.1", **shared) as (one,),
        clients(pg_url, "10.0.3.2", **shared) as (two,),
    ):
        owner = await sign_up(one)
        for i in range(5):
            assert (await login((one, two)[i % 2], owner["email"], "wrong")).status_code == 401
        for c in (one, two):
            blocked = await login(c, owner["email"], PASSWORD)
            assert blocked.status_code == 429, blocked.text
            assert 0 < int(blocked.headers["retry-after"]) <= 300
    async with clients(pg_url, "10.0.3.3") as (alone,):
        # Without Redis a replica counts alone: the same account is not blocked there.
        assert (await login(alone, owner["email"], PASSWORD)).status_code == 200


async def test_with_redis_unreachable_logins_work_and_are_throttled_per_replica(
    pg_url: str,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    async with clients(pg_url, "10.0.4.1", redis_url=dead) as (c,):
        owner = await sign_up(c)
        assert (await login(c, owner["email"], PASSWORD)).status_code == 200
        for _ in range(5):
            assert (await login(c, owner["email"], "wrong")).status_code == 401
        assert (await login(c, owner["email"], PASSWORD)).status_code == 429


async def test_passwords_are_never_logged_or_returned(stack: Stack) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        email = f"s-{uuid.uuid4().hex[:8]}@example.com"
        bodies = [
            await http.post(
                "/auth/signup",
                json={"tenant_name": "S", "name": "S", "email": email, "password": secret},
            )
        ]
        headers = {"Authorization": f"Bearer {bodies[0].json()['access_token']}"}
        bodies.append(await http.post("/auth/login", json={"email": email, "password": secret}))
        wrong = {"email": email, "password": secret[:-1]}
        bodies.append(await http.post("/auth/login", json=wrong))
        bodies.append(
            await http.post(
                "/auth/signup",
                json={"tenant_name": "S", "name": "S", "email": email, "password": secret},
            )
        )  # 409
        bodies.append(
            await http.post(
                "/users", headers=headers, json={"email": "bad", "name": "B", "password": secret}
            )
        )  # 422 names the field only
        bodies += [await http.get(p, headers=headers) for p in ("/me", "/users")]
        owner = {"headers": headers}
        await user(stack, owner, "Other")
    for response in bodies:
        assert secret not in response.text, response.text
        assert "password_hash" not in response.text and "$argon2" not in response.text
    log = stack.api.text()
    assert secret not in log and "$argon2" not in log
