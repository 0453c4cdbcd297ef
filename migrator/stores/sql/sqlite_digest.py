"""The row digest of `migrator.verify.digest`, with SQLite spelling the rows.

`Digest.of` hashes each row's canonical text: the values' `canonical` spellings joined by U+001F.
For an integer or a text, SQLite's own text of the value is that spelling, and NULL becomes NUL
(char(0)); reals and blobs go through `canonical` itself, as a function registered on the
connection. So SQLite hands Python one string per row, and Python only hashes it: a third of the
cost of reading the row's values into Python and spelling them there. Equal digests by
construction, so a digest taken either way compares with the other (tests/test_sqlite_attach_copy.py).

Only for values that SQLAlchemy hands over unchanged: a column type with a result processor
(DATETIME, NUMERIC, BOOLEAN...) is hashed as the processed value, which SQLite cannot spell.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from migrator.verify.digest import MASK, Digest, canonical

BATCH = 20_000


def register(raw: Any) -> None:
    """The functions `spelled` uses, on a driver (sqlite3) connection."""
    raw.create_function("m__canonical", 1, canonical, deterministic=True)


def spelled(columns: Iterable[str]) -> str:
    """The SQL expression of a row's canonical text, over already quoted column names."""
    parts = []
    for column in columns:
        special = f"typeof({column}) IN ('real', 'blob')"
        parts.append(f"CASE WHEN {special} THEN m__canonical({column}) ELSE coalesce({column}, char(0)) END")
    return " || char(31) || ".join(parts)


def hash_sum(texts: Iterable[str]) -> int:
    """The sum modulo 2**64 of `row_hash` of rows already spelled."""
    return hash_sum_of_bytes(text.encode() for text in texts)


def hash_sum_of_bytes(texts: Iterable[bytes]) -> int:
    """`hash_sum` of rows already spelled and encoded in UTF-8: the 8-byte hashes laid end to end
    and summed as unsigned big-endian integers, in C."""
    blake2b = hashlib.blake2b
    hashes = array("Q", b"".join([blake2b(text, digest_size=8).digest() for text in texts]))
    if sys.byteorder == "little":
        hashes.byteswap()
    return sum(hashes) & MASK


def raw_values(conn: Connection, query: sa.Select) -> bool:  # type: ignore[type-arg]
    """Whether SQLAlchemy reads every column of `query` as the driver gives it."""
    dialect = conn.dialect
    return all(
        column.type.dialect_impl(dialect).result_processor(dialect, None) is None for column in query.selected_columns
    )


def sqlite_digest(conn: Connection, query: sa.Select, columns: list[str]) -> Digest | None:  # type: ignore[type-arg]
    """`Digest.of` the rows of `query` (its columns `columns`, in that order), or None where it
    cannot be taken this way: not SQLite, or a column whose values SQLAlchemy converts."""
    if conn.dialect.name != "sqlite" or [c.name for c in query.selected_columns] != columns:
        return None
    if not raw_values(conn, query):
        return None
    compiled = query.compile(conn)
    if compiled.params:
        return None
    raw: Any = conn.connection.driver_connection
    register(raw)
    quote = conn.dialect.identifier_preparer.quote
    cursor = raw.cursor()
    total, rows = 0, 0
    text = spelled(quote(c) for c in columns)
    # In a UTF-8 database a text cast to a BLOB is its UTF-8 bytes, the very bytes hashed: the
    # driver then decodes no str that Python would only encode again (a third of the time).
    utf8 = cursor.execute("PRAGMA encoding").fetchone()[0] == "UTF-8"
    try:
        if utf8:
            cursor.execute(f"SELECT CAST({text} AS BLOB) FROM ({compiled}) AS m__rows")
        else:
            cursor.execute(f"SELECT {text} FROM ({compiled}) AS m__rows")
        summed = hash_sum_of_bytes if utf8 else hash_sum
        while batch := cursor.fetchmany(BATCH):
            total = (total + summed(value for (value,) in batch)) & MASK
            rows += len(batch)
    finally:
        cursor.close()
    return Digest(rows, f"{total:016x}")
