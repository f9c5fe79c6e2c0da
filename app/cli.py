"""The `collabspace` command: serve, migrate, and the operational sub-commands."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from typing import Any

from app.settings import Settings, SettingsError


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.main import create_app

    if args.port and "REALTIME_PORT" not in os.environ:
        # The embedded gateway listens next to the API unless told otherwise.
        settings = dataclasses.replace(settings, port=args.port, realtime_port=args.port + 1)
    if args.workers > 1 and settings.embedded:
        # Each worker would start, and migrate, the same embedded server at once.
        print("collabspace: --workers > 1 needs DATABASE_URL", file=sys.stderr)
        return 2
    if args.workers > 1 and settings.redis_url is None and settings.embedded_gateway:
        print(
            "collabspace: --workers > 1 needs REDIS_URL (one gateway, not one per worker)",
            file=sys.stderr,
        )
        return 2
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port or settings.port,
        "log_level": "info",
        "access_log": False,
        "lifespan": "on",
    }
    if args.workers > 1:
        # Worker processes import the app themselves: each builds it from the environment.
        uvicorn.run("app.main:serving_app", factory=True, workers=args.workers, **options)
    else:
        uvicorn.run(create_app(settings, serving=True), **options)
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from app import embedded, migrate
    from app.kernel.db import make_engine

    async def run() -> None:
        async with embedded.running(settings) as active:
            engine = make_engine(active.database_url)
            try:
                await migrate.upgrade(engine, args.revision)
            finally:
                await engine.dispose()

    asyncio.run(run())
    print(f"migrated to {args.revision}")
    return 0


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from app import readmodels

    return asyncio.run(readmodels.rebuild_command(settings, args.name))


def _gateway(args: argparse.Namespace, settings: Settings) -> int:
    # The gateway is its own deployable: it reads its own configuration from the environment.
    from realtime.main import main as gateway_main

    return gateway_main(args.rest)


def _cluster(args: argparse.Namespace, settings: Settings) -> int:
    if settings.embedded or not (settings.redis_url or args.redis_cluster):
        print(
            "collabspace cluster: needs DATABASE_URL (PostgreSQL) and REDIS_URL"
            " (or --redis-cluster)",
            file=sys.stderr,
        )
        return 2
    if args.redis_cluster:
        from app.tools.redis_cluster import LocalRedisCluster

        # Its own throwaway Redis Cluster, started first and stopped last.
        with LocalRedisCluster() as redis_cluster:
            print(f"redis    {redis_cluster.url}  (3 primaries + 3 replicas)", flush=True)
            return _run_cluster(args, settings, redis_cluster.url)
    assert settings.redis_url is not None
    return _run_cluster(args, settings, settings.redis_url)


def _run_cluster(args: argparse.Namespace, settings: Settings, redis_url: str) -> int:
    from app.tools.cluster import Cluster, run_forever

    prefix = os.environ.get("CHANNEL_PREFIX")
    cluster = Cluster(
        settings.database_url,
        redis_url,
        gateways=args.gateways,
        base_port=args.base_port,
        host=args.host,
        secret_key=settings.secret_key,
    )
    if prefix:
        cluster.channel_prefix = prefix
    return run_forever(cluster)


def _loadtest(args: argparse.Namespace, settings: Settings) -> int:
    from app.tools.loadtest.cli import run_command

    return run_command(args)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="collabspace", description="CollabSpace server")
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API (and, embedded, everything else)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="default: $PORT or 8000")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.set_defaults(run=_serve)
    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.set_defaults(run=_migrate)
    projections = commands.add_parser("projections", help="read-model maintenance")
    actions = projections.add_subparsers(dest="action", required=True)
    rebuild = actions.add_parser(
        "rebuild", help="rebuild a read model from position zero, then swap it in"
    )
    rebuild.add_argument("name", nargs="?", default=None, help="one projection (default: all)")
    rebuild.set_defaults(run=_rebuild)
    gateway = commands.add_parser("gateway", help="run a WebSocket gateway node (realtime/)")
    gateway.add_argument("rest", nargs=argparse.REMAINDER)
    gateway.set_defaults(run=_gateway)
    cluster = commands.add_parser("cluster", help="run 1 API (with relay) + K gateway nodes")
    cluster.add_argument("--gateways", type=int, default=1, help="gateway nodes (K)")
    cluster.add_argument(
        "--base-port", type=int, default=8000, help="API port; gateways listen on the next K ports"
    )
    cluster.add_argument("--host", default="127.0.0.1")
    cluster.add_argument(
        "--redis-cluster",
        action="store_true",
        help="start a local 3-primary + 3-replica Redis Cluster (scripts/redis-cluster) and use"
        " it instead of REDIS_URL (sharded pub/sub)",
    )
    cluster.set_defaults(run=_cluster)
    commands.add_parser("settings", help="print README's settings tables (every variable)")
    from app.tools.loadtest.cli import add_parser as add_loadtest

    add_loadtest(commands).set_defaults(run=_loadtest)
    return root


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gateway"]:
        # The gateway parses its own options (`collabspace gateway --host 0.0.0.0`): argparse's
        # REMAINDER would refuse those that start with "-".
        return _gateway(argparse.Namespace(rest=argv[1:]), Settings())
    args = parser().parse_args(argv)
    if args.command == "settings":
        from app.settings_table import markdown

        print(markdown())
        return 0
    if args.command == "loadtest":
        # A client of the API: it needs none of the server's settings.
        return _loadtest(args, Settings())
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"collabspace: {exc}", file=sys.stderr)
        return 2
    result: int = args.run(args, settings)
    return result


if __name__ == "__main__":
    sys.exit(main())
