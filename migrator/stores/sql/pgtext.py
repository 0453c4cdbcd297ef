"""PostgreSQL to SQLite: the subset read as COPY text and turned into the values SQLite is given.

Reading with `COPY (subset query) TO STDOUT` (pgstream) costs the database and libpq a fraction of
a server-side cursor, and it hands over whole chunks of bytes instead of one Python row object per
row. Each chunk becomes here:

- the values SQLite stores, exactly those the SELECT path binds (psycopg's loader, then SQLAlchemy's
  result processing on the source and its bind processing for the target column): as rows for
  `executemany`, or, where every value is text (integers, text, timestamps), as one JSON text that
  SQLite unpacks and whose timestamps it re-spells itself (writer.insert_json);
- the rows' canonical texts (verify.digest.canonical), from which the chunk's digest is taken: the
  same digest `Digest.of` gives the SELECT path's rows, so `verify` reads the target as it always did.

Every column can take the exact way: the source column's own psycopg loader (found by its type OID)
and the two SQLAlchemy processors. The common types take a shorter one whose results are the same,
which tests/test_pg_to_sqlite.py checks against the exact way: integers pass as their text into a
column of INTEGER affinity (SQLite stores the integer, and the text is already the integer's
canonical form); text passes as it is; a timestamp printed in UTC is re-spelt as SQLAlchemy's
DATETIME text and as its canonical form by slicing strings. Without them a chunk is about twice as
slow to turn into values as the database takes to produce it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import pq
from psycopg.adapt import Transformer
from sqlalchemy.engine import Connection

from migrator.stores.sql.literal import literal_sql
from migrator.stores.sql.sqlite_digest import hash_sum
from migrator.verify.digest import MASK, Digest, canonical

NULL = "\\N"  # COPY text's NULL: a field of exactly these two characters
# Characters JSON must escape that COPY text leaves as they are (it escapes \b \f \n \r \t \v):
# bytes.translate maps each of them to 0 and any other byte to 1 (UTF-8 writes a character past
# U+007F with bytes from 0x80 only), and a search for 0 finds one: a tenth of a regular expression's time.
_CONTROL = bytes(0 if code < 0x20 and code not in (0x09, 0x0A) else 1 for code in range(256))
_ESCAPED = re.compile(r"\\(.)")
# What COPY TO emits after a backslash (it never writes the octal or hex forms).
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_INTEGERS = {"int2", "int4", "int8"}
_TEXTS = {"text", "varchar", "bpchar", "name"}
_SAMPLE = dt.datetime(2001, 2, 3, 4, 5, 6, 7)  # to check that a target column spells datetimes as we do


@dataclass(frozen=True)
class ColumnReader:
    """How one column's COPY text (unescaped, never NULL) becomes the value bound into SQLite and
    its canonical text. None: the text as it is."""

    stored: Callable[[str], Any] | None
    canonical: Callable[[str], str] | None
    nullable: bool = True
    utc_timestamp: bool = False  # the usual spelling, '2023-01-31 13:35:06+00', is re-spelt inline
    zone: str = "+00"  # how the usual spelling ends: '+00' for timestamptz, nothing for timestamp


@dataclass(frozen=True)
class ParsedChunk:
    """`rows` to bind; or, when every value is text or NULL, `as_json`: the rows as one JSON array of
    arrays, which SQLite unpacks itself (writer.insert_json)."""

    rows: list[tuple[Any, ...]] | None
    as_json: str | None  # with the timestamps as COPY spells them: SQLite re-spells them (json_values)
    count: int
    digest: Digest
    last_key: tuple[Any, ...]
    usual: bool  # every timestamp in the usual spelling: SQLite may re-spell them without a test


class ChunkParser:
    """Turns chunks of one table's COPY text into rows to insert, their digest and last key.

    The per-row work is one generated function for the stored values and one for the canonical
    text (a tuple display, a join), each column's reading written inline: a row goes through no
    loop of Python over its columns, which, with a column list per type, made the rows twice as
    slow to build. Only column positions and reader names go into the generated source.

    NULL is `\\N` in COPY text. Where the chunk has no other backslash (no escaped character), the
    fields are split as they are and the functions compare with `\\N`; otherwise each field is
    unescaped and NULL becomes None first."""

    def __init__(
        self,
        readers: Sequence[ColumnReader],
        positions: list[int],
        key_positions: list[int],
        key_parsers: list[Callable[[str], Any]],
        *,
        json_in_target: bool = True,
    ):
        # A timestamp's canonical text is made inline for the usual spelling; any other calls the
        # reader's function, which is counted here, for SQLite to be told (ParsedChunk.usual).
        self._unusual = 0
        readers = [replace(r, canonical=self._counted(r.canonical)) if r.utc_timestamp else r for r in readers]
        self._split = _row_functions(readers, positions, f"== {NULL!r}")
        self._unescaped = _row_functions(readers, positions, "is None")
        # The fields as COPY gave them, when every one is bound as it is: a tuple made in C.
        self._same_rows = all(r.stored is None for r in readers) and positions == list(range(len(positions)))
        # Text and NULL only (a timestamp's DATETIME text is made in SQLite): the chunk goes as JSON.
        self._text_only = json_in_target and all(r.stored is None or r.utc_timestamp for r in readers)
        self._keys = list(zip(key_positions, key_parsers, strict=True))
        self.json_functions: dict[str, Callable[[str | None], Any]] = {}
        self.json_values = [self._json_value(r, at) for r, at in zip(readers, positions, strict=True)]
        self.json_usual_values = [self._json_value(r, at, usual=True) for r, at in zip(readers, positions, strict=True)]

    def _counted(self, canonical_text: Callable[[str], str] | None) -> Callable[[str], str] | None:
        if canonical_text is None:
            return None
        function = canonical_text

        def counted(text: str) -> str:
            self._unusual += 1
            return function(text)

        return counted

    @property
    def text_only(self) -> bool:
        """Whether every chunk comes as JSON, which SQLite inserts without taking the GIL back."""
        return self._text_only

    def _json_value(self, reader: ColumnReader, at: int, *, usual: bool = False) -> str:
        """The SQL that takes a column's value out of a row of the JSON text (writer.insert_json);
        `usual`: for a chunk whose timestamps are all in the usual spelling (or NULL), which SQLite
        re-spells with one call less per value, each test costing a `json_extract` (a third of the
        insert's time)."""
        x = f"json_extract(value, '$[{at}]')"
        if not reader.utc_timestamp or reader.stored is None:
            return x
        if usual:
            return f"substr({x}, 1, 19) || '.000000'"  # NULL stays NULL
        name = f"migrator_timestamp_{id(self):x}_{at}"
        stored = reader.stored
        self.json_functions[name] = lambda text: None if text is None else stored(text)
        # The usual spellings re-spelt by SQLite, as _utc_timestamp_stored does; any other in Python.
        return (
            f"CASE WHEN {x} IS NULL THEN NULL"
            f" WHEN length({x}) = {19 + len(reader.zone)} AND substr({x}, 20) = '{reader.zone}'"
            f" THEN substr({x}, 1, 19) || '.000000'"
            f" WHEN length({x}) = 29 AND substr({x}, 27) = '+00' THEN substr({x}, 1, 26)"
            f" ELSE {name}({x}) END"
        )

    def parse(self, data: bytes) -> ParsedChunk:
        text = data.decode()
        lines = text.split("\n")
        lines.pop()  # after the last newline
        fields: list[list[str | None]] | list[list[str]]
        backslashes = text.count("\\")
        if backslashes == text.count(NULL):  # no escapes: every backslash starts a NULL
            fields, (stored_row, canonical_row) = [line.split("\t") for line in lines], self._split
            nulls = backslashes > 0
            escaped = False
        else:
            fields, (stored_row, canonical_row) = [_unescaped(line) for line in lines], self._unescaped
            nulls = escaped = True
        self._unusual = 0
        # verify.digest.row_hash of each row, from the canonical texts, summed in C.
        total = hash_sum(map(canonical_row, fields))
        last = fields[-1]
        key = tuple(parse(last[i]) for i, parse in self._keys)  # type: ignore[arg-type] # a key is never NULL
        digest = Digest(len(fields), f"{total & MASK:016x}")
        if self._text_only:
            if not escaped and 0 not in data.translate(_CONTROL):
                return ParsedChunk(None, _json_of_fields(data), len(fields), digest, key, not self._unusual)
            if not escaped and nulls:
                fields = [[None if field == NULL else field for field in row] for row in fields]
            return ParsedChunk(None, _dumps(fields), len(fields), digest, key, not self._unusual)
        rows = list(map(stored_row, fields)) if nulls or not self._same_rows else list(map(tuple, fields))
        return ParsedChunk(rows, None, len(fields), digest, key, not self._unusual)


def _json_of_fields(data: bytes) -> str:
    """COPY text with no escape and no control character as a JSON array of arrays of its fields,
    by replacing in C: quotes escaped, tabs and newlines made the separators, and the fields that are
    exactly NULL's `\\N` (the only backslashes here: escaped quotes are followed by a quote) made null.
    Replaced in its UTF-8 bytes, where no character but these is a byte of the same value."""
    body = data[:-1].replace(b'"', b'\\"').replace(b"\t", b'","').replace(b"\n", b'"],["')
    return (b'[["' + body + b'"]]').replace(b'"\\N"', b"null").decode()


_dumps = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":")).encode


def _row_functions(
    readers: Sequence[ColumnReader], positions: list[int], is_null: str
) -> tuple[Callable[[Sequence[str | None]], tuple[Any, ...]], Callable[[Sequence[str | None]], str]]:
    """The generated functions of one row's fields: the values to bind, and the canonical texts
    joined as verify.digest.row_hash joins them. `is_null` completes `field ...` to test for NULL."""
    names: dict[str, Any] = {}
    stored, canonical_parts = [], []
    for i, (reader, at) in enumerate(zip(readers, positions, strict=True)):
        # `t` is the field: bound by the NULL test, or by the first use when there is none.
        first = f"(t := f[{at}])" if not reader.nullable else "t"
        if reader.stored is not None:
            names[f"s{i}"] = reader.stored
        if reader.canonical is not None:
            names[f"c{i}"] = reader.canonical
        if reader.utc_timestamp:  # a timestamp in whole seconds and UTC, without a call
            usual = f"len({first}) == {19 + len(reader.zone)} and t[19:] == '{reader.zone}'"
            value = f"(t[:19] + '.000000' if {usual} else s{i}(t))"
            text = f"(t[:19] if {usual} else c{i}(t))"
        else:
            value = first if reader.stored is None else f"s{i}({first})"
            text = first if reader.canonical is None else f"c{i}({first})"
        if reader.nullable:
            stored.append(f"(None if (t := f[{at}]) {is_null} else {value})")
            canonical_parts.append(f"('\\x00' if (t := f[{at}]) {is_null} else {text})")
        else:
            stored.append(value)
            canonical_parts.append(text)
    stored_row = eval(f"lambda f: ({', '.join(stored)},)", names)
    canonical_row = eval(f"lambda f: '\\x1f'.join(({', '.join(canonical_parts)},))", names)
    return stored_row, canonical_row


def is_pg_to_sqlite(source: Connection, target: Connection) -> bool:
    return source.dialect.name == "postgresql" and target.dialect.name == "sqlite"


def sqlite_has_json(target: Connection) -> bool:
    """Whether the target SQLite has its JSON functions (built in since 3.38, an option before)."""
    raw = target.connection.driver_connection
    try:
        raw.execute("SELECT json_extract('[1]', '$[0]') FROM json_each('[1]')").fetchall()  # type: ignore[union-attr]
    except Exception:  # sqlite3.OperationalError: no such function; no driver import here
        return False
    return True


def readers_for(
    source: Connection, source_table: sa.Table, columns: list[str], target: Connection, target_table: sa.Table
) -> list[ColumnReader] | None:
    """One reader per column of the COPY, in order; None when the connection does not speak UTF-8
    (the text would not be what psycopg decodes), for the SELECT path to take over."""
    raw = source.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    if raw.info.encoding != "utf-8":
        return None
    types = _type_oids(raw, source, source_table, columns)
    transformer = Transformer(raw)
    readers = []
    for name, oid in zip(columns, types, strict=True):
        info = raw.adapters.types.get(oid)
        type_name = info.name if info is not None else ""
        load = transformer.get_loader(oid, pq.Format.TEXT).load
        after_load = source_table.c[name].type.dialect_impl(source.dialect).result_processor(source.dialect, oid)
        target_type = target_table.c[name].type
        bind = target_type.dialect_impl(target.dialect).bind_processor(target.dialect)
        nullable = bool(source_table.c[name].nullable)
        integer_affinity = "INT" in target_type.compile(dialect=target.dialect).upper()
        # Text as it is; an integer as its text, which a column of INTEGER affinity stores as the integer.
        as_text = type_name in _TEXTS or (type_name in _INTEGERS and integer_affinity)
        if as_text and after_load is None and bind is None:
            readers.append(ColumnReader(None, None, nullable))
        elif after_load is None and type_name in ("timestamptz", "timestamp") and _spells_datetimes(bind):
            exact = _exact(load, after_load, bind)
            stored, text = _utc_timestamp_stored(exact), _utc_timestamp_canonical(exact)
            zone = "+00" if type_name == "timestamptz" else ""
            readers.append(ColumnReader(stored, text, nullable, utc_timestamp=True, zone=zone))
        else:
            readers.append(_exact_reader(_exact(load, after_load, bind), nullable))
    return readers


def _unescaped(line: str) -> list[str | None]:
    return [
        None if field == NULL else (_ESCAPED.sub(_unescape_one, field) if "\\" in field else field)
        for field in line.split("\t")
    ]


def _unescape_one(match: re.Match[str]) -> str:
    return _ESCAPES.get(match[1], match[1])


def _type_oids(raw: psycopg.Connection[Any], source: Connection, table: sa.Table, columns: list[str]) -> list[int]:
    """The PostgreSQL type of each column, as the SELECT path's cursor would report it."""
    query = sa.select(*[table.c[c] for c in columns]).limit(0)
    sql = literal_sql(query, source)
    with raw.cursor() as cursor:
        cursor.execute(sql.encode())
        assert cursor.description is not None
        return [int(column.type_code) for column in cursor.description]


def _exact(
    load: Callable[[bytes], Any], after_load: Callable[[Any], Any] | None, bind: Callable[[Any], Any] | None
) -> Callable[[str], tuple[Any, str]]:
    """The SELECT path, value by value: psycopg's loader, SQLAlchemy's processors, the canonical text."""

    def exact(text: str) -> tuple[Any, str]:
        value = load(text.encode())
        if after_load is not None:
            value = after_load(value)
        # None is bound as it is (SQL NULL), as writer.insert_tuples does: a JSON null too.
        return (value if bind is None or value is None else bind(value)), canonical(value)

    return exact


def _exact_reader(exact: Callable[[str], tuple[Any, str]], nullable: bool) -> ColumnReader:
    def stored(text: str) -> Any:
        return exact(text)[0]

    def canonical_text(text: str) -> str:
        return exact(text)[1]

    return ColumnReader(stored, canonical_text, nullable)


def _spells_datetimes(bind: Callable[[Any], Any] | None) -> bool:
    """Whether the target column stores a datetime as SQLAlchemy's default SQLite DATETIME text."""
    return bind is not None and bind(_SAMPLE) == "2001-02-03 04:05:06.000007"


def _split_utc(text: str) -> tuple[str, str] | None:
    """'2023-01-31 13:35:06.5+00' -> ('2023-01-31 13:35:06', '500000'): a timestamp as PostgreSQL
    prints it in UTC (or without a zone), cut into its seconds and its microseconds; None for any
    other spelling (another zone, a year past 9999, BC, infinity), which takes the exact way."""
    if text.endswith("+00"):
        text = text[:-3]
    if len(text) < 19 or text[4] != "-" or text[10] != " ":
        return None
    if len(text) == 19:
        return text, "000000"
    if text[19] != "." or not text[20:].isdigit() or len(text) > 26:
        return None
    return text[:19], text[20:].ljust(6, "0")


def _utc_timestamp_stored(exact: Callable[[str], tuple[Any, str]]) -> Callable[[str], Any]:
    def stored(text: str) -> Any:
        size = len(text)
        if size == 22 and text[19] == "+" and text[20:] == "00":  # the usual spellings first
            return text[:19] + ".000000"
        if size == 29 and text[26] == "+" and text[27:] == "00":
            return text[:26]
        parts = _split_utc(text)
        return f"{parts[0]}.{parts[1]}" if parts else exact(text)[0]

    return stored


def _utc_timestamp_canonical(exact: Callable[[str], tuple[Any, str]]) -> Callable[[str], str]:
    def canonical_text(text: str) -> str:
        size = len(text)
        if size == 22 and text[19] == "+" and text[20:] == "00":
            return text[:19]
        if size == 29 and text[26] == "+" and text[27:] == "00":
            return text[:26]
        parts = _split_utc(text)
        if parts is None:
            return exact(text)[1]
        # datetime.isoformat writes the microseconds only when there are some.
        return parts[0] if parts[1] == "000000" else f"{parts[0]}.{parts[1]}"

    return canonical_text
