"""MariaDB's values as the server stores them, for a copy from MariaDB into MariaDB (issue 12, items
1 and 2): read, written and hashed in MariaDB's own text form, never through SQLAlchemy's types.

SQLAlchemy's result processing of MySQL types is made for Python code, not for copying, and loses or
refuses values: a DOUBLE becomes a Decimal of ten places (-2.2250738585072014e-308 reads as -0E-10),
a TIME beyond a day or below zero a wrong time of day (-838:59:59 reads as 01:00:01), a SET an
unordered Python set, and an ENUM value the reflected member list lacks raises LookupError. That
list is the catalog's, and MariaDB's catalog is utf8mb3: a member 'ünï 😀' is reported as 'ünï ?'
while the column holds the real value.

So each column is read as the server sends it in the text protocol, which PyMySQL parses without loss
(an int, a Decimal, the double a DOUBLE's shortest text names, a datetime, the bytes of a BLOB or BIT,
the text of a CHAR, ENUM, SET or JSON, a zero date as its text), with two exceptions:

- a TIME as its text (`CAST AS CHAR`): PyMySQL parses it into a timedelta well enough, but writes a
  negative one back wrong ('-838:59:59' would become '-839:00:01');
- a FLOAT as the double it is (`CAST AS DOUBLE`): its text has six significant digits, which do not
  tell every 4-byte float apart; the double does, and written into a FLOAT it rounds back to the
  same 4 bytes.

The copy reads the source this way (`read_as_stored`), and the digests of both sides read the same
way (`stored_columns`), so that a digest is over what each database holds, not over two identical
conversions of it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

from migrator.stores.sql.carried import Stored


def stored_read(type_: TypeEngine) -> str | None:  # type: ignore[type-arg]
    """What the SELECT takes instead of a MariaDB column of this type (`Stored.read`)."""
    if isinstance(type_, sa.Time):
        return "char"
    if isinstance(type_, mysql.FLOAT):
        return "double"
    return None


def read_as_stored(metadata: sa.MetaData) -> None:
    """Every column of the source's tables read as MariaDB stores it (the copy's reads)."""
    for table in metadata.tables.values():
        for column in table.columns:
            if not isinstance(column.type, Stored):
                column.type = Stored(column.type, stored_read(column.type))


def stored_columns(dialect: str, query: sa.Select) -> sa.Select:  # type: ignore[type-arg]
    """On MariaDB, `query` with each selected column read as stored, under its own name; a column
    read by `Stored` already (the source's, or the type map's reading of it) stays as it is. The
    query's FROM, WHERE and ORDER BY are kept. Other dialects' queries are returned unchanged."""
    if dialect != "mysql":
        return query
    columns = list(query.selected_columns)
    if all(isinstance(c.type, Stored) for c in columns):
        return query
    return query.with_only_columns(*[_stored(c) for c in columns])


def _stored(column: Any) -> Any:
    if isinstance(column.type, Stored):
        return column
    return sa.type_coerce(column, Stored(column.type, stored_read(column.type))).label(column.name)
