"""Unit tests: how a stored event becomes envelopes, and how `prev` is computed. No I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.eventstore.port import StoredEvent
from app.relay.loop import ChannelCursors, envelope_of, scoped_channels
from app.relay.metrics import RelayMetrics, render_metrics
from app.relay.store import Scope
from realtime.envelope import channels_for, decode, encode, encode_on

TENANT, PROJECT, USER = (str(uuid.uuid4()) for _ in range(3))
WHEN = datetime(2026, 11, 27, 5, 33, 27, 123456, tzinfo=UTC)


def stored(position: int, type_: str = "TaskMoved", **data: Any) -> StoredEvent:
    return StoredEvent(
        position=position,
        stream_id="task-1",
        version=position,
        tenant_id=TENANT,
        project_id=data.pop("project", PROJECT),
        type=type_,
        schema_version=1,
        data=data,
        metadata={"correlation_id": "req-7", "actor_id": USER, "causation_id": None},
        recorded_at=WHEN,
    )


def test_an_envelope_carries_the_event_fields_the_gateway_reads() -> None:
    env = envelope_of(stored(42, status="done"))
    assert (env.position, env.stream, env.version, env.type) == (42, "task-1", 42, "TaskMoved")
    assert env.time == "2026-11-27T05:33:27.123456+00:00"
    assert (env.tenant, env.project, env.correlation) == (TENANT, PROJECT, "req-7")
    assert env.user is None
    assert env.data == {"status": "done"}


def test_an_access_event_names_its_user_and_goes_to_the_user_channel_too() -> None:
    env = envelope_of(stored(5, "ProjectMemberRemoved", user_id=USER))
    assert env.user == USER
    channels = [channel for channel, _ in scoped_channels("cs", env)]
    assert channels == channels_for("cs", env)
    assert channels[-1] == f"cs:{TENANT}:user:{USER}"


def test_a_user_id_in_an_ordinary_event_does_not_make_it_an_access_event() -> None:
    env = envelope_of(stored(5, "TaskAssigned", user_id=USER))
    assert env.user is None
    assert len(channels_for("cs", env)) == 2


def test_a_tenant_level_event_goes_only_to_the_tenant_channel() -> None:
    env = envelope_of(stored(9, "UserRenamed", project=None))
    assert scoped_channels("cs", env) == [(f"cs:{TENANT}:tenant", ("tenant", TENANT, None))]


def test_what_the_relay_encodes_the_gateway_decodes_unchanged() -> None:
    env = envelope_of(stored(3, "ProjectMemberAdded", user_id=USER)).on_channel("cs:x", 1)
    assert decode(encode(env)) == env


class FakeLookup:
    """The store's answer to "what was the previous event on this channel", from a list."""

    def __init__(self, history: dict[Scope, list[int]]) -> None:
        self.history = history
        self.calls: list[tuple[Scope, int]] = []

    async def __call__(self, scope: Scope, before: int) -> int | None:
        self.calls.append((scope, before))
        earlier = [p for p in self.history.get(scope, []) if p < before]
        return max(earlier) if earlier else None


SCOPE: Scope = ("project", TENANT, PROJECT)


async def test_a_cold_cursor_asks_the_store_once_then_remembers() -> None:
    lookup = FakeLookup({SCOPE: [3, 8]})
    cursors = ChannelCursors(lookup)
    staged: dict[str, int] = {}
    assert await cursors.prev("c", SCOPE, 10, staged) == 8
    staged["c"] = 10
    assert await cursors.prev("c", SCOPE, 12, staged) == 10
    cursors.commit(staged)
    assert await cursors.prev("c", SCOPE, 20, {}) == 10  # the last committed position
    assert len(lookup.calls) == 1


async def test_a_retried_batch_gets_the_same_prev_because_staging_is_not_committed() -> None:
    cursors = ChannelCursors(FakeLookup({SCOPE: [4]}))
    first: dict[str, int] = {}
    assert await cursors.prev("c", SCOPE, 6, first) == 4
    first["c"] = 6
    # The publish failed, so nothing is committed; the retry starts from scratch.
    assert await cursors.prev("c", SCOPE, 6, {}) == 4


async def test_the_first_event_of_a_channel_has_no_prev() -> None:
    cursors = ChannelCursors(FakeLookup({}))
    assert await cursors.prev("c", SCOPE, 1, {}) is None


async def test_an_evicted_channel_is_looked_up_again_and_stays_exact() -> None:
    lookup = FakeLookup({SCOPE: [1, 2], ("tenant", TENANT, None): [1, 2]})
    cursors = ChannelCursors(lookup, capacity=1)
    cursors.commit({"c": 2})
    cursors.commit({"t": 2})  # evicts "c"
    assert await cursors.prev("c", SCOPE, 3, {}) == 2
    assert lookup.calls == [(SCOPE, 3)]


def test_metrics_report_lag_in_events_and_milliseconds() -> None:
    metrics = RelayMetrics(head=120, checkpoint=100)
    metrics.observe_lags([1.0, 2.0, 3.0, 400.0])
    snap = metrics.snapshot()
    assert snap["lag_events"] == 20
    assert snap["lag_ms_last"] == 400.0
    assert snap["lag_ms_p50"] == 3.0
    assert snap["lag_ms_p99"] == 400.0


def test_metrics_render_as_prometheus_text() -> None:
    metrics = RelayMetrics(published=7, redis_errors=2, is_leader=True)
    metrics.observe_lags([0.5, 7.0])
    text = render_metrics(metrics).decode()
    assert "collabspace_relay_published_events_total 7.0" in text
    assert "collabspace_relay_redis_errors_total 2.0" in text
    assert "collabspace_relay_is_leader 1.0" in text
    assert 'collabspace_relay_lag_ms_bucket{le="10.0"} 2.0' in text


def test_encode_on_equals_encoding_the_addressed_copy() -> None:
    env = envelope_of(stored(3, "ProjectMemberAdded", user_id=USER))
    assert encode_on(env, "cs:x", 1) == encode(env.on_channel("cs:x", 1))
