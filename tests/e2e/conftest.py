"""Browser end-to-end fixtures: the real server in a subprocess and headless Debian chromium.

The server is `collabspace serve` in the embedded default (an embedded PostgreSQL server under a
temporary directory's ./var, the in-process broker, API and gateway in one process) on a free
port. Chromium is Debian's package, driven by
Playwright for Python through `executable_path` (`scripts/install-browser` installs it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import stop_embedded_postgres

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
# Every wait in these tests is a multiple of this.
STEP_MS = 1_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One `collabspace serve` process; stop() and start() again keep the same data and port."""

    port: int
    env: dict[str, str]
    cwd: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=self.env, cwd=self.cwd)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy in 30 s")

    def stop(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(15)
        self.process = None

    def has_path(self, path: str) -> bool:
        return path in httpx.get(f"{self.url}/openapi.json").json().get("paths", {})


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="collabspace-e2e-") as tmp:
        env = {
            **os.environ,
            # Fixed, so tokens and tickets survive a restart of the server.
            "SECRET_KEY": "e2e-secret-key-0123456789abcdef-0123456789",
            "PORT": "0",
            # The embedded gateway on a free port; tickets carry its address.
            "REALTIME_PORT": "0",
        }
        for name in ("REDIS_URL", "DATABASE_URL", "APP_DATABASE_URL"):
            env.pop(name, None)
        srv = Server(_free_port(), env, tmp)
        srv.start()
        try:
            yield srv
        finally:
            srv.stop(signal.SIGTERM)
            stop_embedded_postgres(Path(tmp))


# Module scope, not session: sync Playwright keeps an event loop set on the main thread while it
# is open, which the async tests' session loop (pytest-asyncio) refuses to run beside.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def shoot(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """shoot(page, "name"): a screenshot under artifacts/ (kept by CI, never committed)."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page, name: str) -> None:  # type: ignore[no-untyped-def]
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{name}.png"), full_page=True)

    return take


def require_realtime(server: Server) -> None:
    """The live tests need the API's ticket endpoint (and the gateway it points at)."""
    if not server.has_path("/auth/realtime-ticket"):
        pytest.fail("the server has no POST /auth/realtime-ticket: the live tests cannot run")
