"""A ticket opens one connection (docs/client.md): its `jti` is claimed across nodes, for the
ticket's lifetime; a reuse closes with 4001 and a store that cannot answer closes with 1013."""

from __future__ import annotations

import asyncio
import socket
import time

from gateway_helpers import REDIS_URL, SECRET, Client, Node, mint, new_id

from realtime.auth import LEEWAY_S
from realtime.broker import MemoryBroker
from realtime.config import GatewayConfig
from realtime.server import Gateway
from realtime.tickets import MemoryTicketStore, RedisTicketStore, TicketStoreError


async def _refused(port: int, ticket: str) -> tuple[int | None, str | None]:
    c = await Client.open(port)
    await c.send({"type": "auth", "ticket": ticket})
    return await c.closed()


async def test_a_ticket_reused_on_a_second_node_sharing_redis_is_refused_with_4001(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    tenant, project = new_id(), new_id()
    ticket = mint(tenant, new_id(), projects=[project])
    first = await Client.open(a.port, ticket)
    assert await _refused(b.port, ticket) == (4001, "ticket already used")
    assert await _refused(a.port, ticket) == (4001, "ticket already used")
    # The first connection is unaffected, and a fresh ticket for the same user works.
    assert (await first.subscribe(f"project:{project}"))["recovered"] is False
    second = await Client.open(b.port, mint(tenant, first.welcome["user"], projects=[project]))
    await second.close()
    await first.close()


async def test_the_embedded_gateway_without_redis_refuses_a_reused_ticket_too() -> None:
    gateway = Gateway(GatewayConfig(secret_key=SECRET, host="127.0.0.1", port=0), MemoryBroker())
    await gateway.start()
    try:
        ticket = mint(new_id(), new_id())
        first = await Client.open(gateway.port, ticket)
        assert await _refused(gateway.port, ticket) == (4001, "ticket already used")
        await first.close()
    finally:
        await gateway.close()


async def test_when_the_ticket_store_is_unreachable_the_gateway_fails_closed_with_1013() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    store = RedisTicketStore(f"redis://127.0.0.1:{dead}/0", "cs-test-dead")
    gateway = Gateway(
        GatewayConfig(secret_key=SECRET, host="127.0.0.1", port=0), MemoryBroker(), tickets=store
    )
    await gateway.start()
    try:
        code, reason = await _refused(gateway.port, mint(new_id(), new_id()))
        assert code == 1013 and reason is not None and "ticket store" in reason
    finally:
        await gateway.close()
        await store.close()


async def test_a_used_jti_is_remembered_in_redis_for_the_tickets_lifetime_only(prefix: str) -> None:
    store = RedisTicketStore(REDIS_URL, prefix)
    try:
        jti, expires = new_id(), int(time.time()) + 30
        assert await store.claim(jti, expires) is True
        assert await store.claim(jti, expires) is False
        ttl = await store._redis.ttl(f"{prefix}:ticket:{jti}")
        assert 30 <= ttl <= 30 + LEEWAY_S + 2
    finally:
        await store.close()


async def test_the_memory_store_forgets_a_jti_once_its_ticket_could_not_verify_anyway() -> None:
    store = MemoryTicketStore()
    long_gone = int(time.time()) - LEEWAY_S - 10
    assert await store.claim("a", long_gone) is True
    assert await store.claim("a", long_gone) is False
    await asyncio.sleep(1.1)
    assert await store.claim("b", int(time.time()) + 60) is True
    assert len(store) == 1  # "a" is gone: memory is bounded by the tickets alive


async def test_an_unreachable_redis_ticket_store_raises_rather_than_admits() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    store = RedisTicketStore(f"redis://127.0.0.1:{dead}/0", "cs-test-dead")
    try:
        try:
            await store.claim(new_id(), int(time.time()) + 60)
        except TicketStoreError:
            pass
        else:
            raise AssertionError("a claim that could not be made was admitted")
    finally:
        await store.close()
