"""A query as the SQL text the database is to read, its values inlined.

SQLAlchemy compiles for the driver: under the `format` and `pyformat` parameter styles (psycopg,
PyMySQL) it doubles every `%` of the text, since the driver would take a lone `%` for a placeholder.
But a statement sent without parameters (a `COPY (…) TO STDOUT`, an `EXPLAIN`, the SQL `plan`
shows) is passed on as it is, so a plan's `id % 2 = 0` reached PostgreSQL as `id %% 2 = 0`, and
`LIKE '%@example.com'` matched other rows. With every value inlined no placeholder is left, and
each doubled `%` is a `%` of the query. Such SQL must then be sent without parameters:
`execute_literal` does that through SQLAlchemy.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult, Dialect

_DOUBLING_STYLES = ("format", "pyformat")


def literal_sql(query: sa.sql.ClauseElement, bind: Connection | Dialect) -> str:
    dialect = bind.dialect if isinstance(bind, Connection) else bind
    compiled: Any = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    sql = str(compiled)
    return sql.replace("%%", "%") if dialect.paramstyle in _DOUBLING_STYLES else sql


def execute_literal(conn: Connection, sql: str) -> CursorResult[Any]:
    """Run SQL from `literal_sql` (or built around it) through SQLAlchemy. Without `no_parameters`
    SQLAlchemy hands the driver an empty parameter list, and psycopg then reads `%` as a placeholder."""
    return conn.exec_driver_sql(sql, execution_options={"no_parameters": True})
