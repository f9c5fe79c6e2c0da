"""Shared pieces of the gateway benchmarks: nodes as real processes, tickets, CPU and RSS probes.

These are scripts, not tests. The load client (and the publisher standing in for the relay) run
on the same 2-core machine as the gateway nodes and Redis, so every script reports their CPU too.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import orjson
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

from realtime import envelope as wire

SECRET = "benchmark-secret-key-that-is-long-enough"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CLK = os.sysconf("SC_CLK_TCK")


def connect_phase(connect_ms: list[float], seconds: float) -> str:
    """The connect storm in one line: connections accepted per second over the whole storm, and
    each connection's time from its TCP connect to subscribed (upgrade, auth, welcome, subscribe
    acknowledged), p50 / p99 / max."""
    if not connect_ms:
        return "no connection completed"
    ordered = sorted(connect_ms)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(p * len(ordered) + 0.5) - 1))]

    return (
        f"{len(ordered):,} subscribed in {seconds:.1f} s = {len(ordered) / seconds:,.0f} "
        f"connections/s; connect to subscribed p50 {q(0.5):.0f} ms, p99 {q(0.99):.0f} ms, "
        f"max {ordered[-1]:.0f} ms"
    )


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def new_id() -> str:
    return str(uuid.uuid4())


def ticket(tenant: str, user: str, projects: list[str]) -> str:
    now = int(time.time())
    return jwt.encode(
        {
            "typ": "realtime",
            "sub": user,
            "tid": tenant,
            "role": "member",
            "name": "bench",
            "projects": projects,
            "iat": now,
            "exp": now + 600,
            "jti": new_id(),
        },
        SECRET,
        algorithm="HS256",
    )


class Node:
    def __init__(self, prefix: str, command: list[str] | None = None, **env: str) -> None:
        self.log = Path(tempfile.mkstemp(prefix="bench-gateway-", suffix=".log")[1])
        full = {
            **os.environ,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": SECRET,
            "REALTIME_HOST": "127.0.0.1",
            "PORT": "0",
            "CHANNEL_PREFIX": prefix,
            "MAX_CONNECTIONS": "100000",
            "DRAIN_SECONDS": "0.5",
            **env,
        }
        with self.log.open("wb") as out:
            # The node raises its own fd limit by inheriting ours (raised before spawning).
            self.proc = subprocess.Popen(
                command or [sys.executable, "-m", "realtime", "--log-level", "WARNING"],
                env=full,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.port = 0
        # A benchmark that dies of an exception still stops the nodes it started.
        atexit.register(self.stop_if_running)

    def stop_if_running(self) -> None:
        if self.proc.poll() is None:
            self.stop()

    async def ready(self) -> Node:
        # Logged at INFO; we run at WARNING, so probe the port through the log of uvicorn-less
        # start: fall back to reading /proc for the listening socket.
        for _ in range(200):
            port = _listening_port(self.proc.pid)
            if port:
                self.port = port
                return self
            await asyncio.sleep(0.05)
        raise RuntimeError(self.log.read_text())

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def rss_kib(self) -> int:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", text).group(1))  # type: ignore[union-attr]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.unlink(missing_ok=True)


def _listening_port(pid: int) -> int:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "0A" and parts[9] in inodes:  # 0A = LISTEN
            return int(parts[1].split(":")[1], 16)
    return 0


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def open_client(port: int, tkt: str | None, channel: str | None) -> ClientConnection:
    """A connected client; authenticated and subscribed unless `tkt` is None (the bare relay)."""
    ws = await connect(
        f"ws://127.0.0.1:{port}/ws",
        compression=None,
        open_timeout=60,
        ping_interval=None,
        max_size=2**24,
    )
    if tkt is None:
        return ws
    await ws.send(orjson.dumps({"type": "auth", "ticket": tkt}).decode())
    assert orjson.loads(await ws.recv())["type"] == "welcome"
    if channel is not None:
        await ws.send(orjson.dumps({"type": "subscribe", "id": 1, "channel": channel}).decode())
        reply = orjson.loads(await ws.recv())
        assert reply["type"] == "ack", reply
    return ws


async def open_many(
    n: int,
    port_of: Any,
    tenant: str,
    project: str | None,
    shared_user: bool = False,
    bare: bool = False,
) -> list[ClientConnection]:
    sem = asyncio.Semaphore(100)
    user = new_id()

    async def one(i: int) -> ClientConnection:
        async with sem:
            if bare:
                return await open_client(port_of(i), None, None)
            tkt = ticket(tenant, user if shared_user else new_id(), [project] if project else [])
            return await open_client(port_of(i), tkt, f"project:{project}" if project else None)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def envelope(
    prefix: str, tenant: str, project: str, position: int, prev: int | None, pad: int = 0
) -> tuple[str, bytes]:
    env = wire.Envelope(
        position=position,
        stream=f"task-{project}",
        version=position,
        type="TaskMoved",
        time=datetime.now(UTC).isoformat(),
        tenant=tenant,
        project=project,
        user=None,
        correlation=None,
        data={"task_id": project, "status": "done", "pad": "x" * pad},
    )
    channel = wire.project_channel(prefix, tenant, project)
    return channel, wire.encode(env.on_channel(channel, prev))


def redis_client() -> aioredis.Redis:
    return aioredis.from_url(REDIS_URL)


async def latency_buckets(port: int) -> dict[float, float]:
    """The node's own commit-to-send histogram (cumulative bucket counts by upper bound)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    body = (await reader.read()).decode()
    writer.close()
    found = re.findall(
        r'collabspace_gateway_commit_to_send_seconds_bucket\{le="([^"]+)"\} (\S+)', body
    )
    return {float(le): float(n) for le, n in found}


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """Upper bound of the bucket holding quantile q of the observations between two scrapes."""
    diff = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = diff[-1][1] if diff else 0.0
    for le, n in diff:
        if total and n >= q * total:
            return le
    return float("nan")


def tear_down(
    readers: list[asyncio.Task[None]], clients: list[ClientConnection], nodes: list[Node]
) -> None:
    """Stop reading, drop every client connection at once, and stop the nodes."""
    for reader in readers:
        reader.cancel()
    for ws in clients:
        ws.transport.abort()
    for node in nodes:
        node.stop()
