"""Self-tests of tests/chinook_expected.py: the expectations are right and the checker has teeth.

No migrator code runs here. A checker that passes on anything would make every end-to-end test of the
US split meaningless, so it is shown to pass on a hand-made exact copy and to fail on each kind of
damage (missing row, out-of-scope row, changed value, broken foreign key).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import chinook_expected as ce
import pytest
import yaml
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.types import TypeEngine

PLANS_DIR = Path(__file__).resolve().parent / "plans"

# Counted on tests/data/chinook.sqlite with plain SQL (sqlite3 shell / python sqlite3):
#   SELECT count(*) FROM Customer WHERE Country = 'USA'                                  -> 13
#   SELECT count(*) FROM Invoice WHERE CustomerId IN (<those customers>)                 -> 91
#   SELECT count(*) FROM InvoiceLine WHERE InvoiceId IN (<those invoices>)               -> 494
#   SELECT DISTINCT SupportRepId FROM Customer WHERE Country = 'USA'                     -> 3, 4, 5
#   ReportsTo of 3, 4, 5 is 2; ReportsTo of 2 is 1; 1 reports to nobody                  -> 1..5
#   the catalog tables, SELECT count(*) of each                                          -> whole tables
# The PostgreSQL script holds the same rows (see test_pg_and_sqlite_expect_the_same_rows).
EXPECTED_COUNTS = {
    "customer": 13,
    "invoice": 91,
    "invoice_line": 494,
    "employee": 5,
    "track": 3503,
    "album": 347,
    "artist": 275,
    "genre": 25,
    "media_type": 5,
    "playlist": 18,
    "playlist_track": 8715,
}
US_EMPLOYEES = {1, 2, 3, 4, 5}  # 6, 7, 8 are the IT department: no US customer reaches them


@dataclass(frozen=True)
class Source:
    url: str
    names: ce.Naming


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.server)])
def chinook_source(request: pytest.FixtureRequest) -> Source:
    """Each Chinook source in turn: the SQLite file (PascalCase) and the PostgreSQL load (snake_case)."""
    if request.param == "sqlite":
        return Source(f"sqlite:///{request.getfixturevalue('chinook_sqlite')}", ce.Naming(ce.PASCAL))
    return Source(request.getfixturevalue("chinook_pg"), ce.Naming(ce.SNAKE))


def read_expected(source: Source) -> dict[str, set[tuple]]:
    engine = create_engine(source.url)
    try:
        with engine.connect() as conn:
            return ce.expected_rows(conn, source.names)
    finally:
        engine.dispose()


def by_logical_name(rows: Mapping[str, set[tuple]], names: ce.Naming) -> dict[str, set[tuple]]:
    return {names.logical(table): table_rows for table, table_rows in rows.items()}


def column_index(names: ce.Naming, logical_table: str, logical_column: str) -> int:
    return names.columns(logical_table).index(names.name(logical_column))


# --- the expectations match the data ------------------------------------------------------------------


def test_naming_matches_the_source_schema(chinook_source: Source) -> None:
    names = chinook_source.names
    engine = create_engine(chinook_source.url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            assert set(inspector.get_table_names()) == set(names.tables())
            declared_fks = set()
            for table, logical in names.tables().items():
                assert [c["name"] for c in inspector.get_columns(table)] == names.columns(logical)
                for fk in inspector.get_foreign_keys(table):
                    (child_column,), (parent_column,) = fk["constrained_columns"], fk["referred_columns"]
                    declared_fks.add((f"{table}.{child_column}", f"{fk['referred_table']}.{parent_column}"))
    finally:
        engine.dispose()
    assert declared_fks == set(names.foreign_keys())
    assert len(names.foreign_keys()) == 11


def test_expected_counts(chinook_source: Source) -> None:
    expected = by_logical_name(read_expected(chinook_source), chinook_source.names)
    assert {table: len(rows) for table, rows in expected.items()} == EXPECTED_COUNTS


def test_every_expected_customer_is_in_the_usa(chinook_source: Source) -> None:
    names = chinook_source.names
    customers = by_logical_name(read_expected(chinook_source), names)["customer"]
    country = column_index(names, "customer", "country")
    assert {row[country] for row in customers} == {"USA"}


def test_employees_are_the_support_reps_and_their_managers(chinook_source: Source) -> None:
    names = chinook_source.names
    expected = by_logical_name(read_expected(chinook_source), names)
    support_rep = column_index(names, "customer", "support_rep_id")
    employee_id = column_index(names, "employee", "employee_id")
    reports_to = column_index(names, "employee", "reports_to")

    employees = {row[employee_id] for row in expected["employee"]}
    support_reps = {row[support_rep] for row in expected["customer"]} - {None}
    managers = {row[reports_to] for row in expected["employee"]} - {None}
    assert support_reps <= employees
    assert managers <= employees, "the employee set must be closed under ReportsTo"
    assert employees == US_EMPLOYEES


@pytest.mark.server
def test_pg_and_sqlite_expect_the_same_rows(chinook_sqlite: Path, chinook_pg: str) -> None:
    # Proves the normalisation: REAL vs NUMERIC money, text vs TIMESTAMP dates compare equal.
    from_sqlite = read_expected(Source(f"sqlite:///{chinook_sqlite}", ce.Naming(ce.PASCAL)))
    from_pg = read_expected(Source(chinook_pg, ce.Naming(ce.SNAKE)))
    assert by_logical_name(from_sqlite, ce.Naming(ce.PASCAL)) == by_logical_name(from_pg, ce.Naming(ce.SNAKE))


@pytest.mark.server
def test_the_pg_script_trims_trailing_spaces_that_sqlite_keeps(chinook_sqlite: Path, chinook_pg: str) -> None:
    # A known difference between the two files, outside the US split: the script writes N'Edinburgh ',
    # an N'' literal is of type character (bpchar), and its cast to varchar drops trailing spaces. So a
    # whole-table comparison of the two sources differs on customer 54 and its invoices, and nowhere else.
    cities = {}
    for url, query in (
        (f"sqlite:///{chinook_sqlite}", "SELECT City FROM Customer WHERE CustomerId = 54"),
        (chinook_pg, "SELECT city FROM customer WHERE customer_id = 54"),
    ):
        engine = create_engine(url)
        with engine.connect() as conn:
            cities[engine.dialect.name] = conn.execute(text(query)).scalar_one()
        engine.dispose()
    assert cities == {"sqlite": "Edinburgh ", "postgresql": "Edinburgh"}


def test_normalise_reads_every_form_a_target_may_return() -> None:
    assert {ce.normalise("money", form) for form in (0.99, "0.990", Decimal("0.99"))} == {Decimal("0.99")}
    forms = (
        "2021-01-01 00:00:00",
        "2021-01-01 00:00:00.000000",
        dt.datetime(2021, 1, 1),
        dt.date(2021, 1, 1),
    )
    assert {ce.normalise("datetime", form) for form in forms} == {"2021-01-01T00:00:00"}


# --- the plan files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan_file", "style"), [("chinook_us_sqlite.yaml", ce.PASCAL), ("chinook_us_pg.yaml", ce.SNAKE)]
)
def test_plan_names_only_the_root_and_the_catalog(plan_file: str, style: str) -> None:
    names = ce.Naming(style)
    data = yaml.safe_load((PLANS_DIR / plan_file).read_text())["data"]
    country = names.name("country")
    assert data["roots"] == {names.table("customer"): f"{country} = 'USA'"}
    assert data["tables"] == {names.table(table): "all" for table in ce.CATALOG_TABLES}
    # Employee, Invoice and InvoiceLine are left for the engine to derive.
    assert {names.table(t) for t in ("employee", "invoice", "invoice_line")}.isdisjoint(data["tables"])
    assert (data["dangling"], data["unlisted"], data["schema"], data["chunk_rows"]) == (
        "drop",
        "fail",
        "create",
        100,
    )


# --- the checker: passes on an exact copy, fails on any damage ----------------------------------------

COLUMN_TYPES: dict[ce.Kind, Callable[[], TypeEngine]] = {
    "int": Integer,
    "text": lambda: String(255),
    "money": lambda: Numeric(10, 2, asdecimal=False),
    "datetime": DateTime,
}


def _target_table(metadata: MetaData, names: ce.Naming, logical: str) -> Table:
    # No foreign key constraints: the copy must be able to hold the broken states the checker must catch.
    keys = ce.PRIMARY_KEYS[logical]
    columns = [
        Column(names.name(column), COLUMN_TYPES[kind](), primary_key=column in keys, autoincrement=False)
        for column, kind in ce.SCHEMA[logical]
    ]
    return Table(names.table(logical), metadata, *columns)


def _bindable(kinds: list[ce.Kind], row: tuple) -> list[object]:
    return [dt.datetime.fromisoformat(v) if kind == "datetime" and v else v for kind, v in zip(kinds, row, strict=True)]


def build_copy(target_url: str, names: ce.Naming, rows: Mapping[str, set[tuple]]) -> None:
    """CREATE TABLE + INSERT of exactly `rows` in the target, with the source's table and column names."""
    metadata = MetaData()
    tables = {table: _target_table(metadata, names, names.logical(table)) for table in rows}
    engine = create_engine(target_url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for table, table_rows in rows.items():
                logical = names.logical(table)
                values = [
                    dict(zip(names.columns(logical), _bindable(names.kinds(logical), row), strict=True))
                    for row in table_rows
                ]
                if values:
                    conn.execute(tables[table].insert(), values)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.server)])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'target.sqlite'}"
    return request.getfixturevalue("pg_url_factory")()


def test_checker_passes_on_an_exact_copy(chinook_source: Source, target_url: str) -> None:
    # sqlite->pg puts PascalCase names in PostgreSQL: the checker's quoting is exercised too.
    build_copy(target_url, chinook_source.names, read_expected(chinook_source))
    ce.assert_us_split(chinook_source.url, target_url, chinook_source.names)


@pytest.mark.server
def test_checker_passes_on_an_exact_copy_in_mariadb(chinook_sqlite: Path, mariadb_database: str) -> None:
    source = Source(f"sqlite:///{chinook_sqlite}", ce.Naming(ce.PASCAL))
    build_copy(mariadb_database, source.names, read_expected(source))
    ce.assert_us_split(source.url, mariadb_database, source.names)


@pytest.mark.server
def test_checker_fails_on_a_missing_table(chinook_pg: str, pg_database: str) -> None:
    names = ce.Naming(ce.SNAKE)
    expected = read_expected(Source(chinook_pg, names))
    build_copy(pg_database, names, {t: rows for t, rows in expected.items() if t != "playlist_track"})
    with pytest.raises(AssertionError, match=re.escape("the target lacks table(s) ['playlist_track']")):
        ce.assert_us_split(chinook_pg, pg_database, names)


def _ref(names: ce.Naming, table: str, column: str) -> str:
    return f"{names.table(table)}.{names.name(column)}"


def _smallest(conn: Connection, sql: ce.SqlNames, table: str, column: str) -> int:
    return conn.execute(text(f"SELECT min({sql.c(column)}) FROM {sql.t(table)}")).scalar_one()


class Damage:
    """Ways to break an exact copy, each returning the fragment of the failure message it must cause."""

    @staticmethod
    def delete_an_invoice_line(conn: Connection, names: ce.Naming, source: Source) -> str:
        sql = ce.SqlNames(conn, names)
        line = _smallest(conn, sql, "invoice_line", "invoice_line_id")
        delete = f"DELETE FROM {sql.t('invoice_line')} WHERE {sql.c('invoice_line_id')} = :id"
        conn.execute(text(delete), {"id": line})
        return f"I3 completeness: {names.table('invoice_line')} lacks 1 expected row(s)"

    @staticmethod
    def add_a_non_us_customer(conn: Connection, names: ce.Naming, source: Source) -> str:
        # Customer 1 lives in Brazil; its support rep (3) is in the copy, so only residency breaks.
        engine = create_engine(source.url)
        try:
            with engine.connect() as source_conn:
                customers = ce.target_rows(source_conn, names, names.table("customer"))
        finally:
            engine.dispose()
        (brazilian,) = [row for row in customers if row[0] == 1]
        table = _target_table(MetaData(), names, "customer")
        conn.execute(table.insert(), dict(zip(names.columns("customer"), brazilian, strict=True)))
        return f"I2 residency: {names.table('customer')} has 1 target row(s) outside the expected US subset"

    @staticmethod
    def change_a_customer_email(conn: Connection, names: ce.Naming, source: Source) -> str:
        sql = ce.SqlNames(conn, names)
        customer = _smallest(conn, sql, "customer", "customer_id")
        update = (
            f"UPDATE {sql.t('customer')} SET {sql.c('email')} = 'changed@example.com'"
            f" WHERE {sql.c('customer_id')} = :id"
        )
        conn.execute(text(update), {"id": customer})
        return f"I3 completeness: {names.table('customer')} lacks 1 expected row(s)"

    @staticmethod
    def point_a_line_at_a_missing_track(conn: Connection, names: ce.Naming, source: Source) -> str:
        sql = ce.SqlNames(conn, names)
        line = _smallest(conn, sql, "invoice_line", "invoice_line_id")
        update = (
            f"UPDATE {sql.t('invoice_line')} SET {sql.c('track_id')} = 999999 WHERE {sql.c('invoice_line_id')} = :id"
        )
        conn.execute(text(update), {"id": line})
        fk = f"{_ref(names, 'invoice_line', 'track_id')} -> {_ref(names, 'track', 'track_id')}"
        return f"I1 integrity: {fk} has 1 unresolved reference(s)"

    @staticmethod
    def delete_the_sales_manager(conn: Connection, names: ce.Naming, source: Source) -> str:
        # Employee 2 is the manager of the three support reps: the self-reference breaks three times.
        sql = ce.SqlNames(conn, names)
        conn.execute(text(f"DELETE FROM {sql.t('employee')} WHERE {sql.c('employee_id')} = 2"))
        fk = f"{_ref(names, 'employee', 'reports_to')} -> {_ref(names, 'employee', 'employee_id')}"
        return f"I1 integrity: {fk} has 3 unresolved reference(s)"


DAMAGES = [
    Damage.delete_an_invoice_line,
    Damage.add_a_non_us_customer,
    Damage.change_a_customer_email,
    Damage.point_a_line_at_a_missing_track,
    Damage.delete_the_sales_manager,
]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda damage: damage.__name__)
def test_checker_fails_on_a_damaged_copy(
    chinook_source: Source, target_url: str, damage: Callable[[Connection, ce.Naming, Source], str]
) -> None:
    build_copy(target_url, chinook_source.names, read_expected(chinook_source))
    engine = create_engine(target_url)
    try:
        with engine.begin() as conn:
            message = damage(conn, chinook_source.names, chinook_source)
    finally:
        engine.dispose()
    with pytest.raises(AssertionError, match=re.escape(message)):
        ce.assert_us_split(chinook_source.url, target_url, chinook_source.names)


def test_failure_messages_name_the_table_and_show_at_most_five_rows() -> None:
    expected = {(i, "x") for i in range(3)}
    actual = expected | {(i, "extra") for i in range(10, 17)}
    (message,) = ce.content_failures("Customer", expected, actual)
    assert message.startswith("I2 residency: Customer has 7 target row(s)")
    assert len(message.splitlines()) == 1 + ce.SHOWN_ROWS
