"""Server-side figures: each gateway's /metrics, and (on Linux) CPU per process on this host."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", re.M)
WANTED = {
    "collabspace_gateway_connections": "connections",
    "collabspace_gateway_subscriptions": "subscriptions",
    "collabspace_gateway_deliveries_total": "deliveries",
    "collabspace_gateway_messages_out_total": "frames_out",
    "collabspace_gateway_bytes_out_total": "bytes_out",
    "process_resident_memory_bytes": "rss_bytes",
    "process_cpu_seconds_total": "cpu_s",
    "process_open_fds": "open_fds",
}


def metrics_url(gateway: str) -> str:
    """ws://host:port/ws -> http://host:port/metrics (same port, section 8 of the protocol)."""
    parts = urlsplit(gateway)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}/metrics"


def parse_metrics(text: str) -> dict[str, float]:
    """The unlabelled samples we report, renamed; labelled series are summed (drops, closes)."""
    found: dict[str, float] = {}
    for name, labels, value in _SAMPLE.findall(text):
        if name in WANTED and not labels:
            found[WANTED[name]] = float(value)
        elif name in ("collabspace_gateway_closes_total", "collabspace_gateway_drops_total"):
            key = name.removeprefix("collabspace_gateway_").removesuffix("_total")
            found[key] = found.get(key, 0.0) + float(value)
    return found


async def scrape(http: httpx.AsyncClient, gateways: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for gateway in gateways:
        try:
            reply = await http.get(metrics_url(gateway), timeout=5)
            out[gateway] = parse_metrics(reply.text) if reply.status_code == 200 else {}
        except httpx.HTTPError:
            out[gateway] = {}
    return out


@dataclass(frozen=True, slots=True)
class ProcSnapshot:
    at: float
    ticks: dict[int, tuple[str, int]]


_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def snapshot_processes() -> ProcSnapshot:
    """utime+stime of every process on the host (empty where /proc is missing)."""
    ticks: dict[int, tuple[str, int]] = {}
    root = Path("/proc")
    if root.is_dir():
        for entry in root.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
            except OSError:
                continue
            head, _, tail = stat.rpartition(")")
            fields = tail.split()
            ticks[int(entry.name)] = (
                cmd.strip() or head.split("(", 1)[-1],
                int(fields[11]) + int(fields[12]),
            )
    return ProcSnapshot(time.monotonic(), ticks)


def busiest(before: ProcSnapshot, after: ProcSnapshot, top: int = 8) -> list[dict[str, object]]:
    """The processes that used the most CPU between two snapshots, as % of one core."""
    wall = max(after.at - before.at, 1e-6)
    rows = []
    for pid, (cmd, ticks) in after.ticks.items():
        used = ticks - before.ticks[pid][1] if pid in before.ticks else ticks
        rows.append({"pid": pid, "cmd": cmd, "cpu_pct": round(100 * used / _CLK / wall, 1)})
    rows.sort(key=lambda r: float(str(r["cpu_pct"])), reverse=True)
    return rows[:top]


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []
