"""Arguments of `collabspace loadtest` and the command itself (imports httpx only when run)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = commands.add_parser(
        "loadtest", help="drive REST mutations and count WebSocket deliveries"
    )
    p.add_argument("--api", required=True, help="API base URL, e.g. http://127.0.0.1:8000")
    p.add_argument(
        "--gateway",
        action="append",
        required=True,
        help="gateway WebSocket URL (repeat; clients are spread round-robin)",
    )
    p.add_argument("--clients", type=int, default=20)
    p.add_argument(
        "--projects", type=int, default=4, help="projects; client i subscribes to project i mod P"
    )
    p.add_argument("--rate", type=float, default=20.0, help="mutations/s; 0 = as fast as possible")
    p.add_argument("--duration", type=float, default=5.0, help="seconds of mutations")
    p.add_argument("--users", type=int, default=0, help="member users (default min(clients, 20))")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="load-client processes (default: one per 2,500 clients, up to the cores)",
    )
    p.add_argument(
        "--drain",
        type=float,
        default=10.0,
        help="seconds to wait for the last deliveries after the mutations stop",
    )
    p.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="copied into the JSON (e.g. gateways=2) for the plotting script",
    )
    p.add_argument("--json", help="write the full result here")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def run_command(args: argparse.Namespace) -> int:
    from app.tools.loadtest.report import table, write_json
    from app.tools.loadtest.rest import SetupError
    from app.tools.loadtest.runner import LoadConfig, run

    if args.clients < 1 or args.projects < 1 or args.duration <= 0 or args.rate < 0:
        print(
            "collabspace loadtest: clients, projects and duration must be positive", file=sys.stderr
        )
        return 2
    # One line per request would drown the progress lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    labels = dict(item.split("=", 1) for item in args.label if "=" in item)
    config = LoadConfig(
        api=args.api.rstrip("/"),
        gateways=args.gateway,
        clients=args.clients,
        projects=args.projects,
        rate=args.rate,
        duration_s=args.duration,
        users=args.users,
        workers=args.workers,
        drain_s=args.drain,
        quiet=args.quiet,
        labels=labels,
    )
    try:
        result = asyncio.run(run(config))
    except SetupError as exc:
        print(f"collabspace loadtest: {exc}", file=sys.stderr)
        return 1
    print(table(result))
    if args.json:
        write_json(result, args.json)
    return 0
