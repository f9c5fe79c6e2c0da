"""Group commit: the appends of a process's concurrent commands, written by one call.

Every append takes the `event_head` row lock until its commit (that is what keeps positions
gapless and in commit order), so appends written one at a time pass one WAL flush at a time.
Here the commands that reach their commit while a batch is being written wait together, and
the next batch writes all of them with one call of `collabspace_append_batch` (migration
0008): one transaction, one lock, one flush. There is no timer: a batch starts as soon as
the previous one returned, so at low load a command is written alone and at once.

Each command is checked on its own inside the batch (its streams' expected versions, its
Idempotency-Key): one that fails gets its ConcurrencyError (the bus retries it or answers 409)
and the others commit. An unexpected error of the batch retries its commands one by one, so it
reaches only the command that caused it; a lost connection fails the whole batch (its outcome
is unknown, as a single append's would be: the API answers 503). Batches are capped in events
and bytes; a command larger than the caps is written alone.

The writer has its own session, bound to no tenant (see the migration for how tenants are checked
per command), so that a batch never waits for a pooled session: the units of work return theirs
before they wait for the batch.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson

from app.eventstore.port import NewEvent
from app.eventstore.postgres.errors import BROKEN
from app.eventstore.postgres.idempotency import PendingKey
from app.eventstore.postgres.sql import APPEND_BATCH
from app.kernel.domain import ConcurrencyError

# The database is not there, or the writer's session broke mid-call.
_UNREACHABLE: tuple[type[BaseException], ...] = (*BROKEN, OSError)

MAX_BATCH_EVENTS = 2000
MAX_BATCH_BYTES = 4 * 1024 * 1024


@dataclasses.dataclass(slots=True)
class StreamAppend:
    """One stream's events of one command: versions after `expected_version`."""

    stream_id: str
    expected_version: int
    # Per event: project, type, schema version, data (JSON text), metadata (JSON text), time.
    events: list[tuple[str | None, str, int, str, str, datetime]]


@dataclasses.dataclass(slots=True)
class Command:
    """What one unit of work writes at its commit, for one tenant."""

    tenant_id: str
    caller_tenant: str
    appends: list[StreamAppend]
    key: PendingKey | None = None
    size: int = 0
    events: int = 0


def command_of(
    tenant_id: str,
    caller_tenant: str,
    pending: list[tuple[str, int, list[NewEvent], str | None, str, datetime]],
    key: PendingKey | None,
    *,
    conditions: dict[str, int] | None = None,
) -> Command:
    """A unit of work's queued appends (stream, expected version, events, project, metadata,
    time) as one command, in the order they were made (a stream appended again must continue
    the command's own earlier append: the batch function checks it).

    Its conditions (streams read, not written: `EventStore.expect`) come first, as appends of
    no events: the batch checks their versions as any append's, inserts nothing for them and,
    from migration 0013 on, lets later commands of the batch use those streams too.
    """
    command = Command(tenant_id, caller_tenant, [], key)
    for stream_id, version in (conditions or {}).items():
        command.appends.append(StreamAppend(stream_id, version, []))
    for stream_id, expected, events, project, metadata, at in pending:
        rows = []
        for event in events:
            data = orjson.dumps(event.data).decode()
            command.size += len(data) + len(metadata)
            rows.append((project, event.type, event.schema_version, data, metadata, at))
        command.events += len(rows)
        command.appends.append(StreamAppend(stream_id, expected, rows))
    return command


def _failure(command: Command, reason: str) -> BaseException:
    streams = ",".join(sorted({a.stream_id for a in command.appends}))
    if reason == "key":
        return ConcurrencyError("idempotency key used concurrently")
    if reason == "tenant":
        return PermissionError(f"a stream of another tenant: {streams}")
    return ConcurrencyError("a stream moved past its expected version", stream_id=streams)


def _arguments(batch: list[Command]) -> tuple[list[Any], ...]:
    """The 20 arrays of `collabspace_append_batch`: per command, per append, per event."""
    columns: tuple[list[Any], ...] = tuple([] for _ in range(20))
    (tenants, callers, users, keys, hashes, statuses, bodies, key_times) = columns[:8]
    (append_commands, streams, expected, counts) = columns[8:12]
    (event_appends, versions, projects, types, schemas, datas, metas, times) = columns[12:]
    for number, command in enumerate(batch, start=1):
        tenants.append(command.tenant_id)
        callers.append(command.caller_tenant)
        key = command.key
        if key is None:
            for column in (users, keys, hashes, statuses, bodies, key_times):
                column.append(None)
        else:
            user, name, request_hash, status, body, at = key.params()
            users.append(user)
            keys.append(name)
            hashes.append(request_hash)
            statuses.append(status)
            bodies.append(body)
            key_times.append(at)
        for append in command.appends:
            append_commands.append(number)
            streams.append(append.stream_id)
            expected.append(append.expected_version)
            counts.append(len(append.events))
            for n, (project, type_, schema, data, metadata, at) in enumerate(append.events, 1):
                event_appends.append(len(streams))
                versions.append(append.expected_version + n)
                projects.append(project)
                types.append(type_)
                schemas.append(schema)
                datas.append(data)
                metas.append(metadata)
                times.append(at)
    return columns


class GroupCommit:
    """One process's writer of batches (owned by the PgPool, closed with it)."""

    def __init__(
        self,
        dsn: str,
        *,
        max_events: int = MAX_BATCH_EVENTS,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self._dsn = dsn
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._queue: collections.deque[tuple[Command, asyncio.Future[int]]] = collections.deque()
        self._writer: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None
        # Commands per batch -> how many batches had that many, and the seconds spent waiting
        # for batch calls: what the benchmarks report of the group commit.
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        self.busy_seconds = 0.0

    async def write(self, command: Command) -> int:
        """Write the command with whatever else is waiting; its last position, or its error."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append((command, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        # A cancelled caller leaves its command in the batch: like a cancelled single append,
        # it may or may not commit (the unit of work drops its session either way).
        return await future

    def _take(self) -> list[tuple[Command, asyncio.Future[int]]]:
        batch = [self._queue.popleft()]
        events, size = batch[0][0].events, batch[0][0].size
        while self._queue:
            command = self._queue[0][0]
            events, size = events + command.events, size + command.size
            if events > self._max_events or size > self._max_bytes:
                break
            batch.append(self._queue.popleft())
        return batch

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._take()
                self.batch_sizes[len(batch)] += 1
                started = time.perf_counter()
                await self._write(batch)
                self.busy_seconds += time.perf_counter() - started
        finally:
            self._writer = None

    async def _write(self, batch: list[tuple[Command, asyncio.Future[int]]]) -> None:
        try:
            outcomes = await self._call([command for command, _ in batch])
        except _UNREACHABLE as exc:
            # No database (OSError: it refused the writer's connection) or a session lost
            # mid-call: every command of the batch gets the error (the API answers 503).
            await self._drop()
            for _, future in batch:
                _settle(future, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            # One command's bad data must not fail its neighbours: each on its own.
            for entry in batch:
                await self._write([entry])
            return
        for command, future in batch:
            _settle(future, outcomes[id(command)])

    async def _call(self, commands: list[Command]) -> dict[int, int | BaseException]:
        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(
                self._dsn, server_settings={"jit": "off", "TimeZone": "UTC"}
            )
        rows = await self._connection.fetch(APPEND_BATCH, *_arguments(commands))
        outcomes: dict[int, int | BaseException] = {}
        for number, last, failure in rows:
            command = commands[number - 1]
            outcomes[id(command)] = int(last) if failure is None else _failure(command, failure)
        return outcomes

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            await connection.close()


def _settle(future: asyncio.Future[int], outcome: int | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, asyncio.CancelledError):
        future.cancel()
    elif isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
