"""Clients written as a browser would, from README.md and docs/protocol.md only.

`Browser` is a signed-in user over REST (httpx); `Socket` is one WebSocket connection, opened
with a fresh ticket from `POST /auth/realtime-ticket` (tickets are about to become single-use).
A background reader keeps every frame in arrival order; waits are bounded and name what they
waited for.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.system.topology import T, Topology

PASSWORD = "correct horse"


class Browser:
    """One signed-in user of the API."""

    def __init__(self, topology: Topology, token: str, user_id: str, tenant_id: str) -> None:
        self.topology = topology
        self.user_id, self.tenant_id = user_id, tenant_id
        self.headers = {"Authorization": f"Bearer {token}"}
        self.token = token
        self.http = httpx.AsyncClient(base_url=topology.api_url, timeout=2 * T)
        topology.http_clients.append(self.http)

    @classmethod
    async def sign_up(cls, topology: Topology, tenant: str = "Sys") -> Browser:
        async with httpx.AsyncClient(base_url=topology.api_url, timeout=2 * T) as http:
            r = await http.post(
                "/auth/signup",
                json={
                    "tenant_name": tenant,
                    "name": f"Owner of {tenant}",
                    "password": PASSWORD,
                    "email": f"owner-{uuid.uuid4().hex[:8]}@example.com",
                },
            )
        assert r.status_code == 201, r.text
        body = r.json()
        return cls(topology, body["access_token"], body["user_id"], body["tenant_id"])

    async def invite(self, name: str, role: str = "member") -> Browser:
        """Create a user in this tenant and sign them in."""
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        r = await self.http.post(
            "/users",
            headers=self.headers,
            json={"email": email, "name": name, "role": role, "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        login = await self.http.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        return Browser(self.topology, login.json()["access_token"], user_id, self.tenant_id)

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        r = await self.http.request(method, path, headers=self.headers, **kw)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def create_project(self, name: str = "P") -> tuple[str, int]:
        """A new project; answers its id and the position the command wrote."""
        body = await self.call("POST", "/projects", 201, json={"name": name})
        return body["id"], int(body["position"])

    async def create_task(self, project: str, title: str = "t") -> tuple[str, int]:
        body = await self.call("POST", f"/projects/{project}/tasks", 201, json={"title": title})
        return body["id"], int(body["position"])

    async def edit_task(self, task: str, title: str) -> int:
        body = await self.call("PATCH", f"/tasks/{task}", 200, json={"title": title})
        return int(body["position"])

    async def add_member(self, project: str, user: str) -> int:
        body = await self.call("POST", f"/projects/{project}/members", 200, json={"user_id": user})
        return int(body["position"])

    async def remove_member(self, project: str, user: str) -> int:
        body = await self.call("DELETE", f"/projects/{project}/members/{user}", 200)
        return int(body["position"])

    async def ticket(self) -> str:
        body = await self.call("POST", "/auth/realtime-ticket", 200)
        return str(body["ticket"])

    async def socket(self, node: int) -> Socket:
        """A new connection to gateway node `node`, authenticated with a fresh ticket."""
        return await Socket.open(self.topology.ws_url(node), await self.ticket())


class Socket:
    """One authenticated WebSocket; every frame kept in arrival order by a reader task."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.welcome: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, ticket: str) -> Socket:
        sock = cls(await connect(url, open_timeout=T, compression=None))
        await sock.send({"type": "auth", "ticket": ticket})
        sock.welcome = orjson.loads(await asyncio.wait_for(sock.ws.recv(), T))
        assert sock.welcome["type"] == "welcome", sock.welcome
        sock._reader = asyncio.create_task(sock._read())
        return sock

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(orjson.loads(raw))
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self._arrived.set()

    async def send(self, obj: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(obj).decode())

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    @property
    def open_(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def wait(self, ready: Callable[[], Any], what: str, timeout: float = 4 * T) -> Any:
        """Wait until `ready()` is truthy (re-checked on each frame); fail naming `what`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (found := ready()):
            left = deadline - loop.time()
            if left <= 0 or (self._reader is not None and self._reader.done()):
                state = "connection closed" if self._reader and self._reader.done() else "timeout"
                raise AssertionError(
                    f"{state} after {timeout:.0f}s waiting for {what}; "
                    f"frames: {summary(self.frames)}"
                )
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), min(left, 0.5))
            except TimeoutError:
                pass
        return found

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a request with an id; answer its reply (ack or error)."""
        frame["id"] = next(self._ids)
        await self.send(frame)
        reply: dict[str, Any] = await self.wait(
            lambda: next(
                (
                    f
                    for f in self.frames
                    if f.get("id") == frame["id"] and f["type"] in ("ack", "error")
                ),
                None,
            ),
            f"the reply to {frame}",
            2 * T,
        )
        return reply

    async def subscribe(self, channel: str, since: int | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "subscribe", "channel": channel}
        if since is not None:
            frame["since"] = since
        return await self.request(frame)

    def events(self, channel: str) -> list[dict[str, Any]]:
        return [
            e
            for f in self.frames
            if f["type"] == "events" and f["channel"] == channel
            for e in f["events"]
        ]

    def positions(self, channel: str) -> list[int]:
        return [int(e["position"]) for e in self.events(channel)]

    async def positions_through(self, channel: str, last: int, timeout: float = 4 * T) -> list[int]:
        """Positions received on `channel` once one at or past `last` arrived (bounded)."""
        await self.wait(
            lambda: any(p >= last for p in self.positions(channel)),
            f"position {last} on {channel}",
            timeout,
        )
        return self.positions(channel)

    async def positions_until(self, channel: str, last: int, timeout: float = 4 * T) -> list[int]:
        """Positions received on `channel` by the time `last` arrived, or by the timeout: the
        caller asserts the exact list, so a miss fails with what did arrive."""
        try:
            await self.wait(
                lambda: any(p >= last for p in self.positions(channel)),
                f"position {last} on {channel}",
                timeout,
            )
        except AssertionError:
            pass
        return self.positions(channel)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]


def summary(frames: list[dict[str, Any]]) -> list[Any]:
    """Frames, with event batches cut down to their positions, for failure messages."""
    out: list[Any] = []
    for f in frames[-40:]:
        if f["type"] == "events":
            out.append(
                {"events": f["channel"][:16], "positions": [e["position"] for e in f["events"]]}
            )
        else:
            out.append(f)
    return out
