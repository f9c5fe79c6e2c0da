"""Presence and ephemeral broadcasts on project channels, across nodes.

Store: one sorted set per project (`<prefix>:presence:<tenant>:<project>`), a member per
connection (`user|session|name`), scored by its expiry time. Each node refreshes its own entries
every ttl/4 and sweeps expired ones from the projects it serves, so the entries of a node that
died disappear within ttl + ttl/4 (default 20 s + 5 s). The embedded gateway uses the in-memory
twin behind the same port.

Changes (`joined`/`left`, per user, not per tab) and ephemeral broadcasts travel on the broker
channel `<project channel>:live`, which a node subscribes while it has a local subscriber of the
project; they are never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from typing import Any

import orjson
import redis.asyncio as aioredis

from realtime import protocol, redisurl
from realtime.broker import Broker
from realtime.connection import broadcast
from realtime.envelope import project_channel
from realtime.metrics import Metrics
from realtime.registry import ChannelState

log = logging.getLogger("realtime.presence")


class PresenceStore(ABC):
    @abstractmethod
    async def put(self, key: str, members: list[str], expires: float) -> list[str]:
        """Record or refresh members; those that were not there (new, or swept meanwhile)."""

    @abstractmethod
    async def remove(self, key: str, member: str) -> None: ...

    @abstractmethod
    async def members(self, key: str, now: float) -> list[str]: ...

    @abstractmethod
    async def claim_expired(self, key: str, now: float) -> list[str]:
        """Remove expired members; return those this call removed (one node wins each)."""

    async def close(self) -> None:
        return None


class MemoryPresenceStore(PresenceStore):
    def __init__(self) -> None:
        self._sets: defaultdict[str, dict[str, float]] = defaultdict(dict)

    async def put(self, key: str, members: list[str], expires: float) -> list[str]:
        entries = self._sets[key]
        added = [m for m in members if m not in entries]
        entries.update(dict.fromkeys(members, expires))
        return added

    async def remove(self, key: str, member: str) -> None:
        self._sets[key].pop(member, None)

    async def members(self, key: str, now: float) -> list[str]:
        return [m for m, exp in self._sets[key].items() if exp > now]

    async def claim_expired(self, key: str, now: float) -> list[str]:
        gone = [m for m, exp in self._sets[key].items() if exp <= now]
        for m in gone:
            del self._sets[key][m]
        return gone


# Records or refreshes ARGV[3:] at score ARGV[1], and returns those that were not there, in one
# round trip for a node's whole project (see put); ARGV[2] is the key's own expiry.
_PUT = """
local added = {}
for i = 3, #ARGV do
  if redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i]) == 1 then added[#added + 1] = ARGV[i] end
end
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return added
"""

# Reads and removes the expired members of one sorted set atomically (see claim_expired).
_CLAIM_EXPIRED = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return gone
"""


class RedisPresenceStore(PresenceStore):
    """One sorted set per project; every operation touches one key, so on a Redis Cluster each
    project's presence lives on the shard of its key and needs no hash tag."""

    def __init__(self, url: str, max_connections: int = 16) -> None:
        self._redis: redisurl.Client
        if redisurl.is_cluster(url):
            # Per node, and no blocking pool in the cluster client: a storm past it fails the
            # join's presence (best effort), never the subscription.
            self._redis = redisurl.connect(url, max_connections=4 * max_connections)
        else:
            # A blocking pool: a join storm waits for a connection instead of failing.
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=10
            )
            self._redis = aioredis.Redis(connection_pool=pool)

    async def put(self, key: str, members: list[str], expires: float) -> list[str]:
        # One script per project, not a round trip per member: a node's heartbeat refreshes
        # every local connection every ttl/4, and per member that was most of an idle node's
        # CPU. Atomic, so a member another node sweeps meanwhile is either refreshed or
        # reported as added (and announced back), never silently lost.
        added = await self._redis.execute_command(
            "EVAL", _PUT, 1, key, repr(expires), int(expires) + 60, *members
        )
        return [_text(m) for m in added]

    async def remove(self, key: str, member: str) -> None:
        await self._redis.zrem(key, member)

    async def members(self, key: str, now: float) -> list[str]:
        raw = await self._redis.zrangebyscore(key, f"({now}", "+inf")
        return [_text(m) for m in raw]

    async def claim_expired(self, key: str, now: float) -> list[str]:
        # One script (atomic like a MULTI, and a MULTI is not available on a cluster client):
        # the members read are exactly the members removed. Read-then-remove in two steps could
        # remove a member its node refreshed in between (announcing a live user as gone); here
        # a refreshed member scores above `now` and stays, and each expired member is claimed
        # by exactly one node, whose sweep announces it.
        expired = await self._redis.execute_command("EVAL", _CLAIM_EXPIRED, 1, key, repr(now))
        return [_text(m) for m in expired]

    async def close(self) -> None:
        await self._redis.aclose()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _person(member: str) -> dict[str, str]:
    user, _, rest = member.partition("|")
    _, _, name = rest.partition("|")
    return {"user": user, "name": name}


class PresenceBatch:
    """Presence changes received for this node's channels, merged per channel and user until
    the next flush: when many users join a big project at once (a deploy's reconnect storm),
    each subscriber gets one frame per window instead of one per join, which is quadratic."""

    def __init__(self) -> None:
        # id(state) -> (state, user -> (joined?, person)); the last change of a user wins.
        self._changes: dict[int, tuple[ChannelState[Any], dict[str, tuple[bool, Any]]]] = {}

    def add(self, state: ChannelState[Any], joined: list[Any], left: list[Any]) -> bool:
        """Merge one message's changes; True if nothing was pending before (schedule a flush)."""
        first = not self._changes
        _, users = self._changes.setdefault(id(state), (state, {}))
        for present, people in ((True, joined), (False, left)):
            for person in people:
                if isinstance(person, dict) and isinstance(person.get("user"), str):
                    users[person["user"]] = (present, person)
        return first

    def drain(self) -> list[tuple[ChannelState[Any], dict[str, list[Any]]]]:
        """Each channel's net changes, as `presence` frame fields; and forget them."""
        out = []
        for state, users in self._changes.values():
            change: dict[str, list[Any]] = {}
            for present, person in users.values():
                change.setdefault("joined" if present else "left", []).append(person)
            if change:
                out.append((state, change))
        self._changes.clear()
        return out


class Presence:
    def __init__(
        self,
        store: PresenceStore,
        broker: Broker,
        metrics: Metrics,
        prefix: str,
        ttl: float,
        *,
        batch_s: float = 0.05,
    ) -> None:
        self.store, self.broker, self.metrics = store, broker, metrics
        self.prefix, self.ttl = prefix, ttl
        self.local: defaultdict[str, set[str]] = defaultdict(set)  # key -> local members
        self._task: asyncio.Task[None] | None = None
        # Joins waiting to be written, per project, and the task writing that project's joins:
        # the joins of a connect storm share one read, one write and one publish per batch.
        self._joining: dict[str, list[tuple[str, asyncio.Future[list[dict[str, str]]]]]] = {}
        self._joiners: dict[str, asyncio.Task[None]] = {}
        self._batch, self._batch_s = PresenceBatch(), batch_s

    def key(self, tenant: str, project: str) -> str:
        return f"{self.prefix}:presence:{tenant}:{project}"

    def start(self) -> None:
        self._task = asyncio.create_task(self._heartbeat(), name="presence-heartbeat")

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._joiners.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.store.close()

    async def join(self, key: str, live: str, member: str) -> list[dict[str, str]]:
        """Record a connection on a project; publish `joined` for a user new there; return
        who is present (shared by the joins of one batch: read it, do not change it).

        The member is local at once, so a leave while its join is being written removes it
        (and the batch does not write it); its write joins the project's next batch: every
        join that arrives while a batch is out goes in the next one."""
        self.local[key].add(member)
        self.metrics.presence.inc()
        joined: asyncio.Future[list[dict[str, str]]] = asyncio.get_running_loop().create_future()
        self._joining.setdefault(key, []).append((member, joined))
        if key not in self._joiners:
            self._joiners[key] = asyncio.get_running_loop().create_task(self._join_all(key, live))
        return await joined

    async def _join_all(self, key: str, live: str) -> None:
        try:
            while batch := self._joining.pop(key, None):
                try:
                    present = await self._join_batch(key, live, [m for m, _ in batch])
                except Exception as exc:  # the store or broker: each join reports it
                    for _, joined in batch:
                        if not joined.done():
                            joined.set_exception(exc)
                    continue
                except BaseException:
                    for _, joined in batch:
                        joined.cancel()
                    raise
                for _, joined in batch:
                    if not joined.done():
                        joined.set_result(present)
        finally:
            del self._joiners[key]
            for _, joined in self._joining.pop(key, []):  # cancelled (closing)
                joined.cancel()

    async def _join_batch(self, key: str, live: str, members: list[str]) -> list[dict[str, str]]:
        now = time.time()
        before = await self.store.members(key, now)
        still = [m for m in members if m in self.local.get(key, ())]  # not left meanwhile
        if still:
            await self.store.put(key, still, now + self.ttl)
        known = {_person(m)["user"] for m in before}
        people = [p for p in _distinct(still) if p["user"] not in known]
        if people:
            await self._publish(live, {"k": "presence", "joined": people})
        return _distinct(before + still)

    async def leave(self, key: str, live: str, member: str) -> None:
        if member not in self.local.get(key, ()):
            return
        self.local[key].discard(member)
        if not self.local[key]:
            del self.local[key]
        self.metrics.presence.dec()
        await self.store.remove(key, member)
        await self._left(key, live, [member])

    async def _left(self, key: str, live: str, gone: list[str]) -> None:
        users_left = {_person(m)["user"] for m in await self.store.members(key, time.time())}
        people = [p for p in _distinct(gone) if p["user"] not in users_left]
        if people:
            await self._publish(live, {"k": "presence", "left": people})

    async def publish_ephemeral(self, live: str, sender: dict[str, str], data: Any) -> None:
        await self._publish(live, {"k": "broadcast", "from": sender, "data": data})

    async def _publish(self, live: str, message: dict[str, Any]) -> None:
        await self.broker.publish(live, orjson.dumps(message))

    def on_live(self, state: ChannelState[Any], data: bytes) -> None:
        """A presence change or an ephemeral broadcast from any node: to local subscribers."""
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(msg, dict):
            return
        if msg.get("k") == "presence":
            joined, left = msg.get("joined"), msg.get("left")
            if self._batch.add(
                state,
                joined if isinstance(joined, list) else [],
                left if isinstance(left, list) else [],
            ):
                asyncio.get_running_loop().call_later(self._batch_s, self._flush)
            return
        members = [s for s in state.members if not s.closing]
        if msg.get("k") == "broadcast" and isinstance(msg.get("from"), dict):
            sender = msg["from"].get("session")
            members = [s for s in members if s.session_id != sender]
            self.metrics.ephemeral.inc()
            frame = orjson.dumps(
                {
                    "type": "broadcast",
                    "channel": state.client_name,
                    "from": {"user": msg["from"].get("user"), "name": msg["from"].get("name")},
                    "data": msg.get("data"),
                }
            )
        else:
            return
        broadcast([s.ws for s in members], frame)

    def _flush(self) -> None:
        for state, change in self._batch.drain():
            frame = protocol.presence(state.client_name, **change)
            broadcast([s.ws for s in state.members if not s.closing], frame)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 4)
            with contextlib.suppress(Exception):
                await self._beat()

    async def _beat(self) -> None:
        now = time.time()
        for key, members in list(self.local.items()):
            # A member missing at its refresh was swept by another node while this one stalled
            # past the ttl, and announced gone: announce it back.
            back = await self.store.put(key, list(members), now + self.ttl)
            gone = await self.store.claim_expired(key, now)
            tenant, project = key.split(":")[-2:]
            live = project_channel(self.prefix, tenant, project) + ":live"
            if back:
                await self._back(key, live, back, now)
            if gone:
                await self._left(key, live, gone)

    async def _back(self, key: str, live: str, back: list[str], now: float) -> None:
        # Users with another member present were never announced gone.
        others = {_person(m)["user"] for m in await self.store.members(key, now) if m not in back}
        people = [p for p in _distinct(back) if p["user"] not in others]
        if people:
            await self._publish(live, {"k": "presence", "joined": people})


def _distinct(members: list[str]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for m in members:
        person = _person(m)
        seen.setdefault(person["user"], person)
    return list(seen.values())
