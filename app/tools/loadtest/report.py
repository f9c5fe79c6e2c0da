"""The end-of-run table (human) and the JSON file (machine) of a load test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from app.tools.loadtest.stats import Histogram


def _default(value: Any) -> Any:
    if isinstance(value, Histogram):
        return None
    raise TypeError(type(value).__name__)


def write_json(result: dict[str, Any], path: str) -> None:
    Path(path).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2, default=_default))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(result: dict[str, Any]) -> str:
    c, d, lat, rest = (
        result["clients"],
        result["deliveries"],
        result["latency_ms"],
        result["rest"],
    )
    client = result["load_client"]
    rows: list[tuple[str, Any]] = [
        (
            "load average before / after",
            f"{result['load_average']['before']} / {result['load_average']['after']}",
        ),
        ("clients connected", f"{c['connected']:,} / {c['requested']:,}"),
        (
            "mutations ok / sent (errors)",
            f"{rest['ok']:,} / {rest['sent']:,} ({sum(rest['errors'].values())})",
        ),
        ("mutation rate target / achieved", f"{rest['rate_target']} / {rest['rate_achieved']}"),
        ("REST latency p50 / p99 ms", f"{_fmt(rest['p50_ms'])} / {_fmt(rest['p99_ms'])}"),
        ("deliveries expected", d["expected"]),
        ("deliveries received", d["received"]),
        ("missing", d["missing"]),
        ("duplicates", d["duplicates"]),
        ("out of order", d["out_of_order"]),
        ("deliveries/s", d["per_s"]),
        (
            "frames received (events per frame)",
            f"{d['frames']:,} ({d['received'] / max(d['frames'], 1):.1f})",
        ),
        (
            "commit-to-client ms p50 / p95 / p99 / max",
            " / ".join(_fmt(lat[k]) for k in ("p50", "p95", "p99", "max")),
        ),
        ("load client CPU per process (core share)", client["cpu_per_process"]),
        ("load client loop lag max ms", client["loop_lag_max_ms"]),
        ("driver CPU (core share)", client["driver_cpu"]),
        (
            "load client saturated",
            "YES: figures are a lower bound" if client["saturated"] else "no",
        ),
    ]
    for gateway, node in result["nodes"].items():
        rows.append(
            (
                f"node {gateway}",
                f"clients {_fmt(c['per_gateway'].get(gateway, 0))}, "
                f"connections {_fmt(node['connections'])}, RSS {_fmt(node['rss_mib'])} MiB, "
                f"CPU {_fmt(node['cpu_pct'])}%, deliveries {_fmt(node['deliveries'])}",
            )
        )
    for proc in result["busiest_processes"][:5]:
        rows.append((f"busiest: pid {proc['pid']}", f"{proc['cpu_pct']}%  {proc['cmd'][:60]}"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {_fmt(value)}" for name, value in rows)
