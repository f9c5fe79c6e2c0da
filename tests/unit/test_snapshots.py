"""The in-memory snapshot cache hands out private copies, keyed by tenant and stream."""

from __future__ import annotations

from app.eventstore.snapshots import SnapshotCache
from app.projects.domain import Project


def project(members: list[str], version: int) -> Project:
    p = Project("p1")
    p.tenant_id, p.members, p.version = "t1", members, version
    return p


def test_a_snapshot_is_a_private_copy_both_ways() -> None:
    cache = SnapshotCache()
    original = project(["u1"], 3)
    cache.put("t1", original)
    original.members.append("changed after put")
    first = cache.get("t1", original.stream_id)
    assert first is not None and first.members == ["u1"] and first.version == 3
    first.members.append("changed after get")
    again = cache.get("t1", original.stream_id)
    assert again is not None and again.members == ["u1"] and again.pending == []


def test_another_tenant_never_sees_a_snapshot() -> None:
    cache = SnapshotCache()
    cache.put("t1", project(["u1"], 2))
    assert cache.get("t2", "project-p1") is None


def test_an_older_state_never_replaces_a_newer_one() -> None:
    cache = SnapshotCache()
    cache.put("t1", project(["u1", "u2"], 5))
    cache.put("t1", project(["u1"], 4))
    kept = cache.get("t1", "project-p1")
    assert kept is not None and kept.version == 5


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = SnapshotCache(capacity=2)
    for name in ("a", "b"):
        p = Project(name)
        p.version = 1
        cache.put("t1", p)
    assert cache.get("t1", "project-a") is not None  # a is now the most recent
    c = Project("c")
    c.version = 1
    cache.put("t1", c)
    assert len(cache) == 2
    assert cache.get("t1", "project-b") is None
    assert cache.get("t1", "project-a") is not None
