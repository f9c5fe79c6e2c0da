"""The live runner's batch on PostgreSQL: every projection a session leads, in one transaction.

Under a steady stream of commits each projection would otherwise open its own transaction per
cycle; their fixed round trips (BEGIN, checkpoint lock, compare-and-set, COMMIT) were most of
the live projections' cost. Here one cycle is:

1. `BEGIN` and `SELECT … FOR UPDATE` of the led checkpoints in one message, which fails
   (division by zero) unless each is still the row version its previous batch wrote: then
   the warm row caches are current (rowcache);
2. each projector applies the events after its checkpoint, shared through the EventFeed, into
   its warm row cache (a miss is a SELECT; a rename's set-wide UPDATE runs at once);
3. one statement writes every changed row of every table (unnest arrays in data-modifying
   CTEs) and moves every checkpoint with a compare-and-set, returning the new row versions;
4. `COMMIT`.

Rows and checkpoints still commit together, so a crash anywhere loses nothing and applies
nothing twice. Checkpoint rows are locked in name order, and before any read-model table, as
a rebuild's swap does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncConnection

from app.kernel.clock import Clock
from app.readside.feed import EventFeed
from app.readside.projector import CheckpointMovedError, FaultHook, Projector
from app.readside.rowcache import Write

_LOCK = (
    "SELECT name, position, xmin::text::bigint FROM projection_checkpoint"
    " WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE"
)
_ADVANCE = (
    "UPDATE projection_checkpoint AS c SET position = v.new, updated_at = ${}"
    " FROM unnest(${}::text[], ${}::bigint[], ${}::bigint[]) AS v(name, old, new)"
    " WHERE c.name = v.name AND c.position = v.old"
    " RETURNING c.name, c.xmin::text::bigint AS version"
)


def _write_and_advance(
    writes: list[Write], moved: list[tuple[str, int, int]], now: datetime
) -> tuple[str, list[Any]]:
    """One statement: every table's row writes (data-modifying CTEs) and the checkpoints'
    compare-and-set, answering the new checkpoint versions. Each CTE writes other rows (a
    projection owns its tables; a key is deleted, inserted or updated once per batch)."""
    parts: list[str] = []
    params: list[Any] = []
    for sql_at, arrays in writes:
        parts.append(f"w{len(parts)} AS ({sql_at(len(params))})")
        params.extend(arrays)
    n = len(params)
    parts.append(f"checkpoint AS ({_ADVANCE.format(n + 4, n + 1, n + 2, n + 3)})")
    names, olds, news = (list(column) for column in zip(*moved, strict=True))
    params.extend([names, olds, news, now])
    return f"WITH {', '.join(parts)} SELECT name, version FROM checkpoint", params


Token = tuple[int, int]  # (checkpoint position, checkpoint row version)


class BatchFailedError(Exception):
    """One projector's batch failed (its handler, or a test's fault hook)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"projection {name} failed to apply its batch")
        self.name = name


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _begin_if_unmoved(tokens: dict[str, Token]) -> str:
    """BEGIN, lock the checkpoints and check their versions, in one simple-protocol message."""
    names = sorted(tokens)
    expected = ", ".join(
        f"({_literal(n)}, {int(tokens[n][0])}, {int(tokens[n][1])})" for n in names
    )
    return (
        "BEGIN; SELECT 1 / (count(*) FILTER (WHERE (name::text, position, xmin::text::bigint)"
        f" IN ({expected})) = {len(names)})::int FROM (SELECT name, position, xmin"
        f" FROM projection_checkpoint WHERE name IN ({', '.join(map(_literal, names))})"
        " ORDER BY name FOR UPDATE) AS checkpoint"
    )


async def _begin(driver: Any, projectors: Sequence[Projector]) -> dict[str, Token]:
    """Start the transaction with the checkpoints locked; forget caches that may be stale."""
    warm = {p.name: p.warm for p in projectors}
    if all(token is not None for token in warm.values()):
        tokens = {name: token for name, token in warm.items() if token is not None}
        try:
            await driver.execute(_begin_if_unmoved(tokens))
            return tokens
        except asyncpg.DivisionByZeroError:
            # Someone else wrote a checkpoint (a rebuild's swap, another runner).
            await driver.execute("ROLLBACK")
    await driver.execute("BEGIN")
    rows = await driver.fetch(_LOCK, [p.name for p in projectors])
    found = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    for projector in projectors:
        if projector.name not in found:
            raise LookupError(f"no checkpoint row for projection {projector.name}")
        if projector.warm != found[projector.name]:
            projector.forget()
        projector.warm = found[projector.name]
    return found


async def apply_group(
    connection: AsyncConnection,
    projectors: Sequence[Projector],
    *,
    feed: EventFeed,
    batch_size: int,
    clock: Clock,
    fault: FaultHook | None = None,
) -> dict[str, tuple[int, int]]:
    """Apply the next batch of every projector in one transaction: name -> (advanced, now).

    `connection` is the leader's session in AUTOCOMMIT mode for SQLAlchemy: the transaction
    is driven here on the driver, and SQL a projector runs through SQLAlchemy joins it.
    A projector's failure raises BatchFailedError (the transaction is then to be rolled back).
    """
    driver: Any = (await connection.get_raw_connection()).driver_connection
    results: dict[str, tuple[int, int]] = {}
    versions: dict[str, int] = {}
    try:
        tokens = await _begin(driver, projectors)
        moved: list[tuple[str, int, int]] = []
        writes: list[Write] = []
        for projector in projectors:
            old = tokens[projector.name][0]
            events, new = await feed.read(connection, old, batch_size, projector.handles)
            results[projector.name] = (new - old, new)
            if new == old:
                continue
            try:
                writes.extend(await projector.apply_deferred(connection, events))
                if fault is not None:
                    fault(projector.name, new)  # tests: a crash after the rows, before the CAS
            except Exception as exc:
                raise BatchFailedError(projector.name) from exc
            moved.append((projector.name, old, new))
        if moved:
            sql, params = _write_and_advance(writes, moved, clock())
            rows = await driver.fetch(sql, *params)
            versions = {r[0]: int(r[1]) for r in rows}
            if len(versions) != len(moved):
                raise CheckpointMovedError(f"checkpoints moved under the batch: {moved}")
        await driver.execute("COMMIT")
        if connection.in_transaction():
            await connection.commit()  # SQLAlchemy's bookkeeping only: AUTOCOMMIT sends nothing
    except BaseException:
        # Rolled back, or not known to be committed: no cache is known to match its tables.
        for projector in projectors:
            projector.forget()
        raise
    for projector in projectors:
        position = results[projector.name][1]
        projector.warm = (position, versions.get(projector.name, tokens[projector.name][1]))
    return results
