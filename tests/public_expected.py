"""Independent expectations for the public data sets' splits (tests/data/public/NAME/plan.yaml).

Nothing here imports `migrator`. The rows each plan must copy are written out as hand-made SQL on
the source, one WHERE clause per table, from the plan's intent and the subset rules of
docs/reference/subset-rules.md (a scoped row needs every scope and constraint key to point at a
copied row; a referenced table gets exactly the rows copied rows point to). The check then reads
the target with its own SQL:

- I1 integrity: every foreign key the source declares between two copied tables (and the plan's
  `relations`) resolves in the target;
- I2 residency: the target holds no row outside the expected key set of its table;
- I3 completeness and content: every expected row is there, with the source's values.

Values are compared in a form chosen per pair of dialects. PostgreSQL to PostgreSQL compares each
column's text output (`col::text`), MariaDB to MariaDB each column's text form (`CAST(col AS
CHAR)`, `HEX(col)` for bytes): both exact, so `2006-02-15 04:57:20` and `2006-02-15
04:57:20.000000` differ. Across dialects the values are brought to one canonical form per kind of
source column (`canonical` below): a number by its value (so `4.99` and a REAL's `4.99` agree, but
`1.50` and `1.5` too: scale is not compared across dialects), a real to 6 significant digits, a
CHAR(n) without its trailing blanks (the padding is the type's: PostgreSQL's char(n) returns it,
MariaDB's CHAR strips it, and both print the value without it), a timestamp with time zone as UTC
wall-clock time, a date or datetime by its ISO text, bytes as hex, a MariaDB SET or a PostgreSQL
array as the tuple of its elements (a JSON array text too: that is how a target without arrays may
hold one). Anything else compares as text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

SHOWN = 3  # offending rows or values quoted per failure


# --- the expected subsets -----------------------------------------------------------------------------


def _store_chain() -> dict[str, str | None]:
    """Store 1 of sakila / pagila (the two have the same tables and keys for this purpose)."""
    stores = "(SELECT store_id FROM store WHERE store_id = 1)"
    staff = f"(SELECT staff_id FROM staff WHERE store_id IN {stores})"
    customers = f"(SELECT customer_id FROM customer WHERE store_id IN {stores})"
    inventory = f"(SELECT inventory_id FROM inventory WHERE store_id IN {stores})"

    def rental_kept(alias: str) -> str:
        return (
            f"{alias}.customer_id IN {customers} AND {alias}.inventory_id IN {inventory}"
            f" AND {alias}.staff_id IN {staff}"
        )

    addresses = (
        f"(SELECT address_id FROM customer WHERE store_id IN {stores}"
        f" UNION SELECT address_id FROM staff WHERE store_id IN {stores}"
        f" UNION SELECT address_id FROM store WHERE store_id IN {stores})"
    )
    cities = f"(SELECT city_id FROM address WHERE address_id IN {addresses})"
    return {
        # store 1's manager works at store 1, so the store <-> staff cycle keeps both.
        "store": f"x.store_id IN {stores} AND x.manager_staff_id IN {staff}",
        "staff": f"x.store_id IN {stores}",
        "customer": f"x.store_id IN {stores}",
        "inventory": f"x.store_id IN {stores}",
        "rental": rental_kept("x"),
        "payment": (
            f"x.customer_id IN {customers} AND x.staff_id IN {staff} AND (x.rental_id IS NULL"
            f" OR x.rental_id IN (SELECT r.rental_id FROM rental r WHERE {rental_kept('r')}))"
        ),
        "address": f"x.address_id IN {addresses}",
        "city": f"x.city_id IN {cities}",
        "country": f"x.country_id IN (SELECT country_id FROM city WHERE city_id IN {cities})",
        "film": None,
        "film_actor": None,
        "film_category": None,
        "actor": None,
        "category": None,
        "language": None,
    }


def _northwind() -> dict[str, str | None]:
    german = "(SELECT customer_id FROM customers WHERE country = 'Germany')"
    orders = f"(SELECT order_id FROM orders WHERE customer_id IN {german})"
    # The employees the German orders name, then up the reports_to chain to the top.
    employees = (
        "(WITH RECURSIVE needed(id) AS ("
        f" SELECT employee_id FROM orders WHERE customer_id IN {german} AND employee_id IS NOT NULL"
        " UNION SELECT e.reports_to FROM employees e JOIN needed n ON e.employee_id = n.id"
        " WHERE e.reports_to IS NOT NULL) SELECT id FROM needed)"
    )
    return {
        "customers": "x.country = 'Germany'",
        "orders": f"x.customer_id IN {german}",
        "order_details": f"x.order_id IN {orders}",
        "customer_customer_demo": f"x.customer_id IN {german}",
        "customer_demographics": (
            f"x.customer_type_id IN (SELECT customer_type_id FROM customer_customer_demo WHERE customer_id IN {german})"
        ),
        "employees": f"x.employee_id IN {employees}",
        "shippers": f"x.shipper_id IN (SELECT ship_via FROM orders WHERE customer_id IN {german})",
        "products": None,
        "categories": None,
        "suppliers": None,
        "region": None,
        "territories": None,
        "us_states": None,
    }


def _employees() -> dict[str, str | None]:
    development = "(SELECT emp_no FROM dept_emp WHERE dept_no = 'd005')"
    return {
        "employees": f"x.emp_no IN {development}",
        "dept_emp": f"x.emp_no IN {development}",
        "dept_manager": f"x.emp_no IN {development}",
        "titles": f"x.emp_no IN {development}",
        "salaries": f"x.emp_no IN {development}",
        "departments": (
            f"x.dept_no IN (SELECT dept_no FROM dept_emp WHERE emp_no IN {development}"
            f" UNION SELECT dept_no FROM dept_manager WHERE emp_no IN {development})"
        ),
    }


@dataclass(frozen=True)
class Expectation:
    """Per table of the target: the WHERE clause (alias `x`) that selects its rows on the source (None:
    every row); and foreign keys the plan adds as `relations` (child, columns, parent, columns)."""

    where: Mapping[str, str | None]
    relations: Sequence[tuple[str, tuple[str, ...], str, tuple[str, ...]]] = field(default_factory=tuple)


EXPECTATIONS: dict[str, Expectation] = {
    "pagila": Expectation(
        _store_chain(),
        relations=(
            ("payment", ("customer_id",), "customer", ("customer_id",)),
            ("payment", ("staff_id",), "staff", ("staff_id",)),
            ("payment", ("rental_id",), "rental", ("rental_id",)),
        ),
    ),
    "sakila": Expectation(_store_chain() | {"film_text": None}),
    "northwind": Expectation(_northwind()),
    "employees": Expectation(_employees()),
}


# --- canonical values ---------------------------------------------------------------------------------

# Kinds of source column, from the source's reflected type; each has one canonical form.
INT, NUMERIC, REAL, BOOL, TIMESTAMP, DATE, BYTES, LIST, CHAR, TEXT = (
    "int", "numeric", "real", "bool", "timestamp", "date", "bytes", "list", "char", "text",
)  # fmt: skip


def column_kind(column_type: sa.types.TypeEngine) -> str:
    column_type = getattr(column_type, "data_type", None) or column_type  # a PostgreSQL DOMAIN: its base type
    if isinstance(column_type, sa.Boolean):
        return BOOL
    if isinstance(column_type, (sa.Integer, mysql.YEAR)):
        return INT
    if isinstance(column_type, sa.Float):
        return REAL
    if isinstance(column_type, sa.Numeric):
        return NUMERIC
    if isinstance(column_type, sa.DateTime):
        return TIMESTAMP
    if isinstance(column_type, sa.Date):
        return DATE
    if isinstance(column_type, (sa.LargeBinary, postgresql.BYTEA)):
        return BYTES
    if isinstance(column_type, (sa.ARRAY, mysql.SET)):
        return LIST
    if isinstance(column_type, sa.CHAR):
        return CHAR
    return TEXT


def _timestamp(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    return value


def _date(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):  # a DATE that became a DATETIME keeps its time part
        return value.isoformat()
    return value


def _number(value: Any) -> Any:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return value
    return format(number.normalize(), "f") if number.is_finite() else str(number)


def canonical(kind: str, value: Any) -> Any:
    """One form per kind for a value read from any of the three databases (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, memoryview):
        value = bytes(value)
    if kind == INT and isinstance(value, (bool, int)):
        return int(value)
    if kind == BOOL and isinstance(value, (bool, int)):
        return bool(value)
    if kind == NUMERIC and isinstance(value, (int, float, Decimal, str)):
        return _number(value)
    if kind == REAL and isinstance(value, (int, float, Decimal)):
        return float(f"{float(value):.6g}")
    if kind == TIMESTAMP:
        return _timestamp(value)
    if kind == DATE:
        return _date(value)
    if isinstance(value, bytes):
        return value.hex()
    if kind == CHAR and isinstance(value, str):
        return value.rstrip(" ")
    if kind == LIST:
        if isinstance(value, str) and value.startswith("["):
            return tuple(json.loads(value))  # an array kept as a JSON array where arrays do not exist
        if isinstance(value, str):
            return tuple(value.split(",")) if value else ()
        if isinstance(value, (list, tuple, set)):
            return tuple(value)
    return value if isinstance(value, (int, float, str)) else str(value)


# --- reading rows -------------------------------------------------------------------------------------

EXACT_PG, EXACT_MARIADB, CANONICAL = "pg-text", "mariadb-text", "canonical"


def comparison_for(source_dialect: str, target_dialect: str) -> str:
    if source_dialect == target_dialect == "postgresql":
        return EXACT_PG
    if source_dialect == target_dialect == "mysql":
        return EXACT_MARIADB
    return CANONICAL


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    key: tuple[str, ...]  # primary key columns, or every column when there is none


def describe(inspector: sa.Inspector, table: str) -> SourceTable:
    columns = inspector.get_columns(table)
    names = tuple(column["name"] for column in columns)
    key = tuple(inspector.get_pk_constraint(table).get("constrained_columns") or names)
    return SourceTable(table, names, tuple(column_kind(column["type"]) for column in columns), key)


def _q(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def read_rows(conn: sa.Connection, table: SourceTable, comparison: str, where: str | None = None) -> dict:
    """key -> row, both tuples in comparison form, of `table` (optionally only the rows `where` selects)."""
    if comparison == EXACT_PG:
        select = ", ".join(f"x.{_q(conn, c)}::text" for c in table.columns)
    elif comparison == EXACT_MARIADB:
        select = ", ".join(
            f"HEX(x.{_q(conn, c)})" if kind == BYTES else f"CAST(x.{_q(conn, c)} AS CHAR)"
            for c, kind in zip(table.columns, table.kinds, strict=True)
        )
    else:
        select = ", ".join(f"x.{_q(conn, c)}" for c in table.columns)
    query = f"SELECT {select} FROM {_q(conn, table.name)} x" + (f" WHERE {where}" if where else "")
    rows = {}
    positions = [table.columns.index(c) for c in table.key]
    for raw in conn.execute(sa.text(query)):
        row = tuple(raw)
        if comparison == CANONICAL:
            row = tuple(canonical(kind, value) for kind, value in zip(table.kinds, row, strict=True))
        rows[tuple(row[i] for i in positions)] = row
    return rows


# --- the check ----------------------------------------------------------------------------------------


def _sample(items: Iterable[Any]) -> str:
    return "\n".join(f"    {item!r}" for item in sorted(items, key=repr)[:SHOWN])


def foreign_keys(
    inspector: sa.Inspector, tables: Iterable[str], expectation: Expectation
) -> list[tuple[str, tuple[str, ...], str, tuple[str, ...]]]:
    """The source's declared foreign keys between copied tables, and the plan's relations."""
    copied = set(tables)
    keys = [
        (table, tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
        for table in copied
        for fk in inspector.get_foreign_keys(table)
        if fk["referred_table"] in copied
    ]
    return sorted(set(keys) | set(expectation.relations))


def unresolved(
    conn: sa.Connection, child: str, columns: tuple[str, ...], parent: str, referred: tuple[str, ...]
) -> int:
    join = " AND ".join(f"p.{_q(conn, r)} = c.{_q(conn, c)}" for c, r in zip(columns, referred, strict=True))
    present = " AND ".join(f"c.{_q(conn, c)} IS NOT NULL" for c in columns)
    query = (
        f"SELECT count(*) FROM {_q(conn, child)} c LEFT JOIN {_q(conn, parent)} p ON {join}"
        f" WHERE p.{_q(conn, referred[0])} IS NULL AND {present}"
    )
    return int(conn.execute(sa.text(query)).scalar_one())


def _content_failures(table: SourceTable, expected: dict, actual: dict) -> list[str]:
    failures = []
    if outside := actual.keys() - expected.keys():
        failures.append(
            f"I2 residency: {table.name} has {len(outside)} row(s) outside the expected subset, keys e.g.:\n"
            + _sample(outside)
        )
    if missing := expected.keys() - actual.keys():
        failures.append(
            f"I3 completeness: {table.name} lacks {len(missing)} expected row(s), keys e.g.:\n" + _sample(missing)
        )
    differing = []
    for key in expected.keys() & actual.keys():
        for column, want, got in zip(table.columns, expected[key], actual[key], strict=True):
            if want != got:
                differing.append((column, key, want, got))
    if differing:
        columns = sorted({column for column, *_ in differing})
        shown = sorted(differing, key=repr)[:SHOWN]
        failures.append(
            f"I3 content: {table.name} has {len(differing)} value(s) unlike the source's, in column(s) {columns};"
            " e.g. (column, key, source, target):\n" + "\n".join(f"    {item!r}" for item in shown)
        )
    return failures


def split_failures(dataset: str, source_url: str, target_url: str) -> list[str]:
    """Every I1, I2 and I3 failure of the target of `dataset`'s plan, as readable lines."""
    expectation = EXPECTATIONS[dataset]
    source, target = sa.create_engine(source_url), sa.create_engine(target_url)
    try:
        comparison = comparison_for(source.dialect.name, target.dialect.name)
        with source.connect() as source_conn:
            inspector = sa.inspect(source_conn)
            tables = {name: describe(inspector, name) for name in expectation.where}
            keys = foreign_keys(inspector, tables, expectation)
            expected = {
                name: read_rows(source_conn, table, comparison, expectation.where[name])
                for name, table in tables.items()
            }
        with target.connect() as target_conn:
            present = set(sa.inspect(target_conn).get_table_names())
            if absent := sorted(set(tables) - present):
                return [f"the target lacks table(s) {absent}"]
            failures = []
            for child, columns, parent, referred in keys:
                if count := unresolved(target_conn, child, columns, parent, referred):
                    failures.append(
                        f"I1 integrity: {child}.({', '.join(columns)}) -> {parent} has {count} unresolved reference(s)"
                    )
            for name, table in tables.items():
                failures += _content_failures(table, expected[name], read_rows(target_conn, table, comparison))
            return failures
    finally:
        source.dispose()
        target.dispose()
