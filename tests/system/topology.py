"""The recommended deployment as separate OS processes, each started by its Procfile line.

- release: `collabspace migrate` as the owner (DATABASE_URL), into a database of our own;
- web: `collabspace serve` with APP_DATABASE_URL = the same database as `collabspace_app`
  (row-level security) and RUN_PROJECTIONS=0 RUN_RELAY=0;
- worker: `python -m app.worker` (relay and projections);
- two gateway nodes: `collabspace gateway`, each on a free port of its own.

PostgreSQL is the shared server (a fresh database per topology, dropped after). Redis is the
shared one with a channel prefix of our own, or a private `redis-server` that a test may stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx

from app.kernel.db import make_engine
from tests.relay.relay_support import RedisServer, free_port
from tests.reliability.stack import Proc
from tests.support import ADMIN_URL, REDIS_URL, SECRET, _url_for, app_url_for

T = float(os.environ.get("SYSTEM_TIMEOUT", "5"))  # every wait is a multiple of this
ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "var" / "system-logs"
# What the processes read; dropped from the inherited environment so that only ours count.
OURS = (
    "DATABASE_URL",
    "APP_DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "CHANNEL_PREFIX",
    "PORT",
    "HOST",
    "REALTIME_HOST",
    "REALTIME_PORT",
    "REALTIME_PUBLIC_URL",
    "API_URL",
    "RUN_RELAY",
    "RUN_PROJECTIONS",
    "EMBEDDED_GATEWAY",
)


def collabspace() -> list[str]:
    """The `collabspace` console script installed beside this interpreter (Procfile's command)."""
    script = Path(sys.executable).parent / "collabspace"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def procfile(name: str) -> tuple[list[str], dict[str, str]]:
    """The Procfile's `name` process as a platform runs it: leading NAME=value words are its
    environment, the rest its command. The one change: `--host 0.0.0.0` listens on loopback
    here, a shared test machine."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() != name:
            continue
        words = shlex.split(command)
        env: dict[str, str] = {}
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            var, _, value = words.pop(0).partition("=")
            env[var] = value
        program = {"collabspace": collabspace(), "python": [sys.executable]}.get(words[0])
        argv = [*(program or words[:1]), *words[1:]]
        return [("127.0.0.1" if w == "0.0.0.0" else w) for w in argv], env
    raise AssertionError(f"the Procfile has no {name!r} process")


def plain(url: str) -> str:
    """An SQLAlchemy URL as asyncpg takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


class Topology:
    """release, web, worker and two gateway nodes; duck-types tests.reliability.stack.Stack."""

    def __init__(self, db_url: str, redis_url: str, name: str, nodes: int = 2) -> None:
        self.db_url = db_url  # the owner's (DATABASE_URL)
        self.app_db_url = app_url_for(db_url)
        self.redis_url = redis_url
        self.name = name
        self.prefix = f"cs-sys-{uuid.uuid4().hex[:8]}"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.node_ports = [free_port() for _ in range(nodes)]
        self.http_clients: list[httpx.AsyncClient] = []  # the tests' browsers, closed at the end
        base = {k: v for k, v in os.environ.items() if k not in OURS}
        base.update(SECRET_KEY=SECRET, REDIS_URL=redis_url, CHANNEL_PREFIX=self.prefix)
        # Each process exactly as the Procfile runs it, with the settings the README lists.
        self.release = self._proc("release", {"DATABASE_URL": db_url}, base)
        self.web = self._proc(
            "web",
            {
                "DATABASE_URL": db_url,
                "APP_DATABASE_URL": self.app_db_url,
                "PORT": str(self.api_port),
                "DB_POOL_SIZE": "10",
                "REALTIME_PUBLIC_URL": f"ws://127.0.0.1:{self.node_ports[0]}/ws",
            },
            base,
        )
        self.worker = self._proc("worker", {"DATABASE_URL": db_url}, base)
        self.nodes = [
            self._proc("realtime", {"API_URL": self.api_url, "PORT": str(port)}, base, f"node{i}")
            for i, port in enumerate(self.node_ports)
        ]

    def _proc(
        self, kind: str, env: dict[str, str], base: dict[str, str], label: str | None = None
    ) -> Proc:
        argv, fixed = procfile(kind)
        return Proc(argv, {**base, **env, **fixed}, f"{self.name}-{label or kind}")

    @property
    def processes(self) -> list[Proc]:
        return [self.web, self.worker, *self.nodes]

    def ws_url(self, i: int) -> str:
        return f"ws://127.0.0.1:{self.node_ports[i]}/ws"

    async def start(self) -> None:
        self.release.start()
        assert self.release.proc is not None
        code = await asyncio.to_thread(self.release.proc.wait, 12 * T)
        assert code == 0, f"release (collabspace migrate) exited {code}: {self.release.text()}"
        for proc in self.processes:
            proc.start()
        await self.api_ready()
        await self.worker_ready()
        for i in range(len(self.nodes)):
            await self.node_ready(i)

    async def api_ready(self) -> None:
        await _until_200(f"{self.api_url}/readyz", self.web, 8 * T)

    async def node_ready(self, i: int) -> None:
        await _until_200(f"http://127.0.0.1:{self.node_ports[i]}/healthz", self.nodes[i], 4 * T)
        # Told --host 127.0.0.1 (the Procfile's 0.0.0.0, here), it listens on loopback only.
        found = re.findall(r"gateway listening on (\S+):(\d+)", self.nodes[i].text())
        assert found and found[-1] == ("127.0.0.1", str(self.node_ports[i])), found

    async def worker_ready(self) -> None:
        """The worker's relay leads (it logs so once it holds the advisory lock)."""
        deadline = time.monotonic() + 6 * T
        while not re.search(r"relay \S+ leads from position", self.worker.text()):
            assert self.worker.alive, f"worker exited: {self.worker.text()}"
            assert time.monotonic() < deadline, f"worker relay never led: {self.worker.text()}"
            await asyncio.sleep(0.05)

    async def restart_node(self, i: int) -> None:
        self.nodes[i].start()  # the same command, env and port
        await self.node_ready(i)

    async def metrics(self, i: int, *names: str) -> dict[str, float]:
        """Counters of gateway node `i` from its /metrics (summed over labels; 0 if down)."""
        url = f"http://127.0.0.1:{self.node_ports[i]}/metrics"
        try:
            async with httpx.AsyncClient(timeout=T) as client:
                text = (await client.get(url)).text
        except httpx.HTTPError:
            return {}
        found = dict.fromkeys(names, 0.0)
        for line in text.splitlines():
            for name in names:
                if line.startswith(f"collabspace_gateway_{name}_total"):
                    found[name] += float(line.rsplit(" ", 1)[1])
        return found

    async def head(self) -> int:
        conn = await asyncpg.connect(plain(self.db_url))
        try:
            return int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM event"))
        finally:
            await conn.close()

    async def project_positions(self, project: str, after: int = 0) -> list[int]:
        """The store's sequence for a project channel, read as the owner."""
        conn = await asyncpg.connect(plain(self.db_url))
        try:
            rows = await conn.fetch(
                "SELECT position FROM event WHERE project_id = $1 AND position > $2 "
                "ORDER BY position",
                uuid.UUID(project),
                after,
            )
            return [int(r["position"]) for r in rows]
        finally:
            await conn.close()

    async def close(self) -> None:
        """SIGTERM to every process at once, SIGKILL what is left after a bound; keep the logs
        under var/system-logs/ (a process that needed SIGKILL is named in its log).

        The waiting runs in a thread: the event loop must keep running so that clients still
        open answer the nodes' closing handshakes (1012) instead of holding their drain."""
        for client in self.http_clients:
            await client.aclose()
        await asyncio.to_thread(self._stop_all)

    def _stop_all(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        running = [p for p in self.processes if p.alive]
        for proc in running:
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 2 * T
        for proc in running:
            assert proc.proc is not None
            try:
                proc.proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                proc.kill()
                with proc.log.open("a") as log:
                    log.write(
                        f"\n[system tests] {proc.name} ignored SIGTERM for {2 * T}s: SIGKILL\n"
                    )
        for proc in [self.release, *self.processes]:
            assert proc.proc is None or proc.proc.poll() is not None, f"{proc.name} survived"
            (LOGS / f"{proc.name}.log").write_text(proc.text())
            proc.log.unlink(missing_ok=True)


async def _until_200(url: str, proc: Proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    async with httpx.AsyncClient(timeout=T) as client:
        while time.monotonic() < deadline:
            assert proc.alive, f"{proc.name} exited: {proc.text()}"
            try:
                response = await client.get(url)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            await asyncio.sleep(0.1)
    raise AssertionError(f"{proc.name}: {url} not 200 after {timeout}s ({last}): {proc.text()}")


@contextlib.asynccontextmanager
async def empty_database(prefix: str = "cs_sys") -> AsyncIterator[str]:
    """A database of our own on the shared server, left empty for the release step; dropped."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(ADMIN_URL)
    try:
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield _url_for(name)
        finally:
            async with admin.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


@contextlib.asynccontextmanager
async def running(name: str, redis_url: str = REDIS_URL) -> AsyncIterator[Topology]:
    async with empty_database() as db_url:
        topology = Topology(db_url, redis_url, name)
        try:
            await topology.start()
            yield topology
        finally:
            await topology.close()


# A private redis-server the fault tests stop and restart (the shared one is never touched).
OwnRedis = RedisServer


@contextlib.asynccontextmanager
async def running_with_own_redis(name: str) -> AsyncIterator[tuple[Topology, OwnRedis]]:
    redis = OwnRedis()
    await redis.start()
    try:
        async with running(name, redis.url) as topology:
            yield topology, redis
    finally:
        redis.stop()
        shutil.rmtree(redis.dir, ignore_errors=True)
