"""A small WebSocket client for the security and bad-input suites against a real Stack."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.reliability.stack import Stack, T


async def ticket(stack: Stack, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=T) as http:
        return await http.post("/auth/realtime-ticket", headers=headers)


async def open_ws(stack: Stack, node: int, auth: str | None = None, **kw: Any) -> ClientConnection:
    ws = await connect(stack.ws_url(node), open_timeout=T, **kw)
    if auth is not None:
        await ws.send(orjson.dumps({"type": "auth", "ticket": auth}).decode())
    return ws


# Frames that arrive on their own (live data, presence of the caller's own channels).
UNSOLICITED = ("events", "presence", "broadcast")


async def frame(ws: ClientConnection, timeout: float = T) -> dict[str, Any]:
    """The next frame that answers the client: not an event batch, presence or broadcast."""
    while True:
        got: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
        if got["type"] not in UNSOLICITED:
            return got


async def events_within(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every event batch received in the next `seconds` (presence frames are not data)."""
    batches: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                got: dict[str, Any] = orjson.loads(await ws.recv())
                if got["type"] == "events":
                    batches.append(got)
    except TimeoutError:
        pass
    return batches


async def request(ws: ClientConnection, obj: Any) -> dict[str, Any]:
    await ws.send(obj if isinstance(obj, str | bytes) else orjson.dumps(obj).decode())
    return await frame(ws)


async def close_code(ws: ClientConnection, timeout: float = T) -> int | None:
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed:
        pass
    rcvd = ws.protocol.close_rcvd
    return rcvd.code if rcvd else None


async def user(
    stack: Stack, owner: dict[str, Any], name: str, role: str = "member"
) -> dict[str, Any]:
    """Invite a user and log them in; answers its id and headers."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=T) as http:
        made = await http.post(
            "/users",
            headers=owner["headers"],
            json={"email": email, "name": name, "role": role, "password": "long enough"},
        )
        assert made.status_code == 201, made.text
        login = await http.post("/auth/login", json={"email": email, "password": "long enough"})
    token = login.json()["access_token"]
    return {
        "user_id": made.json()["id"],
        "email": email,
        "access_token": token,
        "headers": {"Authorization": f"Bearer {token}"},
    }
