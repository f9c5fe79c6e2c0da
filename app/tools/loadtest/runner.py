"""One load test from start to report: fixture, clients, drive, drain, tally, server figures."""

from __future__ import annotations

import asyncio
import math
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from app.tools.loadtest import probes
from app.tools.loadtest.pool import Pool
from app.tools.loadtest.rest import MAX_IN_FLIGHT, Driver, DriveResult, Fixture, build_fixture
from app.tools.loadtest.stats import Histogram, Tally, quantile
from app.tools.loadtest.worker import ClientSpec, raise_nofile

# A load-client process above this share of one core is the bottleneck, not the servers.
SATURATED = 0.85
SETTLE_S = 1.0
# ... or whose event loop wakes up this late: deliveries then wait for the client, not the server.
LAGGING_S = 0.25


@dataclass(frozen=True, slots=True)
class LoadConfig:
    api: str
    gateways: list[str]
    clients: int = 20
    projects: int = 4
    rate: float = 20.0
    duration_s: float = 5.0
    users: int = 0
    workers: int = 0
    drain_s: float = 10.0
    quiet: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def user_count(self) -> int:
        return self.users or max(1, min(self.clients, 20))

    @property
    def worker_count(self) -> int:
        return self.workers or max(1, min(os.cpu_count() or 1, math.ceil(self.clients / 2500)))


def plan_clients(config: LoadConfig, fixture: Fixture) -> list[ClientSpec]:
    """Client i: gateway i mod K (round-robin), project i mod P, user i mod U."""
    return [
        ClientSpec(
            config.gateways[i % len(config.gateways)],
            i % config.user_count,
            f"project:{fixture.projects[i % config.projects]}",
        )
        for i in range(config.clients)
    ]


def member_pairs(config: LoadConfig) -> set[tuple[int, int]]:
    return {(i % config.user_count, i % config.projects) for i in range(config.clients)}


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _say(config: LoadConfig, text: str) -> None:
    if not config.quiet:
        print(text, file=sys.stderr, flush=True)


async def _progress(config: LoadConfig, pool: Pool, driver: Driver) -> None:
    for second in range(1, int(config.duration_s) + 2):
        await asyncio.sleep(1)
        polls = await pool.ask(("poll",), 10)
        received = sum(p["received"] for p in polls)
        r = driver.result
        _say(
            config,
            f"  t={second:3d}s  mutations sent {r.sent:7d} ok {r.ok:7d} "
            f"errors {sum(r.errors.values()):4d}  deliveries {received:10d}  "
            f"open {sum(p['open'] for p in polls):6d}",
        )


async def run(config: LoadConfig) -> dict[str, Any]:
    raise_nofile(MAX_IN_FLIGHT * 4 + 256)
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT + 8)
    async with httpx.AsyncClient(base_url=config.api, limits=limits, timeout=30) as http:
        _say(config, f"setup: {config.user_count} users, {config.projects} projects ...")
        fixture = await build_fixture(
            http, config.user_count, config.projects, member_pairs(config)
        )
        pool = Pool(config.api, fixture.tokens, plan_clients(config, fixture), config.worker_count)
        try:
            return await _measure(config, http, fixture, pool)
        finally:
            await pool.close()


async def _measure(
    config: LoadConfig, http: httpx.AsyncClient, fixture: Fixture, pool: Pool
) -> dict[str, Any]:
    load_before = probes.load_average()
    _say(
        config,
        f"connecting {config.clients} clients over {len(config.gateways)} gateways "
        f"with {len(pool.pids)} client processes ...",
    )
    connects = await pool.ask(("connect",), 120 + config.clients / 20)
    connected = sum(c["connected"] for c in connects)
    _say(
        config,
        f"connected {connected}/{config.clients} in {max(c['seconds'] for c in connects):.1f} s",
    )
    await asyncio.sleep(SETTLE_S)
    nodes_before = await probes.scrape(http, config.gateways)
    procs_before = probes.snapshot_processes()
    polls_before = await pool.ask(("poll",), 10)
    cpu_before, wall_before = _cpu_self(), time.monotonic()
    driver = Driver(http, fixture, config.rate, config.duration_s)
    progress = asyncio.create_task(_progress(config, pool, driver))
    try:
        drive = await driver.run()
    finally:
        progress.cancel()
        await asyncio.gather(progress, return_exceptions=True)
    expected = {f"project:{fixture.projects[p]}": sorted(ps) for p, ps in drive.positions.items()}
    _say(config, f"waiting up to {config.drain_s:.0f} s for the last deliveries ...")
    reports = await pool.ask(("expect", expected, config.drain_s), config.drain_s + 60)
    wall = time.monotonic() - wall_before
    cpu_parent = _cpu_self() - cpu_before
    procs_after = probes.snapshot_processes()
    nodes_after = await probes.scrape(http, config.gateways)
    return _result(
        config,
        connects,
        drive,
        reports,
        polls_before,
        {
            "wall_s": wall,
            "parent_cpu_s": cpu_parent,
            "load_before": load_before,
            "load_after": probes.load_average(),
            "nodes_before": nodes_before,
            "nodes_after": nodes_after,
            "busiest": probes.busiest(procs_before, procs_after),
        },
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _result(
    config: LoadConfig,
    connects: list[dict[str, Any]],
    drive: DriveResult,
    reports: list[dict[str, Any]],
    polls_before: list[dict[str, Any]],
    window: dict[str, Any],
) -> dict[str, Any]:
    tally, latency = Tally(), Histogram()
    for report in reports:
        tally.merge(report["tally"])
        latency.merge(report["latency"])
    last_at = max((r["last_at"] for r in reports), default=0.0)
    span = max(last_at - drive.started_at, 1e-6)
    wall = window["wall_s"]
    worker_cpu = [
        (r["cpu_s"] - b["cpu_s"]) / wall for r, b in zip(reports, polls_before, strict=True)
    ]
    per_gateway: dict[str, int] = {}
    for c in connects:
        for gateway, n in c["per_gateway"].items():
            per_gateway[gateway] = per_gateway.get(gateway, 0) + n
    errors: dict[str, int] = {}
    for c in connects:
        for key, n in c["errors"].items():
            errors[key] = errors.get(key, 0) + n
    return {
        "config": {k: v for k, v in asdict(config).items() if k != "quiet"},
        "load_average": {"before": window["load_before"], "after": window["load_after"]},
        "clients": {
            "requested": config.clients,
            "connected": sum(per_gateway.values()),
            "per_gateway": per_gateway,
            "connect_errors": errors,
            "closed_during_run": _sum_dicts(r["closes"] for r in reports),
        },
        "deliveries": {
            **tally.as_dict(),
            "per_s": round(tally.received / span, 1),
            "frames": sum(
                r["frames"] - b["frames"] for r, b in zip(reports, polls_before, strict=True)
            ),
            "bytes": sum(
                r["bytes"] - b["bytes"] for r, b in zip(reports, polls_before, strict=True)
            ),
            "drain_s": round(max(r["drain_s"] for r in reports), 2),
        },
        "latency_ms": {
            "p50": _ms(latency.quantile(0.5)),
            "p95": _ms(latency.quantile(0.95)),
            "p99": _ms(latency.quantile(0.99)),
            "max": _ms(latency.max_s),
        },
        "rest": {
            "sent": drive.sent,
            "ok": drive.ok,
            "errors": drive.errors,
            "rate_target": config.rate,
            "rate_achieved": round(drive.ok / drive.seconds, 1),
            "p50_ms": _ms(quantile(drive.latencies, 0.5)),
            "p99_ms": _ms(quantile(drive.latencies, 0.99)),
        },
        "load_client": {
            "processes": len(reports),
            "cpu_per_process": [round(x, 2) for x in worker_cpu],
            "driver_cpu": round(window["parent_cpu_s"] / wall, 2),
            "loop_lag_max_ms": [_ms(r["lag_max_s"]) for r in reports],
            "saturated": any(x > SATURATED for x in worker_cpu)
            or any(r["lag_max_s"] > LAGGING_S for r in reports)
            or window["parent_cpu_s"] / wall > SATURATED,
        },
        "nodes": _nodes(window["nodes_before"], window["nodes_after"], wall),
        "busiest_processes": window["busiest"],
    }


def _sum_dicts(items: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for item in items:
        for key, n in item.items():
            total[key] = total.get(key, 0) + n
    return total


def _nodes(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], wall: float
) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for gateway, now in after.items():
        then = before.get(gateway, {})

        def delta(
            key: str, now: dict[str, float] = now, then: dict[str, float] = then
        ) -> float | None:
            return now[key] - then.get(key, 0.0) if key in now else None

        cpu = delta("cpu_s")
        rss = now.get("rss_bytes")
        out[gateway] = {
            "connections": then.get("connections"),
            "rss_mib": None if rss is None else round(rss / 2**20, 1),
            "cpu_pct": None if cpu is None else round(100 * cpu / wall, 1),
            "deliveries": delta("deliveries"),
            "frames_out": delta("frames_out"),
            "bytes_out": delta("bytes_out"),
            "closes": delta("closes"),
        }
    return out
