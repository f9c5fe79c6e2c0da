"""The gateway's listen address: loopback unless REALTIME_HOST says otherwise (issue 14)."""

from __future__ import annotations

import re

from gateway_helpers import SECRET, Node

from realtime.config import GatewayConfig


def test_the_gateway_listens_on_loopback_by_default() -> None:
    assert GatewayConfig.from_env({"SECRET_KEY": SECRET}).host == "127.0.0.1"
    assert GatewayConfig(secret_key=SECRET).host == "127.0.0.1"


def test_realtime_host_is_the_one_setting_and_a_generic_host_is_ignored() -> None:
    env = {"SECRET_KEY": SECRET, "HOST": "0.0.0.0"}
    assert GatewayConfig.from_env(env).host == "127.0.0.1"
    assert GatewayConfig.from_env({**env, "REALTIME_HOST": "0.0.0.0"}).host == "0.0.0.0"


async def test_a_real_node_without_settings_binds_loopback_only(prefix: str) -> None:
    node = Node(prefix, REALTIME_HOST="", HOST="0.0.0.0")
    try:
        await node.ready()
        found = re.search(r"listening on (\S+):\d+", node.log.read_text())
        assert found is not None and found.group(1) == "127.0.0.1", node.log.read_text()
        assert "HOST is ignored" in node.log.read_text()
    finally:
        node.kill()
