"""PostgreSQL to PostgreSQL in COPY's binary format, where both sides' columns have the same built-in types.

The text format costs both servers: the source spells every value out, the target parses it back.
In the binary format each value travels as the type's own send/receive representation: on the
benchmark's subset the source's backends spent a fifth less CPU writing it and the target's a fifth
less reading it, on a machine where the two servers and the relay share two cores
(docs/benchmarks.md). The relay still only cuts the stream into chunks of whole tuples.

It applies where the representation means the same on both sides: every column of a built-in type
(an OID below 16384, the same in every database: an array's data names its element type by OID,
and a user type's OID differs between two databases) that has binary send and receive functions,
and the same type in the target's column as in the source's (an int4 read into an int8, or a
timestamp into a timestamptz, would be misread).
Every other table is copied as text (pgcopy). The key to resume after is read from a chunk's last
tuple by psycopg's own binary loaders, for the key types listed here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from psycopg import pq
from sqlalchemy.engine import Connection

from migrator.stores.sql.pgcopy import CopyChunk, copy_of
from migrator.stores.sql.pgstream import copy_out_binary

_FIRST_USER_OID = 16384  # PostgreSQL's FirstNormalObjectId: every OID below is built in
# int8, int2, int4, text, bpchar, varchar, date, timestamp, timestamptz, numeric, uuid: key types
# whose loaded value the resume query compares exactly as it compares the text path's.
_KEY_TYPES = frozenset({20, 21, 23, 25, 1042, 1043, 1082, 1114, 1184, 1700, 2950})
# A type without binary send and receive functions (aclitem), or an array of one, cannot travel
# in binary at all: such a column's type reads as 0.
_COLUMN_TYPES = sa.text(
    "SELECT a.attname, CASE WHEN t.typsend::oid <> 0 AND t.typreceive::oid <> 0"
    " AND (t.typelem = 0 OR (e.typsend::oid <> 0 AND e.typreceive::oid <> 0))"
    " THEN a.atttypid::int ELSE 0 END AS type"
    " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type e ON e.oid = t.typelem"
    " WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"
)


def binary_types(
    source: Connection,
    source_table: sa.Table,
    target: Connection,
    target_table: sa.Table,
    columns: list[str],
    key: list[str],
) -> dict[str, int] | None:
    """The columns' type OIDs where they can travel in the binary format (see the module's
    docstring); None where they cannot."""
    theirs, ours = column_types(source, source_table), column_types(target, target_table)
    for column in columns:
        oid = theirs.get(column)
        if oid is None or not 0 < oid < _FIRST_USER_OID or ours.get(column) != oid:
            return None
    return theirs if all(theirs[k] in _KEY_TYPES for k in key) else None


def column_types(conn: Connection, table: sa.Table) -> dict[str, int]:
    """The type OID of each of the table's columns, from the catalog."""
    name = conn.dialect.identifier_preparer.format_table(table)
    return {row.attname: row.type for row in conn.execute(_COLUMN_TYPES, {"table": name})}


def copy_out_binary_chunks(
    source: Connection,
    query: sa.Select,  # type: ignore[type-arg]
    key_positions: list[int],
    key_types: list[int],
    chunk_rows: int,
) -> Iterator[CopyChunk]:
    """The query's rows as binary tuples, `chunk_rows` at a time (see pgstream.copy_out_binary),
    each chunk with the key of its last row, read with the loaders of the key's types (OIDs)."""
    raw, statement = copy_of(source, query, binary=True)
    key_of = _key_reader(raw, key_positions, key_types)
    for data, rows, last in copy_out_binary(raw, statement, chunk_rows):
        yield CopyChunk(data, rows, key_of(last))


def _key_reader(raw: Any, positions: list[int], types: list[int]) -> Callable[[bytes], tuple[Any, ...]]:
    """A tuple's key values: its fields walked (a 16-bit count, then each field's 32-bit length,
    -1 for NULL, and its bytes) as far as the last key column."""
    loaders = {
        position: raw.adapters.get_loader(oid, pq.Format.BINARY)(oid, raw)
        for position, oid in zip(positions, types, strict=True)
    }
    through = max(positions) + 1

    def key_of(data: bytes) -> tuple[Any, ...]:
        values: dict[int, Any] = {}
        offset = 2
        for field in range(through):
            length = int.from_bytes(data[offset : offset + 4], "big", signed=True)
            offset += 4
            if field in loaders:
                values[field] = None if length < 0 else loaders[field].load(data[offset : offset + length])
            offset += max(length, 0)
        return tuple(values[p] for p in positions)

    return key_of
