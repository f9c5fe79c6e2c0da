"""Test helpers: mint tickets like the API, publish envelopes like the relay, run real nodes."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
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
from websockets.exceptions import ConnectionClosed

from realtime import envelope as wire

SECRET = "test-secret-key-that-is-long-enough"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T = 5.0  # every timeout in these tests is a multiple of this


def new_id() -> str:
    return str(uuid.uuid4())


def mint(
    tenant: str,
    user: str,
    *,
    role: str = "member",
    projects: list[str] | None = None,
    ttl: int = 60,
    secret: str = SECRET,
    **override: Any,
) -> str:
    """A realtime ticket as the API issues it."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "typ": "realtime",
        "sub": user,
        "tid": tenant,
        "role": role,
        "name": "Test User",
        "projects": projects or [],
        "iat": now,
        "exp": now + ttl,
        "jti": new_id(),
    }
    claims.update(override)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm="HS256")


class Relay:
    """Stands in for the relay: publishes on every channel, tracking `prev` per channel."""

    _positions = itertools.count(1)

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.prev: dict[str, int] = {}

    def event(
        self,
        tenant: str,
        project: str | None,
        type: str = "TaskMoved",
        user: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> wire.Envelope:
        pos = next(self._positions)
        return wire.Envelope(
            position=pos,
            stream=f"task-{new_id()}",
            version=1,
            type=type,
            time=datetime.now(UTC).isoformat(),
            tenant=tenant,
            project=project,
            user=user,
            correlation=None,
            data=data or {"n": pos},
        )

    async def publish(self, *envs: wire.Envelope) -> list[wire.Envelope]:
        pipe = self.redis.pipeline(transaction=False)
        for env in envs:
            for ch in wire.channels_for(self.prefix, env):
                pipe.publish(ch, wire.encode(env.on_channel(ch, self.prev.get(ch))))
                self.prev[ch] = env.position
        await pipe.execute()
        return list(envs)


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.stash: list[dict[str, Any]] = []
        self.side: list[dict[str, Any]] = []
        self.welcome: dict[str, Any] = {}
        self._ids = itertools.count(1)

    @classmethod
    async def open(cls, port: int, ticket: str | None = None, **kw: Any) -> Client:
        client = cls(await connect(f"ws://127.0.0.1:{port}/ws", open_timeout=T, **kw))
        if ticket is not None:
            await client.send({"type": "auth", "ticket": ticket})
            client.welcome = await client.recv()
            assert client.welcome["type"] == "welcome", client.welcome
        return client

    async def send(self, obj: Any) -> None:
        await self.ws.send(orjson.dumps(obj).decode())

    async def recv(self, timeout: float = T) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        obj: dict[str, Any] = orjson.loads(raw)
        return obj

    async def reply(self, timeout: float = T) -> dict[str, Any]:
        """The next frame that is not an event batch (batches are kept for `events`)."""
        while True:
            frame = await self.recv(timeout)
            if frame["type"] in ("presence", "broadcast"):
                self.side.append(frame)  # presence and ephemeral frames: see `side`
                continue
            if frame["type"] != "events":
                return frame
            self.stash.append(frame)

    async def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("id", next(self._ids))
        await self.send(obj)
        return await self.reply()

    async def subscribe(self, channel: str) -> dict[str, Any]:
        ack = await self.request({"type": "subscribe", "channel": channel})
        assert ack["type"] == "ack" and ack["channel"] == channel, ack
        return ack

    async def events(self, channel: str, count: int, timeout: float = T) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(got) < count:
            if self.stash:
                frame = self.stash.pop(0)
            else:
                left = deadline - asyncio.get_running_loop().time()
                frame = await self.recv(max(left, 0.001))
            if frame["type"] == "events" and frame["channel"] == channel:
                got.extend(frame["events"])
            elif frame["type"] in ("presence", "broadcast"):
                self.side.append(frame)
        return got

    async def nothing_more(self, wait: float = 0.3) -> None:
        """Assert that no event frame arrives within `wait` seconds."""
        assert not [f for f in self.stash if f["type"] == "events"], self.stash
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            try:
                frame = await self.recv(max(deadline - asyncio.get_running_loop().time(), 0.001))
            except TimeoutError:
                return
            if frame["type"] in ("presence", "broadcast"):
                self.side.append(frame)
                continue
            raise AssertionError(f"unexpected frame {frame}")

    async def closed(self, timeout: float = T) -> tuple[int | None, str | None]:
        """Read until the server closes; return (code, reason)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        except ConnectionClosed:
            pass
        rcvd = self.ws.protocol.close_rcvd
        return (rcvd.code, rcvd.reason) if rcvd else (None, None)

    async def close(self) -> None:
        await self.ws.close()


class Node:
    """A real gateway process: `python -m realtime` (or `command`) with env, on a free port."""

    def __init__(self, prefix: str, command: list[str] | None = None, **env: str) -> None:
        self.log = Path(tempfile.mkstemp(prefix="gateway-", suffix=".log")[1])
        full = {
            **os.environ,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": SECRET,
            "REALTIME_HOST": "127.0.0.1",
            "PORT": "0",
            "CHANNEL_PREFIX": prefix,
            "AUTH_TIMEOUT_SECONDS": "1",
            **env,
        }
        full.pop("REALTIME_PORT", None)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command or [sys.executable, "-m", "realtime"],
                env=full,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.port = 0

    async def ready(self) -> Node:
        deadline = time.monotonic() + 2 * T
        while time.monotonic() < deadline:
            found = re.search(r"listening on \S+:(\d+)", self.log.read_text())
            if found:
                self.port = int(found.group(1))
                return self
            assert self.proc.poll() is None, self.log.read_text()
            await asyncio.sleep(0.05)
        raise AssertionError(f"gateway did not start: {self.log.read_text()}")

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    async def exit_code(self, timeout: float = 2 * T) -> int | None:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.proc.poll()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.unlink(missing_ok=True)

    async def http_get(self, path: str) -> tuple[int, str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), T)
        writer.close()
        head, _, body = data.decode().partition("\r\n\r\n")
        return int(head.split()[1]), body

    async def metric(self, name: str) -> float:
        _, body = await self.http_get("/metrics")
        found = re.search(rf"^{re.escape(name)} (\S+)$", body, re.M)
        return float(found.group(1)) if found else 0.0
