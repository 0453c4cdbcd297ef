"""The queries verification runs: orphans per foreign key, table digests, rows in key order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.errors import PermanentError
from migrator.stores.sql.literal import execute_literal, literal_sql
from migrator.stores.sql.mariadb_stored import stored_columns
from migrator.stores.sql.snapshot import plain_batches, stream
from migrator.stores.sql.sqlite_digest import STORED, STORED_CHUNKS, sqlite_digest, stored_spelling
from migrator.verify.digest import MASK, Digest

BATCH = 20_000
Row = dict[str, Any]
# Digests over the values as the databases store them (same dialect on both sides): SQLite's
# stored spelling of each value (per row, or per chunk), PostgreSQL's text output (in COPY chunks,
# or summed in the server) or its binary tuples (in COPY chunks).
TEXT_CHUNKS, BINARY_CHUNKS = "chunks", "binary-chunks"
STORED_METHODS = frozenset({STORED, STORED_CHUNKS, TEXT_CHUNKS, BINARY_CHUNKS, "postgresql"})


def orphans(
    conn: Connection,
    child: sa.Table,
    columns: Sequence[str],
    parent: sa.Table | None,
    parent_columns: Sequence[str],
    limit: int = 5,
) -> tuple[int, list[tuple[Any, ...]]]:
    """Rows of `child` whose key through `columns` finds no row in `parent` (None: a table that is
    not there, so every non-null reference is an orphan). Returns the count and a few examples."""
    not_null = sa.and_(*[child.c[c].is_not(None) for c in columns])
    if parent is None:
        missing = not_null
    else:
        other = parent.alias("parent_row")  # an alias, or a self-reference would compare a row with itself
        match = sa.exists().where(*[other.c[p] == child.c[c] for c, p in zip(columns, parent_columns, strict=True)])
        missing = sa.and_(not_null, sa.not_(match))
    if parent is not None and conn.dialect.name == "sqlite":
        count = _joined_orphans(conn, child, columns, parent, parent_columns)
    else:
        count = int(conn.execute(sa.select(sa.func.count()).select_from(child).where(missing)).scalar_one())
    examples: list[tuple[Any, ...]] = []
    if count:
        shown = [child.c[c] for c in (_key(child) or list(columns))]
        examples = [tuple(r) for r in conn.execute(sa.select(*shown).where(missing).limit(limit))]
    return count, examples


def _joined_orphans(
    conn: Connection, child: sa.Table, columns: Sequence[str], parent: sa.Table, parent_columns: Sequence[str]
) -> int:
    """The same count on SQLite, which runs a correlated EXISTS as a subprogram per row: the child
    LEFT JOINed to the parent on the same comparison (the parent's column on the left, so that its
    collation decides, as SQLite's own foreign keys compare), the rows that found no parent counted.
    A child row that finds several parents (a relation the plan declares, on a column that is not
    unique) is not counted: only a row that found none has NULL on the parent's side. Half the time
    of the same count over the child's distinct references with an EXISTS each (0.13 s against
    0.25 s for the nine references of the benchmark at scale 1)."""
    other = parent.alias("parent_row")
    on = sa.and_(*[other.c[p] == child.c[c] for c, p in zip(columns, parent_columns, strict=True)])
    found = (
        sa.select(sa.func.count())
        .select_from(child.outerjoin(other, on))
        .where(*[child.c[c].is_not(None) for c in columns], other.c[parent_columns[0]].is_(None))
    )
    return int(conn.execute(found).scalar_one())


Reference = tuple[str, tuple[str, ...], str, tuple[str, ...]]  # child, its columns, parent, the parent's columns

_VALIDATED_FOREIGN_KEYS = """
SELECT CASE WHEN child.relnamespace = current_schema()::regnamespace THEN child.relname
            ELSE (SELECT nspname FROM pg_namespace WHERE oid = child.relnamespace) || '.' || child.relname END,
       CASE WHEN parent.relnamespace = current_schema()::regnamespace THEN parent.relname
            ELSE (SELECT nspname FROM pg_namespace WHERE oid = parent.relnamespace) || '.' || parent.relname END,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.i),
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.i)
FROM pg_constraint c
JOIN pg_class child ON child.oid = c.conrelid
JOIN pg_class parent ON parent.oid = c.confrelid
WHERE c.contype = 'f' AND c.convalidated
"""


def validated_foreign_keys(conn: Connection) -> set[Reference]:
    """The references the target's database has checked over every row of the child, and checks on
    every write: PostgreSQL's validated foreign keys. Other databases say nothing that strong
    (MySQL's foreign_key_checks and SQLite's foreign_keys pragma can be off per session)."""
    if conn.dialect.name != "postgresql":
        return set()
    rows = conn.exec_driver_sql(_VALIDATED_FOREIGN_KEYS).all()
    return {(child, tuple(columns), parent, tuple(parent_columns)) for child, parent, columns, parent_columns in rows}


def python_digest(
    conn: Connection, query: sa.Select, columns: list[str], transform: Callable[[Row], Row] | None
) -> Digest:  # type: ignore[type-arg]
    """Count and order-independent checksum of a query's rows, hashed in Python as they stream by;
    MariaDB's as it stores them (mariadb_stored.py), as the copy read them."""
    query = stored_columns(conn.dialect.name, query)
    if transform is None:
        spelled_by_sqlite = sqlite_digest(conn, query, columns)
        if spelled_by_sqlite is not None:
            return spelled_by_sqlite
    total = Digest(0, f"{0:016x}")
    # Rows are sequences already: a mapping per row is only needed to transform them.
    as_selected = transform is None and [c.name for c in query.selected_columns] == columns
    if as_selected:
        for batch in plain_batches(conn, query, BATCH) or stream(conn, query, BATCH):
            total = total.plus(Digest.of(batch))
        return total
    for rows in stream(conn, query, BATCH):
        total = total.plus(Digest.of(_values(dict(r._mapping), columns, transform) for r in rows))
    return total


def pg_digest(conn: Connection, query: sa.Select, columns: list[str]) -> Digest:  # type: ignore[type-arg]
    """The same, computed inside PostgreSQL: the rows never leave the server. Only comparable with
    another pg_digest, over columns of the same types (the row's text form is what is hashed)."""
    sql = literal_sql(query, conn)
    preparer = conn.dialect.identifier_preparer
    fields = ", ".join(f"t.{preparer.quote(c)}" for c in columns)
    digest_sql = (
        "SELECT count(*), coalesce(sum(('x' || substr(md5(ROW(" + fields + ")::text), 1, 16))::bit(64)::bigint), 0) "
        f"FROM ({sql}) AS t"
    )
    count, total = tuple(execute_literal(conn, digest_sql).one())
    return Digest(int(count), f"{int(total) & MASK:016x}")


def stored_digest(conn: Connection, query: sa.Select, columns: list[str]) -> Digest:  # type: ignore[type-arg]
    """The digest of `query`'s rows as SQLite stores them (method "sqlite")."""
    digest = sqlite_digest(conn, query, columns, stored=True)
    if digest is None:
        raise PermanentError(f"a digest of stored SQLite values cannot be taken on {conn.dialect.name}")
    return digest


def as_stored(conn: Connection, query: sa.Select, key: list[str], columns: list[str]) -> tuple[sa.Select, list[str]]:  # type: ignore[type-arg]
    """`query`'s rows in key order, each of `columns` as the database stores it (SQLite: its
    `quote()`, see `stored_spelling`; PostgreSQL: its text output), for naming the rows whose stored
    form differs where their values read the same. Returns the query and its key's column names."""
    rows = query.subquery("m__stored")
    quote = conn.dialect.identifier_preparer.quote
    spelled: list[sa.ColumnElement[Any]]
    if conn.dialect.name == "sqlite":
        spelled = [sa.literal_column(stored_spelling([f"m__stored.{quote(c)}"])).label(c) for c in columns]
    elif conn.dialect.name == "postgresql":
        spelled = [sa.cast(rows.c[c], sa.Text).label(c) for c in columns]
    else:
        spelled = [rows.c[c].label(c) for c in columns]
    keys = [f"m__key_{number}" for number in range(len(key))]
    selected = [rows.c[k].label(label) for k, label in zip(key, keys, strict=True)]
    return sa.select(*selected, *spelled).order_by(*[rows.c[k] for k in key]), keys


def keyed_rows(
    conn: Connection,
    query: sa.Select,
    key: list[str],
    columns: list[str],
    transform: Callable[[Row], Row] | None,  # type: ignore[type-arg]
) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(key, row values) in the query's key order, for finding which rows differ."""
    for batch in stream(conn, stored_columns(conn.dialect.name, query), BATCH):
        for r in batch:
            mapping = dict(r._mapping)
            yield tuple(mapping[k] for k in key), _values(mapping, columns, transform)


def target_rows(table: sa.Table, columns: list[str], key: list[str]) -> sa.Select:  # type: ignore[type-arg]
    query = sa.select(*[table.c[c] for c in columns])
    return query.order_by(*[table.c[k] for k in key]) if key else query


def count(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _values(row: Row, columns: list[str], transform: Callable[[Row], Row] | None) -> tuple[Any, ...]:
    if transform is not None:
        row = transform(row)
    return tuple(row.get(c) for c in columns)


def _key(table: sa.Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]
