"""MariaDB -> MariaDB native schema (issue 12, must-have 3): the target's tables are the source's.

The builder runs on a real source loaded from tests/data/fidelity/mysql_schema.sql; its statements
run on a fresh target database, the rows are copied with plain `INSERT ... SELECT` across the two
databases of the same server, and the test compares what the server says of both sides.
`country` is not copied, `customer.secret` is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
import sqlalchemy as sa
from pymysql.constants import CLIENT
from sqlalchemy.engine import Connection, make_url

from migrator.stores.sql.connect import open_source
from migrator.stores.sql.literal import execute_literal
from migrator.stores.sql.mysql_native import native_schema
from migrator.stores.sql.native_schema import NativeSchema
from migrator.stores.sql.snapshot import snapshot
from tests.conftest import DatabaseFactory

FIXTURE = Path(__file__).parent / "data" / "fidelity" / "mysql_schema.sql"
COPIED = ["customer", "orders", "store", "audit_log", "ticket"]
COUNTERS = {"customer": 13, "orders": 311, "store": 5, "audit_log": 10, "ticket": 21}
KEYS = {"customer": "id", "orders": "id", "store": "id", "audit_log": "id", "ticket": "seq"}

LEFT_OUT_WITH_SECRET_DROPPED = {
    "index customer.idx_secret names dropped column(s) secret",
    "check customer.chk_secret names dropped column(s) secret",
    "check on column customer.tiny names dropped column(s) secret",
    "foreign key customer.fk_customer_country references country, which is not copied",
    "procedure add_country names country, which is not copied",
    "view customer_country names country, which is not copied",
    "view customer_secrets names dropped column(s) customer.secret",
    "trigger customer_country_check on customer names country, which is not copied",
    "trigger customer_secret_upper on customer names dropped column(s) customer.secret",
}


def _database(url: str) -> str:
    return str(make_url(url).database)


def _load_fixture(url: str) -> None:
    # The server splits a multi-statement text itself, compound bodies (BEGIN ... END;) included.
    conn = pymysql.connect(
        host="127.0.0.1", user="root", database=_database(url), charset="utf8mb4", client_flag=CLIENT.MULTI_STATEMENTS
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute(FIXTURE.read_text(encoding="utf-8"))
            while cursor.nextset():
                pass
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def databases(mariadb_url_factory: DatabaseFactory) -> tuple[str, str]:
    source, target = mariadb_url_factory(), mariadb_url_factory()
    _load_fixture(source)
    return source, target


@pytest.fixture
def target_conn(databases: tuple[str, str]) -> Iterator[Connection]:
    engine = sa.create_engine(databases[1], isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def _build(source_url: str, dropped: dict[str, set[str]]) -> NativeSchema:
    # As the run does: in the source's read-only snapshot.
    engine = open_source(make_url(source_url))
    try:
        with snapshot(engine) as conn:
            return native_schema(conn, COPIED, dropped)
    finally:
        engine.dispose()


def _run(conn: Connection, statements: list[str]) -> None:
    for statement in statements:
        execute_literal(conn, statement)


def _copy_rows(conn: Connection, source_db: str, schema: NativeSchema) -> None:
    # The target's columns (the dropped ones and those computed from them are not there) but for
    # the generated ones, which MariaDB computes.
    target_db = str(conn.exec_driver_sql("SELECT DATABASE()").scalar_one())
    for table in COPIED:
        skip = set(schema.generated.get(table, []))
        columns = [
            str(name)
            for (name,) in conn.exec_driver_sql(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
                " ORDER BY ORDINAL_POSITION",
                (target_db, table),
            ).all()
            if name not in skip
        ]
        names = ", ".join(f"`{c}`" for c in columns)
        conn.exec_driver_sql(f"INSERT INTO `{table}` ({names}) SELECT {names} FROM `{source_db}`.`{table}`")


def _show_create(conn: Connection, database: str, kind: str, name: str) -> str:
    column = {"TABLE": 1, "VIEW": 1, "TRIGGER": 2, "FUNCTION": 2, "PROCEDURE": 2}[kind]
    text = str(conn.exec_driver_sql(f"SHOW CREATE {kind} `{database}`.`{name}`").one()[column])
    # Views are shown with their tables' database when it is not the connection's: one text for both.
    return re.sub(r" AUTO_INCREMENT=\d+", "", text).replace(f"`{database}`.", "")


def _objects(conn: Connection, database: str) -> set[str]:
    rows = conn.exec_driver_sql(
        "SELECT CONCAT('view ', TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %(db)s"
        " UNION ALL SELECT CONCAT(LOWER(ROUTINE_TYPE), ' ', ROUTINE_NAME) FROM information_schema.ROUTINES"
        " WHERE ROUTINE_SCHEMA = %(db)s"
        " UNION ALL SELECT CONCAT('trigger ', TRIGGER_NAME) FROM information_schema.TRIGGERS"
        " WHERE TRIGGER_SCHEMA = %(db)s",
        {"db": database},
    ).all()
    return {str(row[0]) for row in rows}


def _rows(conn: Connection, database: str, table: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in conn.exec_driver_sql(f"SELECT * FROM `{database}`.`{table}` ORDER BY 1").all()]


def _counter(conn: Connection, database: str, table: str) -> int:
    value = conn.exec_driver_sql(
        "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (database, table),
    ).scalar_one()
    return int(value)


def _split(databases: tuple[str, str], conn: Connection, dropped: dict[str, set[str]]) -> NativeSchema:
    schema = _build(databases[0], dropped)
    _run(conn, schema.before_load)
    _copy_rows(conn, _database(databases[0]), schema)
    _run(conn, schema.after_load)
    return schema


def test_every_copied_table_is_created_as_the_source_shows_it(
    databases: tuple[str, str], target_conn: Connection
) -> None:
    source_db, target_db = map(_database, databases)
    dropped = {"customer": {"secret"}}
    schema = _split(databases, target_conn, dropped)

    assert set(schema.left_out) == LEFT_OUT_WITH_SECRET_DROPPED
    assert len(schema.left_out) == len(LEFT_OUT_WITH_SECRET_DROPPED)
    assert schema.generated == {"customer": ["full_name", "email_domain"]}
    for table in ("orders", "store", "audit_log", "ticket"):
        target_text = _show_create(target_conn, target_db, "TABLE", table)
        assert target_text == _show_create(target_conn, source_db, "TABLE", table), table
    # customer: the source's text without the dropped column and the three items left out; the
    # index MariaDB made for the foreign key to `country` stays, it names copied columns only.
    removed = ("`secret` varchar", "KEY `idx_secret`", "CONSTRAINT `chk_secret`", "CONSTRAINT `fk_customer_country`")
    expected = "\n".join(
        line
        for line in _show_create(target_conn, source_db, "TABLE", "customer").splitlines()
        if not line.strip().startswith(removed)
    )
    tiny = " CHECK (`tiny` > 0 or `secret` is null)"
    assert tiny in expected
    expected = expected.replace(tiny, "")
    assert _show_create(target_conn, target_db, "TABLE", "customer") == expected
    assert "KEY `fk_customer_country` (`country_id`)" in expected


def test_rows_generated_columns_and_counters_match_the_source(
    databases: tuple[str, str], target_conn: Connection
) -> None:
    source_db, target_db = map(_database, databases)
    _split(databases, target_conn, {})
    for table in COPIED:
        assert _rows(target_conn, target_db, table) == _rows(target_conn, source_db, table), table
        highest = target_conn.exec_driver_sql(f"SELECT MAX({KEYS[table]}) FROM `{target_db}`.`{table}`").scalar_one()
        assert _counter(target_conn, target_db, table) == COUNTERS[table] > highest
    generated = "SELECT id, full_name, email_domain FROM `{}`.customer ORDER BY id"
    computed = target_conn.exec_driver_sql(generated.format(target_db)).all()
    assert computed == target_conn.exec_driver_sql(generated.format(source_db)).all()
    assert ("Bo Ström", "example.org") in [tuple(row[1:]) for row in computed]
    # A new row takes the source's next key, not one a copied row already has.
    target_conn.exec_driver_sql("INSERT INTO store (name, location) VALUES ('new', ST_GeomFromText('POINT(1 1)'))")
    assert target_conn.exec_driver_sql("SELECT MAX(id) FROM store").scalar_one() == COUNTERS["store"]


def test_views_routines_and_triggers_on_copied_tables_only_are_recreated(
    databases: tuple[str, str], target_conn: Connection
) -> None:
    source_db, target_db = map(_database, databases)
    schema = _split(databases, target_conn, {})

    recreated = {
        "view customer_orders",
        "view big_orders",
        "view customer_secrets",
        "function order_count",
        "trigger orders_memo",
        "trigger customer_secret_upper",
    }
    assert _objects(target_conn, target_db) == recreated
    assert _objects(target_conn, source_db) - recreated == {
        "view customer_country",
        "procedure add_country",
        "trigger customer_country_check",
    }
    assert set(schema.left_out) == {
        "foreign key customer.fk_customer_country references country, which is not copied",
        "procedure add_country names country, which is not copied",
        "view customer_country names country, which is not copied",
        "trigger customer_country_check on customer names country, which is not copied",
    }
    for label in recreated:
        kind, name = label.split()
        assert _show_create(target_conn, target_db, kind.upper(), name) == _show_create(
            target_conn, source_db, kind.upper(), name
        ), label
    # With no column dropped, customer is the source's table exactly but for the foreign key to country.
    source_customer = _show_create(target_conn, source_db, "TABLE", "customer")
    assert _show_create(target_conn, target_db, "TABLE", "customer") == "\n".join(
        line for line in source_customer.splitlines() if "CONSTRAINT `fk_customer_country`" not in line
    )
    # The recreated objects work: the trigger fills a memo, the function counts, the view reads.
    target_conn.exec_driver_sql("INSERT INTO orders (customer_id, total, placed) VALUES (7, 1.00, '2024-01-01')")
    assert target_conn.exec_driver_sql("SELECT memo FROM orders WHERE customer_id = 7").scalar_one() == (
        "order of 7 (100%)"
    )
    assert target_conn.exec_driver_sql("SELECT order_count(3)").scalar_one() == 2
    assert target_conn.exec_driver_sql("SELECT COUNT(*) FROM big_orders").scalar_one() == 1


def test_a_column_computed_from_a_dropped_one_goes_with_everything_naming_it(
    databases: tuple[str, str], target_conn: Connection
) -> None:
    target_db = _database(databases[1])
    dropped = {"customer": {"last_name"}}
    schema = _split(databases, target_conn, dropped)

    assert schema.generated == {"customer": ["email_domain"]}
    assert {
        "column customer.full_name names dropped column(s) last_name",
        "index customer.idx_name names dropped column(s) last_name",
        "check customer.chk_names names dropped column(s) last_name",
        "view customer_orders names dropped column(s) customer.full_name",
        "view big_orders names view customer_orders, which is left out",
    } <= set(schema.left_out)
    columns = {
        str(name)
        for (name,) in target_conn.exec_driver_sql(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'customer'",
            (target_db,),
        ).all()
    }
    assert {"last_name", "full_name"}.isdisjoint(columns)
    assert {"first_name", "email_domain", "secret"} <= columns


def test_running_the_statements_again_after_a_crash_changes_nothing(
    databases: tuple[str, str], target_conn: Connection
) -> None:
    source_db, target_db = map(_database, databases)
    schema = _split(databases, target_conn, {"customer": {"secret"}})
    before = {table: _show_create(target_conn, target_db, "TABLE", table) for table in COPIED}
    rows = {table: _rows(target_conn, target_db, table) for table in COPIED}

    # A resumed run: the tables exist and hold their rows, every after-load statement may have run.
    _run(target_conn, schema.before_load)
    _run(target_conn, schema.after_load)
    _run(target_conn, schema.after_load)

    assert {table: _show_create(target_conn, target_db, "TABLE", table) for table in COPIED} == before
    assert {table: _rows(target_conn, target_db, table) for table in COPIED} == rows
    assert _objects(target_conn, target_db) == {
        "view customer_orders",
        "view big_orders",
        "function order_count",
        "trigger orders_memo",
    }
    assert _counter(target_conn, target_db, "orders") == COUNTERS["orders"]
    assert source_db != target_db


def test_a_session_with_ansi_quotes_reads_the_same_statements(databases: tuple[str, str]) -> None:
    plain = _build(databases[0], {"customer": {"secret"}})
    engine = open_source(make_url(databases[0]))
    try:
        with snapshot(engine) as conn:
            conn.exec_driver_sql("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',ANSI_QUOTES')")
            quoted = native_schema(conn, COPIED, {"customer": {"secret"}})
            mode = str(conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar_one())
    finally:
        engine.dispose()
    assert quoted == plain
    assert "ANSI_QUOTES" in mode  # the session's mode is given back


# MariaDB prints these members and defaults through its utf8mb3 catalog, each emoji as '?'.
BEYOND_THE_BMP = """
CREATE TABLE beyond (
    id INT PRIMARY KEY,
    e ENUM('sad', 'ünï 😀', '?', 'it''s', 'a\\\\b') DEFAULT 'ünï 😀',
    s SET('a', 'ü😀', 'c?') DEFAULT 'a,ü😀',
    v VARCHAR(10) DEFAULT '😀?',
    q VARCHAR(10) DEFAULT '?',
    l ENUM('x', '?') CHARACTER SET latin1 DEFAULT '?'
) CHARACTER SET utf8mb4
"""


def test_members_and_defaults_beyond_the_bmp_are_the_ones_the_source_holds(
    mariadb_url_factory: DatabaseFactory,
) -> None:
    """SHOW CREATE TABLE says 'ünï ?': the target holds 'ünï 😀' all the same, in every member's
    place, and defaults to the source's own texts."""
    source, target = mariadb_url_factory(), mariadb_url_factory()
    source_db, target_db = _database(source), _database(target)
    engine = sa.create_engine(target, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"USE `{source_db}`")
            conn.exec_driver_sql(BEYOND_THE_BMP)
            assert "'ünï ?'" in _show_create(conn, source_db, "TABLE", "beyond")  # what the catalog says
            builder = open_source(make_url(source))
            try:
                with snapshot(builder) as reader:
                    schema = native_schema(reader, ["beyond"], {})
            finally:
                builder.dispose()
            conn.exec_driver_sql(f"USE `{target_db}`")
            _run(conn, schema.before_load + schema.after_load)
            assert _show_create(conn, target_db, "TABLE", "beyond") == _show_create(conn, source_db, "TABLE", "beyond")
            # Every member by its number, and the defaults, written and read by the server on both sides.
            fill = (
                "INSERT INTO `{}`.beyond (id, e, s, l)"
                " VALUES (1, 1, 1, 1), (2, 2, 2, 2), (3, 3, 4, 1), (4, 4, 7, 2), (5, 5, 0, 1)"
            )
            read = "SELECT id, HEX(e), HEX(s), HEX(l), HEX(v), HEX(q) FROM `{}`.beyond ORDER BY id"
            for database in (source_db, target_db):
                conn.exec_driver_sql(fill.format(database))
                conn.exec_driver_sql(f"INSERT INTO `{database}`.beyond (id) VALUES (6)")
            held = conn.exec_driver_sql(read.format(source_db)).all()
            assert conn.exec_driver_sql(read.format(target_db)).all() == held
            assert ("ünï 😀".encode().hex().upper(), "a,ü😀".encode().hex().upper()) == held[-1][1:3]
            assert held[-1][4] == "😀?".encode().hex().upper()
    finally:
        engine.dispose()
