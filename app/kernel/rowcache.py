"""The per-batch row cache of a projector: each row loaded at most once, written once at flush."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

Key = tuple[Any, ...]
Row = dict[str, Any]
# From this many new rows on, a flush inserts with COPY (PostgreSQL) instead of INSERT.
COPY_THRESHOLD = 200
# What `Rows.cached` answers for a key the batch has not loaded yet (None means "no such row").
MISSING: Any = object()


def _tuple_getter(columns: list[str]) -> Callable[[Row], tuple[Any, ...]]:
    """row -> the tuple of its values in `columns` (itemgetter, which is a scalar for one)."""
    if len(columns) == 1:
        (column,) = columns
        return lambda row: (row[column],)
    return operator.itemgetter(*columns)


class Rows:
    """The rows of one table touched by a batch: each loaded at most once, written once at flush."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self._key_columns = [c.name for c in table.primary_key.columns]
        self._key_of = _tuple_getter(self._key_columns)
        self._rows: dict[Key, Row | None] = {}
        self._in_db: dict[Key, bool] = {}
        self._dirty: set[Key] = set()
        # Secondary indexes over columns a projection promises never to change (update_cached).
        self._indexes: dict[tuple[str, ...], dict[Key, list[Key]]] = {}
        self._index_keys: dict[tuple[str, ...], Callable[[Row], Key]] = {}

    def _index(self, key: Key, row: Row) -> None:
        for columns, index in self._indexes.items():
            index.setdefault(self._index_keys[columns](row), []).append(key)

    def _key(self, row: Row) -> Key:
        return self._key_of(row)

    async def get(self, connection: AsyncConnection, *key: Any) -> Row | None:
        if key not in self._rows:
            condition = sa.and_(
                *(self.table.c[c] == v for c, v in zip(self._key_columns, key, strict=True))
            )
            found = (await connection.execute(sa.select(self.table).where(condition))).first()
            self._rows[key] = None if found is None else dict(found._mapping)
            self._in_db[key] = found is not None
            if found is not None and self._indexes:
                self._index(key, self._rows[key] or {})
        return self._rows[key]

    def cached(self, *key: Any) -> Row | None:
        """The row if this batch has loaded it (None: it does not exist), else MISSING."""
        return self._rows.get(key, MISSING)

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

    def pending(self) -> list[Row]:
        """The rows the next flush will insert or update (so a projector can derive columns)."""
        rows = self._rows
        return [row for key in self._dirty if (row := rows[key]) is not None]

    def delete(self, *key: Any) -> None:
        self._rows[key] = None
        self._in_db.setdefault(key, True)
        self._dirty.add(key)

    async def flush(self, connection: AsyncConnection) -> None:
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
        cols = self._key_columns
        where = sa.and_(*(self.table.c[c] == sa.bindparam("k_" + c) for c in cols))
        if deletes:
            params = [{"k_" + c: v for c, v in zip(cols, key, strict=True)} for key in deletes]
            await connection.execute(self.table.delete().where(where), params)
        if inserts:
            await self._insert(connection, inserts)
        if updates:
            others = [c.name for c in self.table.columns if c.name not in cols]
            statement = (
                self.table.update().where(where).values({c: sa.bindparam("v_" + c) for c in others})
            )
            params = [
                {**{"k_" + c: r[c] for c in cols}, **{"v_" + c: r[c] for c in others}}
                for r in updates
            ]
            await connection.execute(statement, params)
        for key in self._dirty:
            self._in_db[key] = self._rows[key] is not None
        self._dirty.clear()

    async def _insert(self, connection: AsyncConnection, rows: list[Row]) -> None:
        if connection.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
            # COPY in the same transaction: a rebuild inserts at several times the speed.
            columns = [c.name for c in self.table.columns]
            values_of = _tuple_getter(columns)
            # The driver's jsonb codec takes JSON text, as SQLAlchemy would have serialised it.
            json = [i for i, c in enumerate(self.table.columns) if isinstance(c.type, sa.JSON)]
            records = [values_of(r) for r in rows]
            if json:
                dumps = orjson.dumps
                for n, record in enumerate(records):
                    values = list(record)
                    for i in json:
                        values[i] = dumps(values[i]).decode()
                    records[n] = tuple(values)
            driver: Any = (await connection.get_raw_connection()).driver_connection
            await driver.copy_records_to_table(self.table.name, records=records, columns=columns)
        else:
            await connection.execute(self.table.insert(), rows)

    def update_cached(self, where: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        """Change the cached rows that match `where` (the SQL UPDATE covers the stored ones).

        Matching goes through an index on the `where` columns, so they must never change.
        """
        conditions = list(where.items())
        columns = tuple(sorted(where))
        index = self._indexes.get(columns)
        if index is None:
            index = self._indexes[columns] = {}
            self._index_keys[columns] = _tuple_getter(list(columns))
            for key, row in self._rows.items():
                if row is not None:
                    index.setdefault(tuple(row[c] for c in columns), []).append(key)
        for key in index.get(tuple(where[c] for c in columns), []):
            row = self._rows[key]
            if row is None:
                continue
            for column, value in conditions:
                if row[column] != value:
                    break
            else:
                row.update(values)
                self._dirty.add(key)

    def is_stored(self, *key: Any) -> bool:
        """Whether the row may exist in the table (False: it was added by this very batch)."""
        return self._in_db.get(key, True)

    def clear(self) -> None:
        self._indexes.clear()
        self._rows.clear()
        self._in_db.clear()
        self._dirty.clear()
