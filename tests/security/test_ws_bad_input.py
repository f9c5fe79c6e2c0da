"""WebSocket fuzzing against a real gateway node: every answer is a documented error or close
code, and a bystander on the same node is served throughout."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from tests.reliability.load import seed
from tests.reliability.stack import Stack
from tests.security.wsclient import close_code, frame, open_ws, request, ticket

BAD_FRAMES: list[tuple[str | bytes, set[str]]] = [
    ("{", {"bad_json"}),
    ('{"type": "subscribe", "channel": "tena', {"bad_json"}),
    ("", {"bad_json"}),
    ("[" * 5000 + "]" * 5000, {"bad_json", "bad_frame"}),
    ("[]", {"bad_frame"}),
    ("42", {"bad_frame"}),
    ('"subscribe"', {"bad_frame"}),
    ("null", {"bad_frame"}),
    ("{}", {"bad_frame"}),
    ('{"type": 5}', {"bad_frame"}),
    ('{"type": null}', {"bad_frame"}),
    ('{"type": "launch_missiles"}', {"unknown_type"}),
    ('{"type": "' + "x" * 1000 + '"}', {"unknown_type"}),
    (b"\x00\xffbinary", {"binary_unsupported"}),
    (b'{"type": "ping"}', {"binary_unsupported"}),
    ('{"type": "subscribe", "channel": 123}', {"bad_channel"}),
    ('{"type": "subscribe", "channel": "project:not-a-uuid"}', {"bad_channel"}),
    ('{"type": "subscribe", "channel": "project:"}', {"bad_channel"}),
    ('{"type": "subscribe", "channel": "tenant:other"}', {"bad_channel"}),
    ('{"type": "subscribe", "channel": "tenant", "since": -1}', {"bad_frame"}),
    ('{"type": "subscribe", "channel": "tenant", "since": "12"}', {"bad_frame"}),
    ('{"type": "subscribe", "channel": "tenant", "since": 1.5}', {"bad_frame"}),
    ('{"type": "subscribe", "channel": "tenant", "since": true}', {"bad_frame"}),
    (
        '{"type": "subscribe", "channel": "tenant", "since": 99999999999999999999999}',
        {"bad_json", "bad_frame"},
    ),
    ('{"type": "ping", "id": {"a": 1}}', {"bad_frame"}),
    ('{"type": "ping", "id": "' + "i" * 65 + '"}', {"bad_frame"}),
    ('{"type": "ping", "id": 9007199254740993}', {"bad_frame"}),
    ('{"type": "auth", "ticket": "again"}', {"already_authenticated", "bad_frame"}),
    ('{"type": "unsubscribe"}', {"bad_channel"}),
]


async def _admin_ticket(stack: Stack) -> tuple[dict[str, str], str]:
    owner, _, _ = await seed(stack, projects=1)
    got = await ticket(stack, owner["headers"])
    return owner["headers"], got.json()["ticket"]


async def test_every_bad_frame_gets_its_documented_error_and_a_bystander_is_served(
    stack: Stack,
) -> None:
    headers, _ = await _admin_ticket(stack)
    bystander = await open_ws(stack, 0, (await ticket(stack, headers)).json()["ticket"])
    assert (await frame(bystander))["type"] == "welcome"
    ws = await open_ws(stack, 0, (await ticket(stack, headers)).json()["ticket"])
    assert (await frame(ws))["type"] == "welcome"
    for raw, codes in BAD_FRAMES:
        reply = await request(ws, raw)
        assert reply["type"] == "error" and reply["code"] in codes, (raw[:80], reply)
        await asyncio.sleep(0.06)  # stay under the documented 20 frames/s
    huge = await request(ws, {"type": "subscribe", "id": 1, "channel": "tenant", "since": 2**62})
    assert huge["type"] == "ack", huge  # a huge since is valid; today it is not honoured
    assert (await request(bystander, {"type": "ping", "id": 1}))["type"] == "pong"
    await ws.close()
    await bystander.close()


@pytest.mark.parametrize("size", [64 * 1024 + 1, 1024 * 1024])
async def test_an_oversized_frame_closes_with_1009_and_the_node_serves_on(
    stack: Stack, size: int
) -> None:
    headers, tk = await _admin_ticket(stack)
    ws = await open_ws(stack, 1, tk, max_size=None)
    await frame(ws)
    await ws.send('{"type": "ping", "id": "' + "x" * size + '"}')
    assert await close_code(ws) == 1009
    other = await open_ws(stack, 1, (await ticket(stack, headers)).json()["ticket"])
    assert (await frame(other))["type"] == "welcome"
    await other.close()


async def test_a_subscribe_flood_is_rate_limited_then_closed_with_1008(stack: Stack) -> None:
    headers, tk = await _admin_ticket(stack)
    ws = await open_ws(stack, 0, tk)
    await frame(ws)
    for _ in range(200):
        frame_ = {"type": "subscribe", "channel": f"project:{uuid.uuid4()}"}
        await ws.send(orjson.dumps(frame_).decode())
    replies: list[dict[str, object]] = []
    code = None
    try:
        while True:
            replies.append(await frame(ws))
    except Exception:  # noqa: BLE001 -- the close ends the loop
        code = await close_code(ws, 1)
    kinds = {(r["type"], r.get("code")) for r in replies}
    assert kinds <= {("ack", None), ("error", "rate_limited")}, kinds
    assert code == 1008


async def test_a_user_past_the_per_user_connection_cap_is_closed_with_1013(
    stack: Stack,
) -> None:
    headers, _ = await _admin_ticket(stack)
    opened = []
    for _ in range(20):
        ws = await open_ws(stack, 0, (await ticket(stack, headers)).json()["ticket"])
        assert (await frame(ws))["type"] == "welcome"
        opened.append(ws)
    extra = await open_ws(stack, 0, (await ticket(stack, headers)).json()["ticket"])
    assert await close_code(extra) == 1013
    elsewhere = await open_ws(stack, 1, (await ticket(stack, headers)).json()["ticket"])
    assert (await frame(elsewhere))["type"] == "welcome"  # the cap is per node
    await opened.pop().close()
    await asyncio.sleep(0.2)
    again = await open_ws(stack, 0, (await ticket(stack, headers)).json()["ticket"])
    assert (await frame(again))["type"] == "welcome"
    for ws in [*opened, elsewhere, again]:
        await ws.close()
