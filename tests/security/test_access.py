"""Tokens, tickets, deactivation, removal and tenant walls, on REST and WebSocket (real stack)."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import httpx
import jwt
import orjson

from tests.reliability.load import seed
from tests.reliability.stack import Stack, T
from tests.security.wsclient import (
    close_code,
    events_within,
    frame,
    open_ws,
    request,
    ticket,
    user,
)
from tests.support import SECRET

OTHER_KEY = "another-key-0123456789abcdef-0123456789"


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()


def bad_tickets(good: str) -> dict[str, tuple[str, set[int]]]:
    claims = jwt.decode(good, SECRET, algorithms=["HS256"])
    now = int(time.time())
    head, _, sig = good.split(".")
    return {
        "alg none": (f"{_b64({'alg': 'none'})}.{_b64(claims)}.", {1008}),
        "wrong key": (jwt.encode(claims, OTHER_KEY, "HS256"), {1008}),
        "expired": (
            jwt.encode({**claims, "iat": now - 600, "exp": now - 60}, SECRET, "HS256"),
            {4001},
        ),
        "tampered tenant": (f"{head}.{_b64({**claims, 'tid': str(uuid.uuid4())})}.{sig}", {1008}),
        "tampered user": (f"{head}.{_b64({**claims, 'sub': str(uuid.uuid4())})}.{sig}", {1008}),
        "an access token": (jwt.encode({**claims, "typ": "access"}, SECRET, "HS256"), {1008}),
    }


async def test_every_forged_or_expired_ticket_is_refused_on_every_node(stack: Stack) -> None:
    owner, _, _ = await seed(stack, projects=1)
    good = (await ticket(stack, owner["headers"])).json()["ticket"]
    for name, (bad, codes) in bad_tickets(good).items():
        for node in (0, 1):
            ws = await open_ws(stack, node, bad)
            assert await close_code(ws) in codes, name
    ws = await open_ws(stack, 0, good)
    assert (await frame(ws))["type"] == "welcome"
    await ws.close()


async def test_a_deactivated_user_is_refused_at_once_on_rest_and_closed_on_every_node(
    stack: Stack,
) -> None:
    owner, pids, _ = await seed(stack, projects=1)
    member = await user(stack, owner, "Leaver")
    sockets = []
    for node in (0, 1):
        ws = await open_ws(stack, node, (await ticket(stack, member["headers"])).json()["ticket"])
        assert (await frame(ws))["type"] == "welcome"
        sockets.append(ws)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=T) as http:
        assert (await http.get("/me", headers=member["headers"])).status_code == 200
        gone = await http.delete(f"/users/{member['user_id']}", headers=owner["headers"])
        assert gone.status_code == 200, gone.text
        for method, path in [
            ("GET", "/me"),
            ("GET", "/projects"),
            ("GET", "/users"),
            ("GET", f"/projects/{pids[0]}"),
        ]:
            refused = await http.request(method, path, headers=member["headers"])
            assert refused.status_code == 401, (path, refused.text)
            assert refused.json()["code"] == "invalid_token"
    assert (await ticket(stack, member["headers"])).status_code == 401
    for ws in sockets:
        assert await close_code(ws) == 1008


async def test_a_lowered_role_takes_effect_on_the_next_request(stack: Stack) -> None:
    owner, _, _ = await seed(stack, projects=1)
    admin = await user(stack, owner, "Admin", role="admin")
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=T) as http:
        body = {
            "email": f"x-{uuid.uuid4().hex[:6]}@example.com",
            "name": "X",
            "password": "long enough",
        }
        assert (await http.post("/users", json=body, headers=admin["headers"])).status_code == 201
        lowered = await http.patch(
            f"/users/{admin['user_id']}", json={"role": "member"}, headers=owner["headers"]
        )
        assert lowered.status_code == 200, lowered.text
        body["email"] = f"y-{uuid.uuid4().hex[:6]}@example.com"
        refused = await http.post("/users", json=body, headers=admin["headers"])
        assert refused.status_code == 403, refused.text


async def test_a_token_naming_a_user_of_another_tenant_is_refused(stack: Stack) -> None:
    a, _, _ = await seed(stack, projects=1)
    b, _, _ = await seed(stack, projects=1)
    now = int(time.time())
    mixed = jwt.encode(
        {
            "sub": a["user_id"],
            "tid": b["tenant_id"],
            "role": "owner",
            "typ": "access",
            "iat": now,
            "exp": now + 60,
        },
        SECRET,
        "HS256",
    )
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=T) as http:
        got = await http.get("/users", headers={"Authorization": f"Bearer {mixed}"})
    assert got.status_code == 401


async def test_channels_of_another_tenant_never_carry_its_events(stack: Stack) -> None:
    a, a_pids, a_tids = await seed(stack, projects=1)
    b, _, _ = await seed(stack, projects=1)
    b_member = await user(stack, b, "Member")
    member_ws = await open_ws(stack, 0, (await ticket(stack, b_member["headers"])).json()["ticket"])
    owner_ws = await open_ws(stack, 1, (await ticket(stack, b["headers"])).json()["ticket"])
    await frame(member_ws)
    await frame(owner_ws)
    for pid in (a_pids[0], a_pids[0].upper()):
        channel = f"project:{pid}"
        refused = await request(member_ws, {"type": "subscribe", "id": 1, "channel": channel})
        assert refused["code"] == "forbidden", refused
        # An owner may name any project id (the gateway has no database); the channel is
        # namespaced by the ticket's tenant, so it never carries another tenant's events.
        await request(owner_ws, {"type": "subscribe", "id": 1, "channel": channel})
    await request(owner_ws, {"type": "subscribe", "id": 2, "channel": "tenant"})
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=T) as http:
        edited = await http.patch(
            f"/tasks/{a_tids[0]}", json={"title": "secret"}, headers=a["headers"]
        )
        assert edited.status_code == 200
    leaked = await events_within(owner_ws, 1.0)
    assert leaked == [], leaked
    await member_ws.close()
    await owner_ws.close()


async def test_a_removed_member_loses_the_channel_on_every_node(stack: Stack) -> None:
    owner, pids, _ = await seed(stack, projects=1)
    member = await user(stack, owner, "Member")
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=T) as http:
        added = await http.post(
            f"/projects/{pids[0]}/members",
            json={"user_id": member["user_id"]},
            headers=owner["headers"],
        )
        assert added.status_code in (200, 201), added.text
        sockets = []
        for node in (0, 1):
            tk = (await ticket(stack, member["headers"])).json()["ticket"]
            ws = await open_ws(stack, node, tk)
            await frame(ws)
            ack = await request(ws, {"type": "subscribe", "id": 1, "channel": f"project:{pids[0]}"})
            assert ack["type"] == "ack", ack
            sockets.append(ws)
        removed = await http.delete(
            f"/projects/{pids[0]}/members/{member['user_id']}", headers=owner["headers"]
        )
        assert removed.status_code == 200, removed.text
        for ws in sockets:
            notice = await frame(ws)
            assert notice["type"] == "unsubscribed" and notice["reason"] == "access_revoked"
            again = await request(
                ws, {"type": "subscribe", "id": 2, "channel": f"project:{pids[0]}"}
            )
            assert again["code"] == "forbidden"
            await ws.close()
