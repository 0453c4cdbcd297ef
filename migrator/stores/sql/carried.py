"""How a value crosses from one dialect to another: read on the source as the driver hands it over
(or as the source's own text of it), written into the target in the form the type map names.

A cross-dialect copy reads every source column through `Stored`, which turns SQLAlchemy's result
processing off: its processors are made for reading a value back into the same dialect, and some
lose information on the way (MySQL's DOUBLE is rounded into a Decimal of ten places, its TIME loses
the days and the sign, a SET becomes an unordered set, SQLite's DATETIME text is re-parsed). Types
the target has no twin for are read as the source database's own text of the value (`::text`,
`array_to_json`, `CAST(... AS CHAR)`). The target side's types (below `Stored`) turn those values into
what the target column holds, in bind processing, so that every write path (rows, tuples, COPY text
parsed in pgtext) takes the same conversion.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import struct
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

# PostgreSQL's interval in its default output style ('postgres'): years, months, days, then a time.
_INTERVAL = re.compile(
    r"(?:(?P<y>[+-]?\d+) years? ?)?(?:(?P<mo>[+-]?\d+) mons? ?)?(?:(?P<d>[+-]?\d+) days? ?)?"
    r"(?:(?P<sign>[+-])?(?P<h>\d+):(?P<mi>\d\d):(?P<s>\d\d(?:\.\d+)?))?"
)


class Stored(TypeDecorator):  # type: ignore[type-arg]
    """A source column as the driver hands its value over: the declared type's bind processing
    (for the key ranges the subset queries compare with), no result processing. `read` is what the
    SELECT takes instead of the column: "text" its ::text, "output" its output function's text,
    "json" (PostgreSQL arrays) its JSON text, "char" (MariaDB) CAST AS CHAR, "double" (MariaDB's
    FLOAT) CAST AS DOUBLE, and "interval" its text turned into ISO 8601 by result_processor."""

    impl = sa.types.NullType
    cache_ok = True

    def __init__(self, declared: TypeEngine, read: str | None = None):  # type: ignore[type-arg]
        super().__init__()
        self.declared = declared
        self.read = read

    def load_dialect_impl(self, dialect: sa.Dialect) -> TypeEngine:  # type: ignore[type-arg]
        return self.declared.dialect_impl(dialect) if self.read is None else sa.Text()

    def column_expression(self, column: Any) -> Any:
        # Typed as this column again, so that the value still comes through result_processor below.
        expression = self._read_expression(column)
        return column if expression is None else sa.type_coerce(expression, self)

    def _read_expression(self, column: Any) -> Any:
        if self.read == "text" or self.read == "interval":
            return sa.cast(column, sa.Text)
        if self.read == "output":
            # The type's output function, as psql shows it (inet's ::text would add a /32): to_json
            # quotes that text for a type with no JSON form of its own, #>> takes it back out.
            return sa.func.to_json(column).op("#>>")(sa.literal_column("'{}'"))
        if self.read == "json":
            return sa.cast(sa.func.array_to_json(column), sa.Text)
        if self.read == "char":
            return sa.cast(column, mysql.CHAR)
        if self.read == "double":
            return sa.cast(column, mysql.DOUBLE())
        return None

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Any:
        return _iso_interval if self.read == "interval" else None

    @property
    def python_type(self) -> type:
        if self.read == "double":
            return float
        return str if self.read is not None else self.declared.python_type

    def copy(self, **kw: Any) -> Stored:
        return Stored(self.declared, self.read)


def _iso_interval(value: str | None) -> str | None:
    """'1 year 2 mons 3 days 04:05:06.5' -> 'P1Y2M3DT4H5M6.5S', as PostgreSQL writes it with
    IntervalStyle iso_8601; a text in another style is kept as it is."""
    if value is None:
        return None
    match = _INTERVAL.fullmatch(value)
    if match is None or not value:
        return value
    part = match.groupdict()
    sign = "-" if part["sign"] == "-" else ""
    dated = "".join(f"{int(part[k])}{unit}" for k, unit in (("y", "Y"), ("mo", "M"), ("d", "D")) if part[k])
    timed = ""
    if part["h"] is not None:
        seconds = Decimal(part["s"])
        pieces = [(str(int(part["h"])), "H"), (str(int(part["mi"])), "M"), (format(seconds.normalize(), "f"), "S")]
        timed = "".join(f"{sign}{n}{unit}" for n, unit in pieces if Decimal(n))
    if not dated and not timed:
        return "PT0S"
    return f"P{dated}" + (f"T{timed}" if timed else "")


class JsonText(UserDefinedType):  # type: ignore[type-arg]
    """A JSON column given the JSON text as it is: PostgreSQL's json and MariaDB's JSON keep the
    text (key order, spacing, duplicate keys) exactly as written, where SQLAlchemy's JSON type would
    parse and re-serialise it."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "JSON"


class Carried(TypeDecorator):  # type: ignore[type-arg]
    """A target column of type `impl` whose values are converted on the way in by `how`:
    "decimal_text" (a number's exact decimal text), "iso" (a date or time in ISO 8601), "uuid",
    "utc" (an aware datetime in UTC, without zone), "set_array" (MariaDB's 'a,b' as a list),
    "set_json" (the same as a JSON array text), "bits" (MariaDB's BIT bytes as a bit string of
    `length`), "bool" (SQLite's 0/1), "decimal" (a float as the decimal of its shortest repr),
    "finite" (a float; NaN, which SQLite would store as NULL, stops the write)."""

    impl = sa.types.NullType
    cache_ok = True

    def __init__(self, impl: TypeEngine, how: str, length: int | None = None):  # type: ignore[type-arg]
        super().__init__()
        self.impl = impl  # type: ignore[assignment]
        self.how = how
        self.length = length

    def load_dialect_impl(self, dialect: sa.Dialect) -> TypeEngine:  # type: ignore[type-arg]
        return self.impl_instance.dialect_impl(dialect)

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        return _CONVERSIONS[self.how](value, self.length)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        return value

    def copy(self, **kw: Any) -> Carried:
        return Carried(self.impl_instance, self.how, self.length)


def decimal_text(value: Any) -> str:
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    return str(value)


def _float_text(value: float) -> str:
    if not math.isfinite(value):
        return {True: "Infinity", False: "-Infinity"}[value > 0] if not math.isnan(value) else "NaN"
    return format(Decimal(repr(value)), "f")


def _iso(value: Any) -> Any:
    """As SQLAlchemy spells dates and times for SQLite (microseconds always written), a datetime
    with a zone in UTC: the spelling the PostgreSQL-to-SQLite COPY path (pgtext) writes as well."""
    if isinstance(value, dt.datetime):
        return _utc(value).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.time):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value  # a text already (a zero date, PostgreSQL's text of a time with zone)


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _set_members(value: Any) -> list[str]:
    if isinstance(value, set | frozenset):
        return sorted(value)
    return [] if value == "" else str(value).split(",")


def _bits(value: Any, length: int | None) -> str:
    number = int.from_bytes(value, "big") if isinstance(value, bytes) else int(value)
    return format(number, f"0{length or 1}b")


def _integer(value: Any) -> Any:
    """MariaDB's BIT arrives as big-endian bytes; into an integer column it is that integer."""
    return int.from_bytes(value, "big") if isinstance(value, bytes) else value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        raise ValueError("NaN cannot be stored in this target (SQLite stores it as NULL)")
    return value


def _float32(value: Any) -> Any:
    """PostgreSQL prints a real as the shortest decimal that reads back as the same 4-byte float:
    read as a double that decimal may exceed FLOAT's range (3.4028235e38); rounded to 4 bytes, it
    is the source's float again."""
    return (
        struct.unpack("f", struct.pack("f", value))[0] if isinstance(value, float) and math.isfinite(value) else value
    )


def _as_bool(value: Any) -> Any:
    return bool(value) if isinstance(value, int) and value in (0, 1) else value


_CONVERSIONS: dict[str, Any] = {
    "decimal_text": lambda v, _n: decimal_text(v),
    "decimal": lambda v, _n: Decimal(repr(v)) if isinstance(v, float) else v,
    "iso": lambda v, _n: _iso(v),
    "uuid": lambda v, _n: str(v) if isinstance(v, uuid.UUID) else v,
    "utc": lambda v, _n: _utc(v),
    "set_array": lambda v, _n: _set_members(v),
    "set_json": lambda v, _n: json.dumps(_set_members(v), ensure_ascii=False, separators=(",", ":")),
    "bits": _bits,
    "integer": lambda v, _n: _integer(v),
    "bool": lambda v, _n: _as_bool(v),
    "finite": lambda v, _n: _finite(v),
    "float32": lambda v, _n: _float32(v),
}
