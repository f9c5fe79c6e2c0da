"""Fast unit tests: frame parsing, tickets and the read rule, the registry. No I/O."""

from __future__ import annotations

import dataclasses
import time

import jwt
import orjson
import pytest
from gateway_helpers import SECRET, mint, new_id

from realtime import protocol
from realtime.auth import Access, TicketError, verify_ticket
from realtime.envelope import (
    Envelope,
    EventChannel,
    channel_of,
    channels_for,
    event_channels,
)
from realtime.protocol import Channel, ErrorCode, ProtocolError, parse_client_frame
from realtime.registry import Registry
from realtime.replay import chain_closes, continues, plan


def test_a_subscribe_frame_parses_with_a_canonical_project_id() -> None:
    pid = new_id()
    frame = parse_client_frame(
        orjson.dumps(
            {"type": "subscribe", "id": "r1", "channel": f"project:{pid.upper()}"}
        ).decode()
    )
    assert frame == protocol.Subscribe("r1", Channel("project", pid), None)


def test_since_is_accepted_for_the_future_resume() -> None:
    frame = parse_client_frame('{"type":"subscribe","channel":"tenant","since":41}')
    assert frame == protocol.Subscribe(None, Channel("tenant"), 41)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{", ErrorCode.BAD_JSON),
        ("[]", ErrorCode.BAD_FRAME),
        ('{"id":1}', ErrorCode.BAD_FRAME),
        ('{"type":"x"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":"subscribe","channel":"user:1"}', ErrorCode.BAD_CHANNEL),
        ('{"type":"subscribe","channel":"tenant","since":-1}', ErrorCode.BAD_FRAME),
        ('{"type":"subscribe","channel":"tenant","since":true}', ErrorCode.BAD_FRAME),
        ('{"type":"ping","id":true}', ErrorCode.BAD_FRAME),
        ('{"type":"ping","id":"' + "x" * 65 + '"}', ErrorCode.BAD_FRAME),
        ('{"type":"auth","ticket":""}', ErrorCode.BAD_FRAME),
        (b"{}", ErrorCode.BINARY_UNSUPPORTED),
    ],
)
def test_a_bad_frame_raises_its_stable_error_code(raw: str | bytes, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(raw)
    assert caught.value.code is code


def test_an_error_keeps_the_request_id_when_it_could_be_read() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame('{"type":"subscribe","id":9,"channel":"nope"}')
    assert caught.value.request_id == 9


def test_an_events_frame_is_valid_json_built_from_pre_encoded_events() -> None:
    env = Envelope(
        position=3,
        stream="s",
        version=1,
        type="T",
        time="t",
        tenant="x",
        project="p",
        user=None,
        correlation=None,
        data={"a": "é"},
        prev=1,
    )
    frame = orjson.loads(protocol.events_frame("project:p", [protocol.client_event(env)] * 2))
    assert frame["type"] == "events" and frame["channel"] == "project:p"
    assert [e["position"] for e in frame["events"]] == [3, 3]
    assert "tenant" not in frame["events"][0]


def test_each_channel_of_an_event_says_what_it_is_about() -> None:
    env = Envelope(
        position=3,
        stream="s",
        version=1,
        type="ProjectMemberRemoved",
        time="t",
        tenant="x",
        project="p",
        user="u",
        correlation=None,
        data={},
    )
    assert event_channels("cs", env) == [
        EventChannel("cs:x:tenant", "tenant", "x", None),
        EventChannel("cs:x:project:p", "project", "x", "p"),
        EventChannel("cs:x:user:u", "user", "x", "u"),
    ]
    assert channels_for("cs", env) == ["cs:x:tenant", "cs:x:project:p", "cs:x:user:u"]
    assert event_channels("cs", env)[1].scope == ("project", "x", "p")
    # Read back from the name alone, whatever the prefix holds.
    for channel in event_channels("cs:eu", env):
        assert channel_of(channel.name) == channel
    with pytest.raises(ValueError):
        channel_of("cs:x:project:p:live")


def test_a_user_on_an_ordinary_event_adds_no_user_channel() -> None:
    env = Envelope(
        position=3,
        stream="s",
        version=1,
        type="TaskAssigned",
        time="t",
        tenant="x",
        project=None,
        user="u",
        correlation=None,
        data={},
    )
    assert event_channels("cs", env) == [EventChannel("cs:x:tenant", "tenant", "x", None)]


def test_a_valid_ticket_yields_its_claims() -> None:
    tenant, user, project = new_id(), new_id(), new_id()
    ticket = verify_ticket(mint(tenant, user, role="admin", projects=[project.upper()]), SECRET)
    assert (ticket.tenant, ticket.user, ticket.role) == (tenant, user, "admin")
    assert ticket.projects == frozenset({project})


@pytest.mark.parametrize(
    ("override", "expired"),
    [
        ({"ttl": -30}, True),
        ({"typ": "access"}, False),
        ({"role": "god"}, False),
        ({"projects": "all"}, False),
        ({"sub": None}, False),
        ({"jti": None}, False),
        ({"name": None}, False),
        ({"secret": "x" * 40}, False),
    ],
)
def test_a_bad_ticket_is_refused(override: dict[str, object], expired: bool) -> None:
    with pytest.raises(TicketError) as caught:
        verify_ticket(mint(new_id(), new_id(), **override), SECRET)  # type: ignore[arg-type]
    assert caught.value.expired is expired


def test_a_ticket_signed_with_another_algorithm_is_refused() -> None:
    claims = {
        "typ": "realtime",
        "sub": "u",
        "tid": "t",
        "role": "owner",
        "name": "n",
        "projects": [],
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "jti": "j",
    }
    for token in (
        jwt.encode(claims, SECRET * 2, algorithm="HS512"),
        jwt.encode(claims, None, algorithm="none"),
    ):
        with pytest.raises(TicketError):
            verify_ticket(token, SECRET)


def test_members_read_their_projects_and_admins_read_the_tenant() -> None:
    p, q = new_id(), new_id()
    member, admin = Access("member", frozenset({p})), Access("admin")
    assert member.may_read(Channel("project", p))
    assert not member.may_read(Channel("project", q))
    assert not member.may_read(Channel("tenant"))
    assert admin.may_read(Channel("tenant")) and admin.may_read(Channel("project", q))


def test_the_registry_reports_first_join_and_last_leave() -> None:
    reg: Registry[str] = Registry()
    assert reg.join("c", "project:1", "project", "a") is True
    assert reg.join("c", "project:1", "project", "b") is False
    assert reg.leave("c", "a") is False
    assert reg.leave("c", "a") is False  # leaving twice is harmless
    assert reg.leave("c", "b") is True
    assert not reg.wanted("c") and len(reg) == 0


def _linked(position: int, prev: int | None) -> Envelope:
    return Envelope(
        position=position,
        stream="task-1",
        version=1,
        type="TaskMoved",
        time="2026-01-01T00:00:00+00:00",
        tenant="t",
        project="p",
        user=None,
        correlation=None,
        data={},
        channel="cs:t:project:p",
        prev=prev,
    )


def test_a_replay_is_exact_only_when_its_prev_chain_closes_from_since() -> None:
    assert chain_closes([], 10)  # nothing to contradict: the live stream must prove it
    assert chain_closes([_linked(12, 7), _linked(15, 12)], 10)
    assert chain_closes([_linked(12, None), _linked(15, 12)], 10)  # the channel's first event
    assert not chain_closes([_linked(12, 11), _linked(15, 12)], 10)  # 11 missing
    assert not chain_closes([_linked(12, 7), _linked(15, 13)], 10)  # 13 missing
    assert not chain_closes([_linked(12, 7), _linked(15, None)], 10)


def test_the_first_live_event_must_continue_the_replay() -> None:
    assert continues(_linked(20, 15), 10, 15)
    assert not continues(_linked(20, 17), 10, 15)  # 17 was never replayed
    assert not continues(_linked(20, None), 10, 15)  # contradicts the replay
    assert continues(_linked(20, 9), 10, None)  # empty replay: nothing after since
    assert continues(_linked(20, None), 10, None)
    assert not continues(_linked(20, 12), 10, None)  # 12 was missed: the store said nothing


def test_an_inbox_replay_is_its_users_whatever_the_access_events_say() -> None:
    me, other = new_id(), new_id()
    access = Access("member", frozenset(), me)
    inbox = Channel("notifications", user=me)
    missed = [_linked(12, 7), _linked(15, 12)]
    role = dataclasses.replace(
        _linked(13, None), type="UserRoleChanged", user=me, data={"user_id": me}
    )
    assert plan(me, access, inbox, missed, [role]).events == missed
    assert plan(me, access, inbox, missed, [role]).outcome == "recovered"
    stranger = Access("owner", frozenset(), other)
    assert plan(other, stranger, inbox, missed, []).outcome == "forbidden"
