"""The real API (`collabspace serve` subprocess, PostgreSQL, Redis, its relay) for resume tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from gateway_helpers import REDIS_URL, SECRET, Client, Node, T, mint

from app.kernel.db import event
from tests.support import engine_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    def __init__(self, database_url: str, prefix: str) -> None:
        self.port = free_port()
        self.database_url = database_url
        self.log = Path(tempfile.mkstemp(prefix="api-", suffix=".log")[1])
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": SECRET,
            "CHANNEL_PREFIX": prefix,
            "RUN_RELAY": "1",
            "RUN_PROJECTIONS": "1",
            "EMBEDDED_GATEWAY": "0",
            "DB_POOL_SIZE": "20",
        }
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.AsyncClient(base_url=self.url, timeout=30)

    async def ready(self) -> Api:
        deadline = time.monotonic() + 6 * T
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if (await self.http.get("/healthz")).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"API did not start: {self.log.read_text()}")

    async def stop(self) -> None:
        await self.http.aclose()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)

    async def task(self, who: dict[str, Any], project: str) -> int:
        """Create a task; returns the position the command wrote."""
        r = await self.http.post(
            f"/projects/{project}/tasks", json={"title": "t"}, headers=who["headers"]
        )
        assert r.status_code == 201, r.text
        return int(r.headers.get("X-Position") or r.json().get("position") or 0)

    async def channel_positions(self, project: str) -> list[int]:
        """The store's sequence for a project channel."""
        engine = engine_for(self.database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.select(event.c.position)
                    .where(event.c.project_id == sa.literal(project, sa.Uuid))
                    .order_by(event.c.position)
                )
                return [int(r[0]) for r in rows]
        finally:
            await engine.dispose()


async def owner_and_project(api: Api) -> tuple[dict[str, Any], str]:
    from tests.integration.api_helpers import create_project
    from tests.support import sign_up

    owner = await sign_up(api.http)
    project = await create_project(api.http, owner)
    return owner, project


def owner_ticket(owner: dict[str, Any], user: str | None = None) -> str:
    return mint(owner["tenant_id"], user or owner["user_id"], role="owner")


async def gateway(prefix: str, api: Api, command: list[str] | None = None, **env: str) -> Node:
    return await Node(prefix, command, API_URL=api.url, **env).ready()


async def lossy_gateway(prefix: str, api: Api, every: int) -> Node:
    """A real node whose broker drops every `every`th event message (lossy_gateway.py)."""
    script = Path(__file__).resolve().parent / "lossy_gateway.py"
    return await gateway(prefix, api, [sys.executable, str(script)], LOSSY_EVERY_N=str(every))


async def collect_until(
    client: Client, channel: str, last: int, timeout: float = 4 * T
) -> list[dict[str, Any]]:
    """Events of a channel until one at or past `last` arrives."""
    got: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while not got or got[-1]["position"] < last:
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"timed out at {got[-1]['position'] if got else None} < {last}"
        got.extend(await client.events(channel, 1, timeout=left))
    return got
