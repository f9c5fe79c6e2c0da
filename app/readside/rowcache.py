"""The row cache of a projector: each row loaded at most once, written once per batch at flush.

Within a batch the cache is the projector's view of its tables. The live runner may keep it
warm across batches (write-through: every change is flushed in the batch's transaction), which
is valid only while it is the sole writer of those tables; the runner checks that with the
checkpoint row and calls `clear()` whenever it cannot be sure (see readside.runner).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

Key = tuple[Any, ...]
Row = dict[str, Any]
# A statement still to run: its SQL given the number of parameters before it, and its arrays.
Write = tuple[Callable[[int], str], list[list[Any]]]
# From this many new rows on, a flush inserts with COPY (PostgreSQL) instead of INSERT.
COPY_THRESHOLD = 200
# Rows kept warm per table between batches; beyond it the oldest half is forgotten.
WARM_LIMIT = 20_000
# What `Rows.cached` answers for a key not in the cache (None means "no such row").
MISSING: Any = object()


def _tuple_getter(columns: list[str]) -> Callable[[Row], tuple[Any, ...]]:
    """row -> the tuple of its values in `columns` (itemgetter, which is a scalar for one)."""
    if len(columns) == 1:
        (column,) = columns
        return lambda row: (row[column],)
    return operator.itemgetter(*columns)


class _PgStatements:
    """Hand-written SQL for one table on the raw asyncpg connection (the runner's hot loop)."""

    def __init__(self, table: sa.Table, key_columns: list[str]) -> None:
        q = '"{}"'.format
        # A generated column (search_entry.tsv) is the database's to write: never read or set.
        self.columns = [c.name for c in table.columns if c.computed is None]
        self.others = [c for c in self.columns if c not in key_columns]
        # The driver's jsonb codec (set up by SQLAlchemy's dialect) takes JSON text and gives
        # decoded values.
        self.json = frozenset(c.name for c in table.columns if isinstance(c.type, sa.JSON))
        self._json_at = [i for i, c in enumerate(self.columns) if c in self.json]
        self._values = _tuple_getter(self.columns)
        where = " AND ".join(f"{q(c)} = ${i + 1}" for i, c in enumerate(key_columns))
        self.select = f"SELECT {', '.join(map(q, self.columns))} FROM {q(table.name)} WHERE {where}"
        # Writes of a flush: one statement per kind over column arrays (unnest), so a batch's
        # rows cost one execution, not one per row. Parameters are numbered from an offset:
        # the live runner sends the writes of every table in one statement (readside.live).
        self._types = {c.name: _array_type(c) for c in table.columns}
        self._key_columns = key_columns
        self.update_order = key_columns + self.others
        self._sql: dict[tuple[str, int], str] = {}
        self._update_where: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
        self._name = table.name

    def sql(self, kind: str, offset: int = 0) -> str:
        """The "delete", "insert" or "update" statement, parameters from $offset+1."""
        sql = self._sql.get((kind, offset))
        if sql is None:
            sql = self._sql[(kind, offset)] = self._build(kind, offset)
        return sql

    def _build(self, kind: str, offset: int) -> str:
        q = '"{}"'.format
        table = q(self._name)

        def rows_of(columns: list[str]) -> str:
            arrays = ", ".join(
                f"${offset + i + 1}::{self._types[c]}[]" for i, c in enumerate(columns)
            )
            return f"unnest({arrays}) AS v({', '.join(map(q, columns))})"

        def value(c: str) -> str:
            return f"v.{q(c)}::jsonb" if c in self.json else f"v.{q(c)}"

        match = " AND ".join(f"t.{q(c)} = v.{q(c)}" for c in self._key_columns)
        if kind == "delete":
            return f"DELETE FROM {table} AS t USING {rows_of(self._key_columns)} WHERE {match}"
        if kind == "insert":
            return (
                f"INSERT INTO {table} ({', '.join(map(q, self.columns))})"
                f" SELECT {', '.join(map(value, self.columns))} FROM {rows_of(self.columns)}"
            )
        sets = ", ".join(f"{q(c)} = {value(c)}" for c in self.others)
        return f"UPDATE {table} AS t SET {sets} FROM {rows_of(self.update_order)} WHERE {match}"

    def update_where(self, sets: tuple[str, ...], where: tuple[str, ...]) -> str:
        """UPDATE ... SET sets WHERE where (parameters: the sets' values, then the where's)."""
        sql = self._update_where.get((sets, where))
        if sql is None:
            q = '"{}"'.format
            assignments = ", ".join(f"{q(c)} = ${i + 1}" for i, c in enumerate(sets))
            conditions = " AND ".join(f"{q(c)} = ${len(sets) + i + 1}" for i, c in enumerate(where))
            sql = f"UPDATE {q(self._name)} SET {assignments} WHERE {conditions}"
            self._update_where[(sets, where)] = sql
        return sql

    def arrays(self, rows: list[Row], columns: list[str]) -> list[list[Any]]:
        """Column-wise parameters for the unnest statements (JSON as text)."""
        out = []
        for c in columns:
            if c in self.json:
                out.append([None if r[c] is None else orjson.dumps(r[c]).decode() for r in rows])
            else:
                out.append([r[c] for r in rows])
        return out

    def copy_records(self, rows: list[Row]) -> list[tuple[Any, ...]]:
        """Rows as COPY records in `columns` order, JSON as text: a rebuild copies every row
        of the store through here, so one itemgetter per row and JSON fixed up by index."""
        records = [self._values(r) for r in rows]
        if self._json_at:
            dumps = orjson.dumps
            for n, record in enumerate(records):
                values = list(record)
                for i in self._json_at:
                    if values[i] is not None:
                        values[i] = dumps(values[i]).decode()
                records[n] = tuple(values)
        return records

    def decode(self, record: Any) -> Row:
        return dict(record.items())

    def encode(self, row: Row, columns: list[str]) -> tuple[Any, ...]:
        json = self.json
        return tuple(
            orjson.dumps(row[c]).decode() if c in json and row[c] is not None else row[c]
            for c in columns
        )


def _array_type(column: sa.Column[Any]) -> str:
    """The SQL type of a column's parameter array: text for strings (the column's own length
    check then applies on assignment, where a cast to varchar(n) would truncate) and JSON."""
    if isinstance(column.type, sa.String | sa.JSON):
        return "text"
    return str(column.type.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]


async def _driver(connection: AsyncConnection) -> Any:
    """The asyncpg connection under `connection`, inside the transaction it has begun."""
    return (await connection.get_raw_connection()).driver_connection


class Rows:
    """The rows of one table a projector touches: loaded at most once, written once at flush."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self._key_columns = [c.name for c in table.primary_key.columns]
        self._key_of = _tuple_getter(self._key_columns)
        self._rows: dict[Key, Row | None] = {}
        self._in_db: dict[Key, bool] = {}
        self._dirty: set[Key] = set()
        # Secondary indexes over columns a projection promises never to change (update_cached).
        self._indexes: dict[tuple[str, ...], dict[Key, list[Key]]] = {}
        # Whether rows are ever read back (get): only such tables are worth keeping warm.
        self.read = False
        self._pg: _PgStatements | None = None

    def _index(self, key: Key, row: Row) -> None:
        for columns, index in self._indexes.items():
            index.setdefault(tuple(row[c] for c in columns), []).append(key)

    def _key(self, row: Row) -> Key:
        return self._key_of(row)

    def _statements(self) -> _PgStatements:
        if self._pg is None:
            self._pg = _PgStatements(self.table, self._key_columns)
        return self._pg

    async def get(self, connection: AsyncConnection, *key: Any) -> Row | None:
        self.read = True
        if key not in self._rows:
            pg = self._statements()
            record = await (await _driver(connection)).fetchrow(pg.select, *key)
            found = None if record is None else pg.decode(record)
            self._rows[key] = found
            self._in_db[key] = found is not None
            if found is not None:
                self._index(key, found)
        return self._rows[key]

    def cached(self, *key: Any) -> Row | None:
        """The row if the cache holds it (None: it does not exist), else MISSING."""
        return self._rows.get(key, MISSING)

    def dirty_rows(self) -> list[Row]:
        """The rows the next write will insert or update (so a projector can derive columns)."""
        rows = self._rows
        return [row for key in self._dirty if (row := rows[key]) is not None]

    def add(self, row: Row) -> Row:
        key = self._key(row)
        self._rows[key] = row
        if self._indexes:
            self._index(key, row)
        self._in_db.setdefault(key, False)
        self._dirty.add(key)
        return row

    def changed(self, row: Row) -> None:
        self._dirty.add(self._key(row))

    def delete(self, *key: Any) -> None:
        self._rows[key] = None
        self._in_db.setdefault(key, True)
        self._dirty.add(key)

    def _take(self) -> tuple[list[Key], list[Row], list[Row]]:
        """The dirty rows as (deletes, inserts, updates); from now on they count as written."""
        deletes, inserts, updates = [], [], []
        for key in self._dirty:
            row, in_db = self._rows[key], self._in_db[key]
            if row is None:
                if in_db:
                    deletes.append(key)
            elif in_db:
                updates.append(row)
            else:
                inserts.append(row)
            self._in_db[key] = row is not None
        self._dirty.clear()
        return deletes, inserts, updates

    async def flush(self, connection: AsyncConnection) -> None:
        driver = await _driver(connection)
        for sql_at, arrays in await self.pending(connection):
            await driver.execute(sql_at(0), *arrays)

    async def pending(self, connection: AsyncConnection) -> list[Write]:
        """The dirty rows as statements still to run, now counted as written.

        Large inserts are not deferred: they are copied (COPY) into the table at once.
        """
        pg = self._statements()
        deletes, inserts, updates = self._take()
        writes: list[Write] = []
        if deletes:
            keys = [list(column) for column in zip(*deletes, strict=True)]
            writes.append((functools.partial(pg.sql, "delete"), keys))
        if len(inserts) >= COPY_THRESHOLD:
            # COPY in the same transaction: a rebuild inserts at several times the speed.
            records = pg.copy_records(inserts)
            driver = await _driver(connection)
            await driver.copy_records_to_table(self.table.name, records=records, columns=pg.columns)
        elif inserts:
            writes.append((functools.partial(pg.sql, "insert"), pg.arrays(inserts, pg.columns)))
        if updates:
            arrays = pg.arrays(updates, pg.update_order)
            writes.append((functools.partial(pg.sql, "update"), arrays))
        return writes

    def update_cached(self, where: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        """Change the cached rows that match `where` (the SQL UPDATE covers the stored ones).

        Matching goes through an index on the `where` columns, so they must never change.
        """
        conditions = list(where.items())
        columns = tuple(sorted(where))
        index = self._indexes.get(columns)
        if index is None:
            index = self._indexes[columns] = {}
            for key, row in self._rows.items():
                if row is not None:
                    index.setdefault(tuple(row[c] for c in columns), []).append(key)
        for key in index.get(tuple(where[c] for c in columns), []):
            row = self._rows.get(key)
            if row is None:
                continue
            for column, value in conditions:
                if row[column] != value:
                    break
            else:
                row.update(values)
                self._dirty.add(key)

    async def update_stored(
        self, connection: AsyncConnection, where: Mapping[str, Any], values: Mapping[str, Any]
    ) -> None:
        """UPDATE every stored row matching `where` (equality on each column) with `values`."""
        pg = self._statements()
        if any(v is None for v in where.values()):
            # (SQLAlchemy turns `== None` into IS NULL; the hand-written SQL does not.)
            condition = sa.and_(*(self.table.c[c] == v for c, v in where.items()))
            await connection.execute(self.table.update().where(condition).values(**values))
            return
        sql = pg.update_where(tuple(values), tuple(where))
        params = pg.encode(dict(values), list(values)) + pg.encode(dict(where), list(where))
        await (await _driver(connection)).execute(sql, *params)

    def is_stored(self, *key: Any) -> bool:
        """Whether the row may exist in the table (False: it was added by this very batch).

        A row known to be absent counts as stored: with the cache kept warm, "absent" may
        have been learnt batches ago, and rows referring to it may have been written since.
        """
        return self._in_db.get(key, True) or self._rows.get(key) is None

    def settle(self, limit: int = WARM_LIMIT) -> None:
        """After a committed batch: keep what is worth keeping warm, within `limit` rows.

        Only tables whose rows are read back keep any; the oldest half goes past the limit.
        """
        assert not self._dirty, "settle() after flush() only"
        if not self.read:
            self.clear()
            return
        if len(self._rows) > limit:
            for key in list(self._rows)[: len(self._rows) - limit // 2]:
                del self._rows[key]
                del self._in_db[key]
            self._indexes.clear()

    def clear(self) -> None:
        self._indexes.clear()
        self._rows.clear()
        self._in_db.clear()
        self._dirty.clear()
