"""The Node load client (benchmarks/node/load_client.js) as a child process of a Python benchmark.

One Node process reads every socket; Python only tells it when to report. It is started with a
JSON configuration (protocol, ports, tickets, channels), connects everything 200 handshakes at a
time, and answers each `mark` with what arrived since the previous one (see load_client.js).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("node") / "load_client.js"


def node_binary() -> str:
    found = shutil.which("node")
    if found is None:
        raise SystemExit("the load client needs Node.js (node 20) on PATH")
    return found


class NodeLoadClient:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.proc: asyncio.subprocess.Process | None = None
        fd, name = tempfile.mkstemp(prefix="bench-node-client-", suffix=".json")
        with os.fdopen(fd, "w") as out:
            json.dump(config, out)
        self._config_path = Path(name)

    async def start(self, timeout: float = 300.0) -> dict[str, Any]:
        """Connect every client; returns the `ready` line (connected, failed, seconds)."""
        self.proc = await asyncio.create_subprocess_exec(
            node_binary(),
            str(SCRIPT),
            str(self._config_path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**20,
        )
        return await asyncio.wait_for(self._line(), timeout)

    async def mark(self) -> dict[str, Any]:
        """What arrived since the previous mark (or since ready), and the running totals."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"mark\n")
        await self.proc.stdin.drain()
        return await asyncio.wait_for(self._line(), 60)

    async def wait_for_count(self, count: int, timeout: float) -> dict[str, Any]:
        """Wait until every client has `count` events (or time is up), then mark: the report
        covers everything since the previous mark, late arrivals included."""
        assert self.proc is not None and self.proc.stdin is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            self.proc.stdin.write(b"status\n")
            await self.proc.stdin.drain()
            if (await asyncio.wait_for(self._line(), 60))["count_min"] >= count:
                break
            await asyncio.sleep(0.2)
        return await self.mark()

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"quit\n")
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._config_path.unlink(missing_ok=True)

    async def _line(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the Node load client exited")
        return dict(json.loads(line))
