"""Cross-dialect digests in the type map's canonical form (method "typemap", docs/reference/types.md).

Across dialects the two sides cannot be hashed as they are stored: a MariaDB SET is 'a,b' in the
source and the text[] {a,b} in PostgreSQL, a DATETIME a datetime in one and a text in SQLite. Nor
may they be read through SQLAlchemy's result processing, which re-parses values the target holds
in its own form (a MariaDB TIME of 838 hours is no time of day; an ENUM value with an emoji is not
among the values MariaDB's utf8mb3 catalog reports) and loses some (a DOUBLE rounded to ten places).

So each side is read as its driver hands the values over, and brought into the canonical form of
the target column's type:

- the source's values (as `Stored` reads them) go through the type map's conversion for the target
  column (`Carried`, the same one the write takes), the target's values are read as stored;
- then both through the same normaliser, chosen by the target column's type: a CHAR(n)'s trailing
  blanks are its padding (PostgreSQL keeps them, MariaDB strips them), not its value; a date, time
  or date-time written as text is the date or time it names; a duration (MariaDB's TIME, PostgreSQL's
  interval) is its length; a 4-byte float is the 4-byte float nearest to what was read;
- then `verify.digest.canonical`, which spells every value once.

A PostgreSQL json or jsonb column is read as its text (psycopg would parse it), a MariaDB FLOAT as
the double it is (its text has six digits). A real change still changes the digest: the normalisers
only forget what the target type itself does not hold apart.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator, TypeEngine

from migrator.stores.sql.carried import Carried, JsonText
from migrator.stores.sql.snapshot import plain_batches, stream
from migrator.stores.sql.sqlite_digest import sqlite_digest
from migrator.stores.sql.types import Declared
from migrator.verify.digest import EMPTY, Digest

TYPEMAP = "typemap"
BATCH = 20_000
Normaliser = Callable[[Any], Any]
# MariaDB's TIME as text: [-]H...H:MM:SS[.ffffff]
_DURATION = re.compile(r"(?P<sign>-)?(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d)(?:\.(?P<f>\d{1,6}))?")


class _AsStored(TypeDecorator):  # type: ignore[type-arg]
    """A column read as the driver hands it over: no result processing of its type."""

    impl = sa.types.NullType
    cache_ok = True

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Any:
        return None


def kind(type_: TypeEngine, dialect: str) -> str | None:  # type: ignore[type-arg]
    """The target column's kind of value, for its normaliser; the same for the type the run designed
    (types.py) and for the type reflected from the target afterwards."""
    if isinstance(type_, Carried):
        type_ = type_.impl_instance
    if isinstance(type_, Declared):
        return {"DATETIME": "datetime", "DATE": "date", "TIME": "time"}.get(type_.name.upper())
    if isinstance(type_, postgresql.INTERVAL):
        return "duration"
    if isinstance(type_, sa.DateTime):
        return "datetime"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, sa.Time):
        return "duration" if dialect == "mysql" else "time"  # MariaDB's TIME is a duration
    if dialect == "sqlite":
        return None  # SQLite neither pads a CHAR nor rounds a REAL to 4 bytes
    if isinstance(type_, sa.REAL | mysql.FLOAT):
        return "float32"
    if isinstance(type_, sa.CHAR):
        return "char"
    if isinstance(type_, sa.JSON | JsonText) and dialect == "postgresql":
        return "json"
    return None


def source_canonicals(table: sa.Table, columns: Sequence[str], dialect: str) -> list[Normaliser | None]:
    """Per column of the target `table` as the run designed it: a source value (as `Stored` read it,
    after the plan's transforms) in the canonical form of the target column."""
    return [_chained(_carrier(table.c[c].type), _NORMALISERS.get(kind(table.c[c].type, dialect))) for c in columns]


def carried_canonicals(types: Sequence[TypeEngine], kinds: Sequence[str | None]) -> list[Normaliser | None]:  # type: ignore[type-arg]
    """The same, from the type map's target types (`types`) and the kinds of the target's columns."""
    return [_chained(_carrier(t), _NORMALISERS.get(k)) for t, k in zip(types, kinds, strict=True)]


def target_kinds(table: sa.Table, columns: Sequence[str], dialect: str) -> list[str | None]:
    return [kind(table.c[c].type, dialect) for c in columns]


def target_query(table: sa.Table, columns: Sequence[str], key: Sequence[str], dialect: str) -> sa.Select:  # type: ignore[type-arg]
    """The target's columns as stored, in key order when a key is given (the key's own columns
    after `columns`, labelled m__key_N)."""
    selected = [_stored(table.c[c], kind(table.c[c].type, dialect)).label(c) for c in columns]
    keys = [sa.type_coerce(table.c[k], _AsStored()).label(f"m__key_{n}") for n, k in enumerate(key)]
    query = sa.select(*selected, *keys)
    return query.order_by(*[table.c[k] for k in key]) if key else query


def target_digest(conn: Connection, table: sa.Table, columns: list[str]) -> Digest:
    """The target table's digest in the type map's canonical form."""
    dialect = conn.dialect.name
    kinds = target_kinds(table, columns, dialect)
    normalisers = [_NORMALISERS.get(k) for k in kinds]
    if dialect == "sqlite":
        # Spelled by SQLite where the canonical form is the stored text itself (most values).
        plain = sa.select(*[table.c[c] for c in columns])
        spelled = sqlite_digest(conn, plain, columns, normalised=list(zip(kinds, normalisers, strict=True)))
        if spelled is not None:
            return spelled
    query = target_query(table, columns, [], dialect)
    total = EMPTY
    # SQLite: rows as the driver's tuples, without a Row object each (snapshot.plain_batches).
    for batch in plain_batches(conn, query, BATCH) or stream(conn, query, BATCH):
        total = total.plus(Digest.of(canonical_rows(batch, normalisers)))
    return total


def target_keyed(
    conn: Connection, table: sa.Table, columns: list[str], key: list[str]
) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(key, canonical values) in key order, for naming the rows whose canonical values differ. The
    key too is in its canonical form (`keyed_canonically` brings the source's to the same)."""
    dialect = conn.dialect.name
    normalisers = [_NORMALISERS.get(k) for k in target_kinds(table, columns, dialect)]
    key_normalisers = [_NORMALISERS.get(k) for k in target_kinds(table, key, dialect)]
    width = len(columns)
    for batch in stream(conn, target_query(table, columns, key, dialect), BATCH):
        for row in batch:
            yield _normalised(row[width:], key_normalisers), _normalised(row[:width], normalisers)


def keyed_canonically(
    rows: Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]], key_canonicals: Sequence[Normaliser | None]
) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """The source's (key, values) with the key in its target column's canonical form: a uuid key is
    compared with the text it became, a SQLite date-time text with a timestamp."""
    for key, values in rows:
        yield _normalised(key, key_canonicals), values


def canonical_rows(rows: Sequence[Sequence[Any]], normalisers: Sequence[Normaliser | None]) -> Iterator[Sequence[Any]]:
    if not any(normalisers):
        yield from rows  # nothing to convert: the values are hashed as they are
        return
    for row in rows:
        yield _normalised(row, normalisers)


def _normalised(row: Sequence[Any], normalisers: Sequence[Normaliser | None]) -> tuple[Any, ...]:
    return tuple(v if f is None or v is None else f(v) for v, f in zip(row, normalisers, strict=True))


def _stored(column: sa.Column, kind_: str | None) -> Any:  # type: ignore[type-arg]
    if kind_ == "json":
        return sa.type_coerce(sa.cast(column, sa.Text), _AsStored())  # the text as written, not parsed
    if kind_ == "float32" and isinstance(column.type, mysql.FLOAT):
        return sa.type_coerce(sa.cast(column, mysql.DOUBLE()), _AsStored())  # all of its digits
    return sa.type_coerce(column, _AsStored())


def _carrier(type_: TypeEngine) -> Normaliser | None:  # type: ignore[type-arg]
    if not isinstance(type_, Carried):
        return None

    def carried(value: Any) -> Any:
        try:
            return type_.process_bind_param(value, None)  # type: ignore[arg-type] # no conversion reads the dialect
        except (ValueError, TypeError, OverflowError):
            return value  # the write refuses it, with the database's or the conversion's error

    return carried


def _chained(first: Normaliser | None, second: Normaliser | None) -> Normaliser | None:
    if first is None or second is None:
        return first or second  # None: the value as it is
    return lambda value: None if (carried := first(value)) is None else second(carried)


def _char(value: Any) -> Any:
    return value.rstrip(" ") if isinstance(value, str) else value


def _datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value  # a zero date, kept as its text
    return value


def _date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            return value  # a MariaDB TIME beyond a day, kept as its text
    return value


def _duration(value: Any) -> Any:
    if isinstance(value, dt.time):
        return dt.timedelta(
            hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond
        )
    if isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        length = dt.timedelta(
            hours=int(match["h"]),
            minutes=int(match["m"]),
            seconds=int(match["s"]),
            microseconds=int((match["f"] or "0").ljust(6, "0")),
        )
        return -length if match["sign"] else length
    return value


def _float32(value: Any) -> Any:
    if isinstance(value, float):
        try:
            return struct.unpack("f", struct.pack("f", value))[0]
        except OverflowError:  # beyond a 4-byte float: no such value in the column, kept to differ
            return value
    return value


_NORMALISERS: dict[str | None, Normaliser] = {
    "char": _char,
    "datetime": _datetime,
    "date": _date,
    "time": _time,
    "duration": _duration,
    "float32": _float32,
}
