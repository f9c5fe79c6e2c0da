"""One Markdown table row per `collabspace loadtest --json` file (for docs/benchmarks.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(path: str) -> str:
    r = json.loads(Path(path).read_text())
    c, d, lat, rest = r["clients"], r["deliveries"], r["latency_ms"], r["rest"]
    nodes = r["nodes"].values()
    cpu = "/".join(f"{n['cpu_pct']:.0f}" for n in nodes if n["cpu_pct"] is not None)
    rss = "/".join(f"{n['rss_mib']:.0f}" for n in nodes if n["rss_mib"] is not None)
    client = r["load_client"]
    return (
        f"| {len(r['config']['gateways'])} | {c['connected']:,}/{c['requested']:,} "
        f"| {r['config']['projects']} | {rest['rate_target']:g}/{rest['rate_achieved']:g} "
        f"| {d['expected']:,} | {d['missing']:,} | {d['duplicates']} | {d['out_of_order']} "
        f"| {d['per_s']:,.0f} | {lat['p50']} / {lat['p99']} / {lat['max']} "
        f"| {rest['p50_ms']} / {rest['p99_ms']} ({sum(rest['errors'].values())} err) "
        f"| {cpu} | {rss} | {'/'.join(str(x) for x in client['cpu_per_process'])}"
        f"{' **sat**' if client['saturated'] else ''} "
        f"| {r['load_average']['before'][0]}→{r['load_average']['after'][0]} |"
    )


HEADER = (
    "| K | clients | projects | rate target/achieved | expected | missing | dup | ooo "
    "| deliveries/s | latency p50/p99/max ms | REST p50/p99 ms | node CPU % | node RSS MiB "
    "| client CPU (cores) | load avg |\n|" + "---|" * 15
)

if __name__ == "__main__":
    print(HEADER)
    for name in sys.argv[1:]:
        print(row(name))
