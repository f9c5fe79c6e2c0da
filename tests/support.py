"""Shared test helpers: a throwaway PostgreSQL database per run, and API clients."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncEngine

from app import migrate
from app.kernel.db import make_engine
from app.main import create_app

# APP_ROLE and app_url_for: the app role's URL, as the settings derive it (re-exported here).
from app.settings import APP_ROLE, Settings, app_url_for  # noqa: F401
from app.tenants.passwords import Argon2Hasher

ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
SECRET = "test-secret-key-0123456789abcdef"
# The shared Redis: tests use their own key and channel prefixes on it and never flush it.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _url_for(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@asynccontextmanager
async def fresh_database(prefix: str = "cs_test") -> AsyncIterator[str]:
    """Create a database for this run, migrate it with the real migrations, drop it after."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(ADMIN_URL)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = _url_for(name)
    engine = make_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    try:
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


def stop_embedded_postgres(cwd: Path) -> None:
    """Kill an embedded-default server left running under `cwd` (its API process was killed)."""
    pidfile = cwd / "var" / "pgdata" / "postmaster.pid"
    if pidfile.exists():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGQUIT)


def settings_for(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        # Requests run as the app role, as in production: the suite passes through RLS.
        "app_database_url": app_url_for(url),
        "secret_key": SECRET,
        "run_relay": False,
        "run_projections": True,
        "embedded_gateway": False,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, hasher=Argon2Hasher(fast=True))
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def sign_up(
    client: httpx.AsyncClient, tenant: str = "Acme", email: str | None = None
) -> dict[str, Any]:
    email = email or f"owner-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/auth/signup",
        json={
            "tenant_name": tenant,
            "name": f"Owner of {tenant}",
            "email": email,
            "password": "correct horse",
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["headers"] = {"Authorization": f"Bearer {body['access_token']}"}
    body["email"] = email
    return body


async def invite(
    client: httpx.AsyncClient, owner: dict[str, Any], name: str, role: str = "member"
) -> dict[str, Any]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/users",
        json={"email": email, "name": name, "role": role, "password": "correct horse"},
        headers=owner["headers"],
    )
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]
    login = await client.post("/auth/login", json={"email": email, "password": "correct horse"})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    return {"user_id": user_id, "email": email, "headers": {"Authorization": f"Bearer {token}"}}


def engine_for(url: str) -> AsyncEngine:
    return make_engine(url)


async def create_project_for(
    client: httpx.AsyncClient, owner: dict[str, Any], name: str = "P"
) -> int:
    """Create a project; answers the position it was written at."""
    response = await client.post("/projects", json={"name": name}, headers=owner["headers"])
    assert response.status_code == 201, response.text
    return int(response.json()["position"])
