"""The embedded default as a user starts it: `collabspace serve` with no settings at all.

A real process in an empty directory: it starts its own PostgreSQL server under ./var/pgdata,
migrates it and serves; its requests run as collabspace_app under row-level security, as in
production. On SIGTERM it stops the server it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from tests.support import stop_embedded_postgres

# Every wait here is a multiple of this.
STEP_S = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postmaster_pid(cwd: Path) -> int | None:
    pidfile = cwd / "var" / "pgdata" / "postmaster.pid"
    return int(pidfile.read_text().split()[0]) if pidfile.exists() else None


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "APP_DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PORT"}
    }
    env["REALTIME_PORT"] = "0"
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15 * STEP_S
        while True:
            assert process.poll() is None, f"serve exited with {process.returncode}"
            assert time.monotonic() < deadline, "serve did not become ready"
            try:
                if httpx.get(f"{url}/readyz", timeout=STEP_S).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1 * STEP_S)
        yield url, tmp_path, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5 * STEP_S)
        stop_embedded_postgres(tmp_path)


async def test_serve_with_no_settings_runs_on_embedded_postgres_as_the_app_role(
    served: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    url, cwd, process = served
    async with httpx.AsyncClient(base_url=url, timeout=5 * STEP_S) as client:
        signup = await client.post(
            "/auth/signup",
            json={
                "tenant_name": "Embedded",
                "name": "Ada",
                "email": f"ada-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse",
            },
        )
        assert signup.status_code == 201, signup.text
        headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
        created = await client.post("/projects", json={"name": "Apollo"}, headers=headers)
        assert created.status_code == 201, created.text
        project_id = created.json()["id"]
        position = created.json()["position"]
        read = await client.get(f"/projects/{project_id}", headers=headers)
        assert read.status_code == 200 and read.json()["name"] == "Apollo"
        listed = await client.get(f"/projects?min_position={position}", headers=headers)
        assert [p["project_id"] for p in listed.json()["items"]] == [project_id]

    # The server listens on a socket in ./var/pgdata only: look at who the API connects as.
    socket_dir = cwd / "var" / "pgdata"
    assert (socket_dir / ".s.PGSQL.5432").exists()
    owner = await asyncpg.connect(host=str(socket_dir), user="postgres", database="collabspace")
    try:
        users = {
            r["usename"]
            for r in await owner.fetch(
                "SELECT usename FROM pg_stat_activity"
                " WHERE datname = 'collabspace' AND pid <> pg_backend_pid()"
            )
        }
        role = await owner.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'collabspace_app'"
        )
        events = await owner.fetchval("SELECT count(*) FROM event")
    finally:
        await owner.close()
    # Requests run as collabspace_app (the write pool and the read engine); the owner's own
    # sessions are the relay's and the projections'.
    assert "collabspace_app" in users
    assert role is not None and not role["rolsuper"] and not role["rolbypassrls"]
    assert events >= 2
    app = await asyncpg.connect(
        host=str(socket_dir), user="collabspace_app", database="collabspace"
    )
    try:
        # Row-level security holds: with no tenant set, the app role sees no event at all.
        assert await app.fetchval("SELECT count(*) FROM event") == 0
    finally:
        await app.close()

    postmaster = _postmaster_pid(cwd)
    assert postmaster is not None
    process.send_signal(signal.SIGTERM)
    # Uvicorn shuts down gracefully, then re-raises the signal (exit status -SIGTERM).
    assert process.wait(10 * STEP_S) in (0, -signal.SIGTERM)
    # The process stopped the server it started.
    deadline = time.monotonic() + 5 * STEP_S
    while psutil.pid_exists(postmaster) and time.monotonic() < deadline:
        time.sleep(0.05 * STEP_S)
    assert not psutil.pid_exists(postmaster)
