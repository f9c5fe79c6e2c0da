"""Real processes on loopback: the API (with its relay), gateway nodes, and a private Redis.

PostgreSQL is the shared server with a database of our own (dropped after); Redis is a
`redis-server` this module starts on a spare port, so that a test may stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx

from tests.relay.relay_support import RedisServer, free_port
from tests.support import SECRET, fresh_database

T = float(os.environ.get("RELIABILITY_TIMEOUT", "5"))  # every wait is a multiple of this
ROOT = Path(__file__).resolve().parents[2]


class Proc:
    """A child process with its output in a temporary log file."""

    def __init__(self, args: list[str], env: dict[str, str], name: str) -> None:
        self.args, self.env, self.name = args, env, name
        self.log = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=2 * T)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=2 * T)
            except subprocess.TimeoutExpired:
                self.kill()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Stack:
    """API + relay, N gateway nodes, private Redis, own PostgreSQL database."""

    def __init__(self, db_url: str, redis: RedisServer, nodes: int, **node_env: str) -> None:
        self.db_url = db_url
        self.redis = redis
        self.prefix = f"cs-rel-{uuid.uuid4().hex[:8]}"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        base = {
            **os.environ,
            "SECRET_KEY": SECRET,
            "REDIS_URL": redis.url,
            "CHANNEL_PREFIX": self.prefix,
        }
        self.api = Proc(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.api_port)],
            {**base, "DATABASE_URL": db_url, "EMBEDDED_GATEWAY": "0", "DB_POOL_SIZE": "5"},
            "api",
        )
        self.nodes = [
            Proc(
                [sys.executable, "-m", "realtime"],
                {
                    **base,
                    "REALTIME_HOST": "127.0.0.1",
                    "PORT": "0",
                    "API_URL": self.api_url,
                    **node_env,
                },
                f"node{i}",
            )
            for i in range(nodes)
        ]
        self.node_ports: list[int] = [0] * nodes

    async def start(self) -> None:
        self.api.start()
        for node in self.nodes:
            node.start()
        await self.api_ready()
        for i in range(len(self.nodes)):
            await self.node_ready(i)

    async def api_ready(self) -> None:
        deadline = time.monotonic() + 6 * T
        async with httpx.AsyncClient(base_url=self.api_url, timeout=T) as client:
            while time.monotonic() < deadline:
                assert self.api.alive, self.api.text()
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"API did not start: {self.api.text()}")

    async def node_ready(self, i: int) -> None:
        node = self.nodes[i]
        deadline = time.monotonic() + 4 * T
        while time.monotonic() < deadline:
            found = re.findall(r"listening on \S+:(\d+)", node.text())
            if found:
                self.node_ports[i] = int(found[-1])
                return
            assert node.alive, node.text()
            await asyncio.sleep(0.05)
        raise AssertionError(f"gateway did not start: {node.text()}")

    def ws_url(self, i: int) -> str:
        return f"ws://127.0.0.1:{self.node_ports[i]}/ws"

    async def restart_api(self) -> None:
        self.api.start()
        await self.api_ready()

    async def kill_database_backends(self) -> int:
        """pg_terminate_backend on every backend of our own database (the API's, the relay's)."""
        name = self.db_url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            return len(rows)
        finally:
            await conn.close()

    def close(self) -> None:
        """Kill everything; keep the logs of the last run under var/reliability-logs/."""
        keep = ROOT / "var" / "reliability-logs"
        keep.mkdir(parents=True, exist_ok=True)
        for proc in [self.api, *self.nodes]:
            proc.kill()
            (keep / f"{proc.name}.log").write_text(proc.text())
            proc.log.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def running_stack(nodes: int = 2, **node_env: str) -> AsyncIterator[Stack]:
    redis = RedisServer(free_port())
    await redis.start()
    try:
        async with fresh_database("cs_rel") as db_url:
            stack = Stack(db_url, redis, nodes, **node_env)
            try:
                await stack.start()
                yield stack
            finally:
                stack.close()
    finally:
        redis.stop()
