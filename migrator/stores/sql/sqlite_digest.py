"""The row digest of `migrator.verify.digest`, with SQLite spelling the rows.

`Digest.of` hashes each row's canonical text: the values' `canonical` spellings joined by U+001F.
For an integer or a text, SQLite's own text of the value is that spelling, and NULL becomes NUL
(char(0)); reals and blobs go through `canonical` itself, as a function registered on the
connection. So SQLite hands Python one string per row, and Python only hashes it: a third of the
cost of reading the row's values into Python and spelling them there. Equal digests by
construction, so a digest taken either way compares with the other (tests/test_sqlite_attach_copy.py).

A column type with a result processor (DATETIME, NUMERIC, BOOLEAN...) is hashed as the value
SQLAlchemy reads, as on the row path: see `column_spelling`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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


# The text SQLAlchemy's SQLite DATETIME and DATE write (their default storage formats), as GLOB
# patterns: for such a text, the value's canonical spelling can be had from the text itself. A `?`
# rather than `[0-9]` (SQLite's character classes cost four times a pattern of `?`): a text of
# this shape that is not a date or date-time of ASCII digits is garbage that Python could not read
# either, and no spelling of it is the canonical spelling of a real value (`_usual_text_or`).
DATE_TEXT = "????-??-??"
DATETIME_TEXT = f"{DATE_TEXT} ??:??:??"
DATETIME_MICRO_TEXT = f"{DATETIME_TEXT}.??????"
_DEFAULT_FORMATS = {
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d",
    "%(year)04d-%(month)02d-%(day)02d",
}


def column_spelling(raw: Any, dialect: Any, column: str, type_: Any, number: int) -> str:
    """The SQL expression of one column's canonical spelling, as `canonical` spells the value
    SQLAlchemy reads from it. A type that converts values (DATETIME, NUMERIC, BOOLEAN, JSON...)
    has its own result processor and `canonical` registered as a function on `raw`; the common
    stored forms are spelled by SQLite itself: a DATETIME's `2021-01-01 00:00:00.000000` is
    `2021-01-01 00:00:00` (what `datetime.isoformat` gives without microseconds), a DATE's text as
    it is, a BOOLEAN's 0 or 1 as they are."""
    impl = type_.dialect_impl(dialect)
    processor = impl.result_processor(dialect, None)
    default_format = getattr(impl, "_storage_format", None) in _DEFAULT_FORMATS and not getattr(impl, "_reg", None)
    if isinstance(impl, sa.DateTime) and default_format:
        kind: str | None = "datetime"
    elif isinstance(impl, sa.Date) and default_format:
        kind = "date"
    else:
        kind = "boolean" if isinstance(impl, sa.Boolean) else None
    return _normalised_spelling(raw, column, kind, processor, number)


STORED = "sqlite"  # the method of digests over SQLite's stored values (a checksum "sqlite:HEX")


def stored_spelling(columns: Iterable[str]) -> str:
    """The SQL expression of a row as SQLite stores it, over already quoted column names: a JSON
    array of its values, an INTEGER as its digits, a TEXT as a JSON string (every character kept,
    NUL included), NULL as null, and a REAL or a BLOB as a nested array holding its `quote()` (a
    REAL written so that it reads back to the same double, a BLOB in hex). Two rows are spelled
    alike only if SQLite stores them alike (the TEXT '5' is not the INTEGER 5, nor the REAL 5.0),
    and no spelling holds a raw newline: a chunk's rows travel as one text, a row per line
    (`stored_lines`). SQLite's JSON functions are C: a third of the cost of `quote()`ing each value."""
    values = [f"CASE WHEN typeof({c}) IN ('real', 'blob') THEN json_array(quote({c})) ELSE {c} END" for c in columns]
    return f"json_array({', '.join(values)})"


def stored_lines(spelling: str) -> str:
    """The aggregate of rows spelled by `stored_spelling`: one BLOB, a row per line (none: NULL)."""
    return f"CAST(group_concat({spelling}, char(10)) AS BLOB)"


# The method of digests over SQLite's stored values taken a chunk at a time: each chunk's rows,
# spelled by `stored_spelling` in key order, a row per line, hashed whole (a checksum
# "sqlite-chunks:HEX"). The chunks' hashes are summed into the table's digest.
STORED_CHUNKS = "sqlite-chunks"


def chunk_hash(lines: bytes | None) -> int:
    """The hash of one chunk's `stored_lines` BLOB (its rows in key order), as a 64-bit integer:
    one BLAKE2b call for the chunk, in C, where the `sqlite` method makes one per row. No rows: 0."""
    return int.from_bytes(hashlib.blake2b(lines, digest_size=8).digest(), "big") if lines else 0


def stored_chunks_digest(
    conn: Connection, table: str, columns: Sequence[str], key: Sequence[str], chunk_ends: Sequence[Any]
) -> Digest:
    """A SQLite table's digest taken as a SQLite-to-SQLite copy took it (method "sqlite-chunks"):
    each chunk's key range, between the last keys the copy recorded (`chunk_ends`, in chunk order,
    as the ledger holds them: the driver's values), read in key order, spelled by SQLite as one
    `stored_lines` BLOB and hashed whole. The first range is open below and the last open above.

    Every row whose key compares falls in exactly one range; a row that falls in none (a key with a
    NULL, which compares with nothing) is counted by the table's own count, so that the rows then
    differ from the copy's and the table is walked row by row."""
    raw: Any = conn.connection.driver_connection
    quote = conn.dialect.identifier_preparer.quote
    name = quote(table)
    keys = [quote(k) for k in key]
    key_sql = keys[0] if len(keys) == 1 else f"({', '.join(keys)})"
    marks = "?" if len(keys) == 1 else f"({', '.join('?' * len(keys))})"
    text = stored_spelling(quote(c) for c in columns)
    inner = list(chunk_ends[:-1])
    bounds = list(zip([None, *inner], [*inner, None], strict=True)) if chunk_ends else [(None, None)]
    total, rows = 0, 0
    for lower, upper in bounds:
        conditions, params = [], []
        if lower is not None:
            conditions.append(f"{key_sql} > {marks}")
            params += list(lower)
        if upper is not None:
            conditions.append(f"{key_sql} <= {marks}")
            params += list(upper)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        # The rows in key order in a subquery: an aggregate's input keeps a subquery's ORDER BY
        # (SQLite does not flatten it away). Were the order ever another, the hash would differ
        # and the walk compare the rows themselves: a slower verification, never a wrong one.
        ordered = f"SELECT {text} AS m__text FROM {name}{where} ORDER BY {', '.join(keys)}"
        lines, count = raw.execute(f"SELECT {stored_lines('m__text')}, count(*) FROM ({ordered})", params).fetchone()
        total = (total + chunk_hash(lines)) & MASK
        rows += count
    if len(bounds) > 1:
        everything = raw.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        rows = max(rows, everything)  # rows outside every range: the count differs from the copy's
    return Digest(rows, f"{total:016x}")


def _normalised_spelling(
    raw: Any, column: str, kind: str | None, normaliser: Callable[[Any], Any] | None, number: int
) -> str:
    """A column's spelling as `canonical(normaliser(stored value))`, the function registered on
    `raw`: by SQLite itself for the usual texts of a date-time or a date (which the normaliser reads
    as the instant or day they name, and `canonical` writes back as they are, `.000000` left out)
    and for a boolean's 0 or 1; through the function for any other value."""
    if normaliser is None:
        return spelled([column])
    function = f"m__canonical_{number}"
    value_of = normaliser
    raw.create_function(
        function, 1, lambda value: canonical(value if value is None else value_of(value)), deterministic=True
    )
    slow = f"{function}({column})"
    if kind in ("datetime", "date"):
        return _usual_text_or(column, kind, slow)
    if kind == "boolean":
        return f"CASE WHEN typeof({column}) = 'integer' AND {column} IN (0, 1) THEN {column} ELSE {slow} END"
    return slow


def _usual_text_or(column: str, kind: str | None, slow: str) -> str:
    """A date-time's or a date's canonical spelling: by SQLite for the usual texts (a date-time's
    `.000000` left out, as `datetime.isoformat` does), `slow` (a function call) for any other value.

    A usual text has its pattern's length in bytes, so ASCII characters only. Where it names a real
    date or instant (digits where the pattern has `?`), this is exactly what Python spells: it reads
    and writes back the same digits. Any other usual text Python cannot read, and spells as the text
    itself (or fails); this spells it as the text, or its first 19 characters when it ends in
    `.000000`, and these are never a real date-time's spelling (the text would then be one): a
    changed value still changes the digest."""

    def usual(pattern: str) -> str:
        # Cheapest tests first: the type, then the length in bytes (no scan of the text).
        size = len(pattern)
        return f"typeof({column}) = 'text' AND length(CAST({column} AS BLOB)) = {size} AND {column} GLOB '{pattern}'"

    if kind == "date":
        return f"CASE WHEN {usual(DATE_TEXT)} THEN {column} ELSE {slow} END"
    whole_seconds = f"{DATETIME_TEXT}.000000"
    return (
        f"CASE WHEN {usual(whole_seconds)} THEN substr({column}, 1, 19) "
        f"WHEN {usual(DATETIME_MICRO_TEXT)} THEN {column} "
        f"WHEN {usual(DATETIME_TEXT)} THEN {column} ELSE {slow} END"
    )


def sqlite_digest(
    conn: Connection,
    query: sa.Select,  # type: ignore[type-arg]
    columns: list[str],
    *,
    stored: bool = False,
    normalised: Sequence[tuple[str | None, Callable[[Any], Any] | None]] | None = None,
) -> Digest | None:
    """`Digest.of` the rows of `query` (its columns `columns`, in that order), or None where it
    cannot be taken this way: not SQLite, or a query with bound parameters. `stored`: the digest of
    the values as SQLite stores them (`stored_spelling`), not as SQLAlchemy reads them.
    `normalised`: per column, a kind and a function of the stored value (the type map's canonical
    form, typemap_digest.py): the digest of the values as stored, each passed through its function."""
    if conn.dialect.name != "sqlite" or [c.name for c in query.selected_columns] != columns:
        return None
    compiled = query.compile(conn)
    if compiled.params:
        return None
    raw: Any = conn.connection.driver_connection
    register(raw)
    quote = conn.dialect.identifier_preparer.quote
    if stored:
        text = stored_spelling(quote(c) for c in columns)
    elif normalised is not None:
        text = " || char(31) || ".join(
            _normalised_spelling(raw, quote(c), kind, normaliser, number)
            for number, (c, (kind, normaliser)) in enumerate(zip(columns, normalised, strict=True))
        )
    else:
        text = " || char(31) || ".join(
            column_spelling(raw, conn.dialect, quote(c.name), c.type, number)
            for number, c in enumerate(query.selected_columns)
        )
    if not stored:
        text = f"CAST({text} AS TEXT)"  # one integer column alone would come as an integer
    table = _whole_table(query)
    if table is not None:
        whole = _table_digest(raw, quote(table), text, stored)
        if whole is not None:
            return whole
    cursor = raw.cursor()
    total, rows = 0, 0
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


def _whole_table(query: sa.Select) -> str | None:  # type: ignore[type-arg]
    """The name of the table `query` reads whole (its columns, no filter, order or limit), if it does."""
    froms = query.get_final_froms()
    if len(froms) != 1 or not isinstance(froms[0], sa.Table) or froms[0].schema is not None:
        return None
    if query.whereclause is not None or query._order_by_clauses or query._limit_clause is not None:
        return None
    return froms[0].name


def _table_digest(raw: Any, table: str, text: str, lines: bool) -> Digest | None:
    """A whole rowid table's digest, BATCH rows at a time in rowid order, on two threads: SQLite
    spells the next batch as one value (one step, without the GIL) while Python hashes this one.
    `lines`: `text` is a `stored_spelling`, which holds no newline. Either way a batch comes as one
    BLOB, a row per line, whose lines Python hashes as they are (no text decoded and encoded again);
    a batch of texts that hold a newline of their own (more lines than rows) is read again as a
    JSON array. None for a table without rowids. Both threads use the one connection, one at a
    time: the reads stay in the connection's transaction."""
    try:
        raw.execute(f"SELECT rowid FROM {table} LIMIT 0").fetchall()
    except sqlite3.OperationalError:
        return None  # WITHOUT ROWID
    # A text cast to a BLOB is its UTF-8 bytes only in a UTF-8 database.
    as_lines = lines or raw.execute("PRAGMA encoding").fetchone()[0] == "UTF-8"

    def batch_sql(aggregate: str, where: str) -> str:
        return (
            f"SELECT {aggregate}, max(m__rowid), count(*) FROM "
            f"(SELECT {text} AS m__text, rowid AS m__rowid FROM {table}{where} ORDER BY rowid LIMIT {BATCH})"
        )

    aggregate = stored_lines("m__text") if as_lines else "json_group_array(m__text)"
    first, then = batch_sql(aggregate, ""), batch_sql(aggregate, " WHERE rowid > ?")
    first_json, then_json = (
        batch_sql("json_group_array(m__text)", ""),
        batch_sql("json_group_array(m__text)", " WHERE rowid > ?"),
    )

    def batch(after: int | None) -> tuple[Any, int | None, int, bool]:
        spelled_rows, last, count = (raw.execute(first) if after is None else raw.execute(then, (after,))).fetchone()
        if not as_lines or lines or not count or spelled_rows.count(b"\n") == count - 1:
            return spelled_rows, last, count, as_lines
        # A text value with a newline of its own: this batch as a JSON array of its rows' texts.
        spelled_rows, last, count = (
            raw.execute(first_json) if after is None else raw.execute(then_json, (after,))
        ).fetchone()
        return spelled_rows, last, count, False

    def batches() -> Iterator[tuple[Any, int, bool]]:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="migrator-spell") as reader:
            ahead = reader.submit(batch, None)
            while True:
                spelled_rows, last, count, in_lines = ahead.result()
                if count == 0:
                    return
                ahead = reader.submit(batch, last)
                yield spelled_rows, count, in_lines

    total, rows = 0, 0
    for spelled_rows, count, in_lines in batches():
        # Split even when empty: one row whose text is empty is a line, and is hashed.
        summed = hash_sum_of_bytes(spelled_rows.split(b"\n")) if in_lines else hash_sum(json.loads(spelled_rows))
        total = (total + summed) & MASK
        rows += count
    return Digest(rows, f"{total:016x}")
