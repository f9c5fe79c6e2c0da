"""client.js in Chromium against the real gateway (realtime/, memory broker, own event loop).

Needs no API ticket endpoint: tickets are minted here as the API would issue them.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from realtime import envelope as wire
from realtime.broker import MemoryBroker
from realtime.config import GatewayConfig
from realtime.server import Gateway
from tests.e2e.conftest import STEP_MS, Server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "realtime"))
from gateway_helpers import SECRET, mint, new_id  # type: ignore[import-not-found]  # noqa: E402


class GatewayThread:
    """A real gateway on its own asyncio loop, so the sync Playwright test can drive both."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.broker = MemoryBroker()
        self.port = 0
        self.gateway: Gateway | None = None

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self) -> None:
        self.gateway = Gateway(
            GatewayConfig(secret_key=SECRET, host="127.0.0.1", port=self.port), self.broker
        )
        self.run(self.gateway.start())
        self.port = self.gateway.port

    def stop(self) -> None:
        assert self.gateway is not None
        self.run(self.gateway.close())

    def publish(self, position: int, tenant: str, project: str, prev: int | None) -> None:
        env = wire.Envelope(
            position=position,
            stream="task-1",
            version=position,
            type="TaskMoved",
            time=datetime.now(UTC).isoformat(),
            tenant=tenant,
            project=project,
            user=None,
            correlation=None,
            data={"to_status": "done"},
        )

        async def send() -> None:
            for ch in wire.channels_for("cs", env):
                await self.broker.publish(ch, wire.encode(env.on_channel(ch, prev)))

        self.run(send())


@pytest.fixture
def gateway() -> Iterator[GatewayThread]:
    g = GatewayThread()
    g.start()
    yield g
    if g.gateway is not None:
        try:
            g.stop()
        finally:
            g.loop.call_soon_threadsafe(g.loop.stop)


def wait_for(page: Page, expression: str, timeout_ms: int = 10 * STEP_MS) -> Any:
    page.wait_for_function(expression, timeout=timeout_ms)
    return page.evaluate(expression)


def test_the_client_follows_the_real_gateway_through_a_restart(
    browser: Browser, server: Server, gateway: GatewayThread
) -> None:
    tenant, user, project = new_id(), new_id(), new_id()
    page = browser.new_context().new_page()
    page.goto(server.url + "/static/index.html")
    page.expose_function("mintTicket", lambda: mint(tenant, user, projects=[project]))
    snapshot = {"position": 0}
    page.expose_function("snapshotPosition", lambda: snapshot["position"])
    page.evaluate(
        """async ([url, channel]) => {
            const { CollabClient } = await import('/static/client.js');
            window.got = []; window.states = []; window.resyncs = 0;
            const getTicket = async () => ({ ticket: await window.mintTicket(), url });
            const c = new CollabClient({ getTicket });
            c.on('state', (s) => window.states.push(s));
            c.subscribe(channel, {
              since: 0,
              onEvent: (e) => window.got.push(e.position),
              onResync: async () => {
                window.resyncs += 1;
                return await window.snapshotPosition();
              },
            });
            c.connect();
            window.rt = c;
        }""",
        [f"ws://127.0.0.1:{gateway.port}/ws", f"project:{project}"],
    )
    live = "window.rt.subscriptions.values().next().value.live"
    wait_for(page, f"window.rt.state === 'connected' && {live}")
    for pos, prev in ((1, None), (2, 1), (3, 2)):
        gateway.publish(pos, tenant, project, prev)
    assert wait_for(page, "window.got.length === 3 && window.got") == [1, 2, 3]
    first_pings = page.evaluate("window.rt.welcome.heartbeat")
    assert first_pings == 25

    gateway.stop()  # drains with 1012: the client goes elsewhere after a random 0-5 s
    wait_for(page, "window.states.includes('reconnecting')")
    # While it is away an event is committed; the REST snapshot will reflect it.
    snapshot["position"] = 4
    time.sleep(0.2)
    gateway.start()
    wait_for(page, "window.rt.state === 'connected' && window.resyncs >= 2", 20 * STEP_MS)
    gateway.publish(4, tenant, project, 3)  # a late duplicate of what the snapshot has
    gateway.publish(5, tenant, project, 4)
    assert wait_for(page, "window.got.length === 4 && window.got") == [1, 2, 3, 5]
    page.evaluate("window.rt.close()")
