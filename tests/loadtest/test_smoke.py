"""`collabspace loadtest` against a launched cluster: 1 API (with relay) and 2 gateway nodes."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.tools.cluster import Cluster
from tests.support import ADMIN_URL

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
GATEWAYS = 2
RUN_TIMEOUT_S = 90


def _free_block(size: int) -> int:
    """A base port whose next `size` ports are free now (the launcher needs consecutive ports)."""
    for _ in range(50):
        base = 20_000 + secrets.randbelow(30_000)
        sockets = []
        try:
            for port in range(base, base + size):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no block of free ports")


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(ADMIN_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    name = f"cs_load_{secrets.token_hex(5)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        with Cluster(
            url,
            REDIS_URL,
            gateways=GATEWAYS,
            base_port=_free_block(GATEWAYS + 1),
            channel_prefix=f"cs-load-{secrets.token_hex(4)}",
        ) as running:
            yield running
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_a_small_load_test_delivers_every_event_once_through_every_node(
    cluster: Cluster, tmp_path: Path
) -> None:
    out = tmp_path / "result.json"
    gateways = [arg for url in cluster.gateway_urls for arg in ("--gateway", url)]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "loadtest",
            "--api",
            cluster.api_url,
            *gateways,
            "--clients",
            "20",
            "--projects",
            "4",
            "--users",
            "4",
            "--rate",
            "20",
            "--duration",
            "4",
            "--drain",
            "10",
            "--json",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    result = json.loads(out.read_text())
    deliveries = result["deliveries"]
    assert result["clients"]["connected"] == 20
    assert result["rest"]["ok"] > 0 and not result["rest"]["errors"]
    assert deliveries["expected"] == result["rest"]["ok"] * 5  # 20 clients over 4 projects
    assert deliveries["missing"] == 0
    assert deliveries["duplicates"] == 0
    assert deliveries["out_of_order"] == 0
    assert sorted(result["clients"]["per_gateway"]) == sorted(cluster.gateway_urls)
    for node in result["nodes"].values():
        assert node["connections"] == 10
        assert node["deliveries"] and node["deliveries"] > 0
