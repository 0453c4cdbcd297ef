"""Column types across dialects: keep them within a dialect, translate to generic types across.

SQLAlchemy's `as_generic()` maps most dialect types to their portable twin (VARCHAR(60) ->
String(60), TIMESTAMP -> DateTime, JSONB -> JSON); what has no twin on the target (arrays, ranges,
network types) becomes JSON or text, which keeps the value readable rather than failing the load.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

_MYSQL_KEY_LENGTH = 255  # MySQL cannot index TEXT without a prefix length


def translate(type_: TypeEngine, source: str, target: str, *, is_key: bool) -> TypeEngine:  # type: ignore[type-arg]
    if source == target:
        return _without_collation(type_) if source != "sqlite" else type_
    generic = _generic(type_)
    if target == "mysql":
        return _for_mysql(generic, is_key)
    if target == "sqlite" and isinstance(generic, sa.Numeric) and not isinstance(generic, sa.Float):
        # SQLite keeps NUMERIC as float or text; asdecimal keeps Decimal values on the way back.
        return sa.Numeric(generic.precision, generic.scale, asdecimal=True)
    return generic


def _generic(type_: TypeEngine) -> TypeEngine:  # type: ignore[type-arg]
    if isinstance(type_, sa.ARRAY):
        return sa.JSON()
    if isinstance(type_, sa.Enum):
        return sa.String(max((len(e) for e in type_.enums), default=1))
    try:
        generic = type_.as_generic()
    except NotImplementedError:
        return sa.Text()
    if isinstance(generic, sa.types.NullType):
        return sa.Text()
    if isinstance(generic, sa.String) and not isinstance(generic, sa.Text):
        return sa.String(generic.length)
    return generic


def _for_mysql(type_: TypeEngine, is_key: bool) -> TypeEngine:  # type: ignore[type-arg]
    if isinstance(type_, sa.String) and not type_.length:
        return sa.String(_MYSQL_KEY_LENGTH) if is_key else sa.Text()
    if isinstance(type_, sa.DateTime):
        return mysql.DATETIME(fsp=6)
    if isinstance(type_, sa.Time):
        return mysql.TIME(fsp=6)
    if isinstance(type_, sa.LargeBinary):
        return mysql.LONGBLOB()
    if isinstance(type_, sa.Float):
        return sa.Float(53)
    return type_


def _without_collation(type_: TypeEngine) -> TypeEngine:  # type: ignore[type-arg]
    if isinstance(type_, sa.String) and type_.collation:
        copy = type_.copy()
        copy.collation = None
        return copy
    return type_
