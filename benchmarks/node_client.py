"""The Node load client (benchmarks/node/load_client.js) as child processes of a Python benchmark.

Node processes read every socket (one by default; `processes=2` splits the connections between
two, connection i still on node i % 2, so that one process's queue cannot be what is measured);
Python only tells them when to report and merges their reports. It is started with a
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

    async def wait_until(self, count: int, timeout: float) -> None:
        """Until every client of this process has `count` events, or time is up."""
        assert self.proc is not None and self.proc.stdin is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            self.proc.stdin.write(b"status\n")
            await self.proc.stdin.drain()
            if (await asyncio.wait_for(self._line(), 60))["count_min"] >= count:
                return
            await asyncio.sleep(0.2)

    async def wait_for_count(self, count: int, timeout: float) -> dict[str, Any]:
        """Wait as `wait_until`, then mark: the report covers everything since the previous
        mark, late arrivals included."""
        await self.wait_until(count, timeout)
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


STEP_MS = 0.1  # node/histogram.js's bucket width


class LoadClients:
    """Connections 0..n-1 spread over `processes` Node load clients (round robin), with
    merged reports: latency percentiles from the summed histograms, CPU summed over processes."""

    def __init__(self, config: dict[str, Any], processes: int = 1) -> None:
        n = config.get("count") or len(config.get("tickets") or config["channels"])
        ports = config["ports"]
        self.parts = []
        for j in range(processes):
            mine = range(j, n, processes)
            part = {k: v for k, v in config.items() if k not in ("tickets", "channels", "count")}
            part["count"] = len(mine)
            part["inflight"] = max(1, config.get("inflight", 200) // processes)
            part["conn_ports"] = [ports[i % len(ports)] for i in mine]
            part["channels"] = [config["channels"][i] for i in mine]
            if config.get("tickets"):
                part["tickets"] = [config["tickets"][i] for i in mine]
            self.parts.append(NodeLoadClient(part))

    async def start(self, timeout: float = 300.0) -> dict[str, Any]:
        readies = await asyncio.gather(*(p.start(timeout) for p in self.parts))
        return {
            "connected": sum(r["connected"] for r in readies),
            "failed": sum(r["failed"] for r in readies),
            "seconds": max(r["seconds"] for r in readies),
            "connect_ms": [ms for r in readies for ms in r.get("connect_ms", [])],
        }

    async def mark(self) -> dict[str, Any]:
        return merge(list(await asyncio.gather(*(p.mark() for p in self.parts))))

    async def wait_for_count(self, count: int, timeout: float) -> dict[str, Any]:
        # Each waits for its own clients; then one mark each, all covering the same window.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for part in self.parts:
            await part.wait_until(count, max(0.0, deadline - loop.time()))
        return await self.mark()

    def pids(self) -> list[int]:
        return [p.pid() for p in self.parts]

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.parts))


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    buckets: dict[int, float] = {}
    for r in reports:
        for i, c in r["latency_sparse"]:
            buckets[i] = buckets.get(i, 0.0) + c
    n = sum(buckets.values())
    top = max((r["latency_ms"]["max"] or 0.0) for r in reports)

    def quantile(q: float) -> float | None:
        if not n:
            return None
        rank, seen = q * n, 0.0
        for i in sorted(buckets):
            seen += buckets[i]
            if seen >= rank:
                return top if i == 100_000 else (i + 1) * STEP_MS
        return top

    return {
        "seconds": max(r["seconds"] for r in reports),
        "frames": sum(r["frames"] for r in reports),
        "events": sum(r["events"] for r in reports),
        "latency_ms": {
            "n": int(n),
            "p50": quantile(0.5),
            "p90": quantile(0.9),
            "p99": quantile(0.99),
            "max": top if n else None,
        },
        "cpu_percent": sum(r["cpu_percent"] for r in reports),
        "count_min": min(r["count_min"] for r in reports),
        "count_max": max(r["count_max"] for r in reports),
        "position_sum_min": min(r["position_sum_min"] for r in reports),
        "position_sum_max": max(r["position_sum_max"] for r in reports),
        "failures": sum(r["failures"] for r in reports),
        "failure_samples": [s for r in reports for s in r["failure_samples"]][:5],
        "closed_early": sum(r["closed_early"] for r in reports),
    }
