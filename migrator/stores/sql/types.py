"""The type map: each source column's type in the target, and how its values cross
(docs/reference/types.md).

Within one dialect a type is kept as it is. Across dialects every source type maps to a target type
that holds each of its values without loss, exactly or in a documented converted form (a MariaDB
SET becomes a text[] in PostgreSQL, a PostgreSQL interval its ISO 8601 text, an unsigned BIGINT a
numeric(20,0)). Values a target type cannot hold (a NaN for MariaDB, a zero date for PostgreSQL, a
text in SQLite's INTEGER column for any other dialect) are described by each mapping as a condition
in the source's SQL, and refused before anything is written.

type_checks.py reads the source as the map says and finds the values it refuses; carried.py holds
the conversions: `Stored` reads a source column as the driver hands it over (or as the source's
own text of it), `Carried` converts on the way into the target column.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.types import TypeEngine, UserDefinedType

from migrator.stores.sql.carried import Carried, JsonText, Stored

_MYSQL_KEY_LENGTH = 255  # MySQL cannot index TEXT without a prefix length
_MYSQL_VARCHAR_MAX = 16383  # characters of utf8mb4 in a VARCHAR (65,535 bytes a row)
# SQLite's INTEGER is 64-bit signed: MariaDB's BIGINT UNSIGNED and BIT(64) go beyond it.
_BEYOND_INT64 = "{c} > 9223372036854775807"
_BEYOND_INT64_VALUES = "values above 9223372036854775807 (2**63 - 1)"


@dataclass(frozen=True)
class Mapping:
    """A source type's place in the target: the target type, how the source column is read
    (`Stored.read`), and the values the target type cannot hold: `unfit`, a condition in the
    source's SQL on the column `{c}`, which `unfit_values` describes."""

    target: TypeEngine  # type: ignore[type-arg]
    read: str | None = None
    unfit: str | None = None
    unfit_values: str = ""

    def holding(self, unfit: str, values: str) -> Mapping:
        return Mapping(self.target, self.read, unfit, values)


class Declared(UserDefinedType):  # type: ignore[type-arg]
    """A SQLite column declared by name only (DATE, DATETIME, TIME): its values are bound as they
    come, SQLite's affinity for the name (NUMERIC) keeps a text as text."""

    cache_ok = True

    def __init__(self, name: str):
        self.name = name

    def get_col_spec(self, **kw: object) -> str:
        return self.name


def translate(type_: TypeEngine, source: str, target: str, *, is_key: bool) -> TypeEngine:  # type: ignore[type-arg]
    declared = type_.declared if isinstance(type_, Stored) else type_
    if source == target:
        if source == "sqlite" and isinstance(declared, sa.types.NullType):
            return Declared("")  # a column declared without a type: SQLite's BLOB affinity (none)
        return _without_collation(declared) if source != "sqlite" else declared
    return mapping(declared, source, target, is_key=is_key).target


def mapping(type_: TypeEngine, source: str, target: str, *, is_key: bool = False) -> Mapping:  # type: ignore[type-arg]
    if source == "postgresql":
        return _from_postgresql(type_, target, is_key)
    if source == "mysql":
        return _from_mysql(type_, target, is_key)
    return _from_sqlite(type_, target, is_key)


# --- from PostgreSQL ---------------------------------------------------------------------------------

_PG_AS_TEXT = (
    postgresql.MONEY,
    postgresql.INET,
    postgresql.CIDR,
    postgresql.MACADDR,
    postgresql.MACADDR8,
    postgresql.TSVECTOR,
    postgresql.BIT,
    postgresql.ranges.AbstractRange,
    postgresql.ranges.AbstractMultiRange,
    sa.types.NullType,
)


def _from_postgresql(type_: TypeEngine, target: str, is_key: bool) -> Mapping:  # type: ignore[type-arg]
    if isinstance(type_, postgresql.DOMAIN):
        return _from_postgresql(type_.data_type, target, is_key)
    if isinstance(type_, sa.ARRAY):
        return Mapping(_json(target), read="json")
    if isinstance(type_, postgresql.ENUM | sa.Enum):
        return Mapping(_enum(list(type_.enums), target))
    if isinstance(type_, sa.JSON):
        return Mapping(_json(target), read="text")
    if isinstance(type_, postgresql.INTERVAL):
        return Mapping(_text(target, is_key), read="interval")
    if isinstance(type_, postgresql.UUID | sa.Uuid):
        return Mapping(Carried(sa.CHAR(36), "uuid"))
    if isinstance(type_, sa.Time) and type_.timezone:
        return Mapping(_text(target, is_key), read="output")
    if isinstance(type_, _PG_AS_TEXT):
        return Mapping(_text(target, is_key), read="output")
    common = _common(type_, target, is_key)
    if common is None:
        return Mapping(_text(target, is_key), read="output")
    if isinstance(type_, sa.Float):
        if target == "mysql":
            return common.holding("{c} IN ('NaN', 'Infinity', '-Infinity')", "NaN or infinite values")
        return common.holding("{c} = 'NaN'", "NaN (SQLite would store NULL)")
    if isinstance(type_, sa.Numeric) and target == "mysql" and not isinstance(common.target, Carried):
        return common.holding("{c} = 'NaN'", "NaN")
    if isinstance(type_, sa.Date | sa.DateTime):
        return common.holding("NOT isfinite({c}) OR {c} < '0001-01-01'", "infinite dates or dates before year 1")
    return common


# --- from MariaDB/MySQL ------------------------------------------------------------------------------


def _from_mysql(type_: TypeEngine, target: str, is_key: bool) -> Mapping:  # type: ignore[type-arg]
    if isinstance(type_, mysql.SET):
        if target == "postgresql":
            return Mapping(Carried(postgresql.ARRAY(sa.Text()), "set_array"))
        return Mapping(Carried(sa.Text(), "set_json"))
    if isinstance(type_, mysql.ENUM):
        return Mapping(_enum(list(type_.enums), target))
    if isinstance(type_, sa.JSON):
        return Mapping(_json(target))
    if isinstance(type_, mysql.YEAR):
        return Mapping(sa.SmallInteger())
    if isinstance(type_, mysql.BIT):
        if target == "postgresql":
            return Mapping(Carried(postgresql.BIT(type_.length or 1), "bits", type_.length or 1))
        return Mapping(Carried(sa.BigInteger(), "integer")).holding(_BEYOND_INT64, _BEYOND_INT64_VALUES)
    if isinstance(type_, sa.Time):
        # MariaDB's TIME is a duration (-838:59:59 to 838:59:59): read as its text, not as a time of day.
        if target == "postgresql":
            return Mapping(postgresql.INTERVAL(), read="char")
        return Mapping(Declared("TIME"), read="char")
    if isinstance(type_, sa.Integer) and getattr(type_, "unsigned", False):
        mapped = Mapping(_unsigned(type_, target))
        big = isinstance(type_, mysql.BIGINT) and target == "sqlite"
        return mapped.holding(_BEYOND_INT64, _BEYOND_INT64_VALUES) if big else mapped
    if isinstance(type_, mysql.TINYINT):
        return Mapping(sa.SmallInteger())
    if isinstance(type_, mysql.MEDIUMINT):
        return Mapping(sa.Integer())
    if isinstance(type_, mysql.FLOAT):
        # Read as the double it is: its text has six significant digits (1.5000001 prints 1.5).
        return Mapping(sa.REAL() if target == "postgresql" else sa.Float(), read="double")
    if isinstance(type_, mysql.DOUBLE | mysql.REAL):
        return Mapping(sa.Double())
    common = _common(type_, target, is_key)
    if common is None:
        return Mapping(_text(target, is_key))
    if isinstance(type_, sa.Date | sa.DateTime) and target == "postgresql":
        zero = "CAST({c} AS CHAR) REGEXP '^0000|-00'"
        return common.holding(zero, "zero dates, or dates with a zero month or day")
    return common


def _unsigned(type_: sa.Integer, target: str) -> TypeEngine:  # type: ignore[type-arg]
    if isinstance(type_, mysql.TINYINT):
        return sa.SmallInteger()
    if isinstance(type_, mysql.SMALLINT | mysql.MEDIUMINT):
        return sa.Integer()
    if isinstance(type_, mysql.BIGINT):
        # Up to 18446744073709551615: PostgreSQL's bigint stops at 2**63 - 1, SQLite's INTEGER too.
        return sa.Numeric(20, 0) if target == "postgresql" else sa.BigInteger()
    return sa.BigInteger()


# --- from SQLite -------------------------------------------------------------------------------------


def _from_sqlite(type_: TypeEngine, target: str, is_key: bool) -> Mapping:  # type: ignore[type-arg]
    """By SQLite's affinity of the declared name (https://www.sqlite.org/datatype3.html 3.1); a
    value of another storage class than the target type holds is refused."""
    name = sqlite_name(type_).upper()
    if "INT" in name:
        return _of_classes(sa.BigInteger(), "integer")
    if any(word in name for word in ("CHAR", "CLOB", "TEXT")):
        length = type_.length if isinstance(type_, sa.String) else None
        if not length or length > _MYSQL_VARCHAR_MAX:
            return _of_classes(_text(target, is_key), "text")
        # SQLite does not hold a VARCHAR(n) to its length; the target does.
        mapped = _of_classes(sa.String(length), "text")
        return mapped.holding(
            f"{mapped.unfit} OR length({{c}}) > {length}", f"{mapped.unfit_values}, or longer than {length}"
        )
    if name == "" or "BLOB" in name:
        return _of_classes(sa.LargeBinary() if target == "postgresql" else mysql.LONGBLOB(), "blob")
    if any(word in name for word in ("REAL", "FLOA", "DOUB")):
        mapped = _of_classes(sa.Double(), "real", "integer")
        if target == "mysql":  # SQLite keeps infinities (9e999), MariaDB has none
            return mapped.holding(f"{mapped.unfit} OR abs({{c}}) >= 9e999", f"{mapped.unfit_values}, or infinite")
        return mapped
    if "BOOL" in name:
        mapped = _of_classes(Carried(sa.Boolean(), "bool"), "integer")
        return mapped.holding(f"{mapped.unfit} OR {{c}} NOT IN (0, 1)", "values other than the integers 0 and 1")
    if "DATETIME" in name or "TIMESTAMP" in name:
        return _spelt(_datetime(target), "text", _DATE + " " + _TIME, "YYYY-MM-DD HH:MM:SS[.ffffff]")
    if "DATE" in name:
        return _spelt(sa.Date(), "text", _DATE, "YYYY-MM-DD")
    if "TIME" in name:
        return _spelt(
            mysql.TIME(fsp=6) if target == "mysql" else postgresql.TIME(precision=6), "text", _TIME, "HH:MM:SS[.ffffff]"
        )
    if "JSON" in name:
        return _of_classes(_json(target), "text")
    # NUMERIC affinity: integers and reals, each exact as a decimal (a real as its shortest repr).
    if target == "postgresql":
        return _of_classes(Carried(sa.Numeric(), "decimal"), "integer", "real")
    return _of_classes(Carried(_text(target, is_key), "decimal_text"), "integer", "real")


_DATE = "[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]"
_TIME = "[0-2][0-9]:[0-5][0-9]:[0-6][0-9]"


def _spelt(type_: TypeEngine, storage: str, pattern: str, form: str) -> Mapping:  # type: ignore[type-arg]
    """SQLite's dates and times are texts in whatever form was written: those in ISO 8601's form
    the target parses back to the same text are taken as dates (up to six digits of a second's
    fraction); any other is refused rather than re-read by the target's rules."""
    mapped = _of_classes(type_, storage)
    shapes = " OR ".join(f"{{c}} GLOB '{pattern}{'.' if n else ''}{'[0-9]' * n}'" for n in range(7))
    return mapped.holding(
        f"{mapped.unfit} OR NOT ({shapes})", f"{mapped.unfit_values}, or texts not of the form {form}"
    )


def _datetime(target: str) -> TypeEngine:  # type: ignore[type-arg]
    return mysql.DATETIME(fsp=6) if target == "mysql" else postgresql.TIMESTAMP(precision=6)


def _of_classes(type_: TypeEngine, *classes: str) -> Mapping:  # type: ignore[type-arg]
    kept = ", ".join(f"'{c}'" for c in ("null", *classes))
    return Mapping(
        type_,
        unfit=f"typeof({{c}}) NOT IN ({kept})",
        unfit_values=f"values stored as other than {' or '.join(classes)}",
    )


def sqlite_name(type_: TypeEngine) -> str:  # type: ignore[type-arg]
    if isinstance(type_, sa.types.NullType):
        return ""
    try:
        return str(type_.compile(dialect=sqlite.dialect()))
    except Exception:  # a type SQLite's compiler does not know: its class is its name
        return type(type_).__name__.upper()


# --- shared ------------------------------------------------------------------------------------------


def _common(type_: TypeEngine, target: str, is_key: bool) -> Mapping | None:  # type: ignore[type-arg]
    """Types every dialect has a twin for; None for the others."""
    if isinstance(type_, sa.Boolean):
        return Mapping(sa.Boolean())
    if isinstance(type_, sa.BigInteger):
        return Mapping(sa.BigInteger())
    if isinstance(type_, sa.SmallInteger):
        return Mapping(sa.SmallInteger())
    if isinstance(type_, sa.Integer):
        return Mapping(sa.Integer())
    if isinstance(type_, sa.Float):
        real = isinstance(type_, sa.REAL) or (type_.precision is not None and type_.precision <= 24)
        if target == "mysql":
            return Mapping(Carried(mysql.FLOAT(), "float32") if real else mysql.DOUBLE(asdecimal=False))
        return Mapping(Carried(sa.Double(), "finite"))
    if isinstance(type_, sa.Numeric):
        return Mapping(_numeric(type_, target, is_key))
    if isinstance(type_, sa.String):
        return Mapping(_string(type_, target, is_key))
    if isinstance(type_, sa.types._Binary):  # BYTEA, BLOB, and MySQL's BINARY, VARBINARY, *BLOB
        return Mapping(mysql.LONGBLOB() if target == "mysql" else sa.LargeBinary())
    if isinstance(type_, sa.DateTime):
        if target == "sqlite":
            return Mapping(Carried(Declared("DATETIME"), "iso"))
        if target == "mysql":
            return Mapping(Carried(mysql.DATETIME(fsp=6), "utc") if type_.timezone else mysql.DATETIME(fsp=6))
        return Mapping(postgresql.TIMESTAMP(precision=6))
    if isinstance(type_, sa.Date):
        return Mapping(Carried(Declared("DATE"), "iso") if target == "sqlite" else sa.Date())
    if isinstance(type_, sa.Time):
        if target == "sqlite":
            return Mapping(Carried(Declared("TIME"), "iso"))
        return Mapping(mysql.TIME(fsp=6) if target == "mysql" else postgresql.TIME(precision=6))
    return None


def _numeric(type_: sa.Numeric, target: str, is_key: bool) -> TypeEngine:  # type: ignore[type-arg]
    precision, scale = type_.precision, type_.scale or 0
    if target == "sqlite":
        return Carried(sa.Text(), "decimal_text")  # NUMERIC affinity would make 1.50 the REAL 1.5
    if target == "mysql" and (precision is None or precision > 65 or scale > 38):
        return Carried(_text(target, is_key), "decimal_text")  # MariaDB has no unbounded DECIMAL
    return sa.Numeric(precision, scale) if precision is not None else sa.Numeric()


def _string(type_: sa.String, target: str, is_key: bool) -> TypeEngine:  # type: ignore[type-arg]
    length = type_.length
    if not length or (target == "mysql" and length > _MYSQL_VARCHAR_MAX):
        return _text(target, is_key)
    if isinstance(type_, sa.CHAR) and length <= 255:
        return sa.CHAR(length)
    return sa.String(length)


def _text(target: str, is_key: bool) -> TypeEngine:  # type: ignore[type-arg]
    if target == "mysql":
        return sa.String(_MYSQL_KEY_LENGTH) if is_key else mysql.LONGTEXT()
    return sa.Text()


def _json(target: str) -> TypeEngine:  # type: ignore[type-arg]
    return sa.Text() if target == "sqlite" else JsonText()


def _enum(values: list[str], target: str) -> TypeEngine:  # type: ignore[type-arg]
    if target == "mysql":
        return mysql.ENUM(*values)
    # A text checked against the values: a PostgreSQL enum type would outlive the table it serves.
    return sa.Enum(*values, native_enum=False, create_constraint=True, length=max(map(len, values), default=1))


def _without_collation(type_: TypeEngine) -> TypeEngine:  # type: ignore[type-arg]
    if isinstance(type_, sa.String) and type_.collation:
        copy = type_.copy()
        copy.collation = None
        return copy
    return type_
