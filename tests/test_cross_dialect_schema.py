"""Across dialects the target's schema must fit the target's rules (issue 12, item 4): index names
that MySQL keeps per table are made unique where PostgreSQL and SQLite keep them per schema, and
indexes longer than MariaDB's 3072-byte key are indexed by prefixes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pymysql
import pytest
import sqlalchemy as sa

from tests.conftest import DatabaseFactory
from tests.plan_files import write_plan

# Sakila's shape: two tables with an index of the same name (MySQL's names are per table).
_MARIADB_SOURCE = [
    "CREATE TABLE address (address_id INT PRIMARY KEY, line VARCHAR(50))",
    "CREATE TABLE customer (customer_id INT PRIMARY KEY, address_id INT, email VARCHAR(50),"
    " KEY idx_fk_address_id (address_id), UNIQUE KEY uq_email (email),"
    " CONSTRAINT fk_customer_address FOREIGN KEY (address_id) REFERENCES address (address_id))",
    "CREATE TABLE staff (staff_id INT PRIMARY KEY, address_id INT, email VARCHAR(50),"
    " KEY idx_fk_address_id (address_id), UNIQUE KEY uq_email (email),"
    " CONSTRAINT fk_staff_address FOREIGN KEY (address_id) REFERENCES address (address_id))",
    "INSERT INTO address VALUES (1, 'one'), (2, 'two')",
    "INSERT INTO customer VALUES (1, 1, 'a@example.com'), (2, 2, 'b@example.com')",
    "INSERT INTO staff VALUES (1, 2, 'a@example.com')",
]


def _plan(tmp_path: Path, name: str, source: str, target: str, tables: list[str]) -> Path:
    return write_plan(tmp_path, name, source, target, {"tables": dict.fromkeys(tables, "all")})


def _mariadb_execute(url: str, statements: list[str]) -> None:
    parsed = sa.make_url(url)
    conn = pymysql.connect(host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database)
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    conn.commit()
    conn.close()


@pytest.mark.parametrize("target", ["postgresql", "sqlite"])
def test_mysql_index_names_are_made_unique_in_a_schema_wide_namespace(
    run_cli, tmp_path: Path, mariadb_database: str, pg_url_factory: DatabaseFactory, target: str
) -> None:  # type: ignore[no-untyped-def]
    _mariadb_execute(mariadb_database, _MARIADB_SOURCE)
    target_url = pg_url_factory() if target == "postgresql" else f"sqlite:///{tmp_path / 'target.db'}"
    tables = ["address", "customer", "staff"]
    done = run_cli("run", _plan(tmp_path, "names", mariadb_database, target_url, tables))
    assert done.returncode == 0, done.stderr
    if target == "postgresql":
        dsn = sa.make_url(target_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn) as conn:
            indexes = conn.execute(
                "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%pkey'"
            ).fetchall()
    else:
        with sqlite3.connect(tmp_path / "target.db") as lite:
            indexes = lite.execute(
                "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'"
            ).fetchall()
        lite.close()
    names = {(str(table), str(name)) for table, name in indexes}
    assert {("customer", "customer_idx_fk_address_id"), ("staff", "staff_idx_fk_address_id")} <= names
    if target == "postgresql":  # the unique keys, whose indexes share the namespace too
        assert {("customer", "customer_uq_email"), ("staff", "staff_uq_email")} <= names


def test_an_index_longer_than_mariadb_allows_is_indexed_by_prefixes(
    run_cli, tmp_path: Path, pg_database: str, mariadb_database: str
) -> None:  # type: ignore[no-untyped-def]
    dsn = sa.make_url(pg_database).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE people (id int PRIMARY KEY, a varchar(255), b varchar(255), c varchar(255),"
            " d varchar(255), bio varchar(2000));"
            " CREATE INDEX people_abcd ON people (a, b, c, d);"
            " CREATE INDEX people_bio ON people (bio);"
            " INSERT INTO people VALUES (1, 'a', 'b', 'c', 'd', repeat('x', 2000))"
        )
    done = run_cli("run", _plan(tmp_path, "lengths", pg_database, mariadb_database, ["people"]))
    assert done.returncode == 0, done.stderr
    parsed = sa.make_url(mariadb_database)
    conn = pymysql.connect(host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database)
    with conn.cursor() as cursor:
        cursor.execute("SHOW INDEX FROM people WHERE Key_name <> 'PRIMARY'")
        parts = {(row[2], row[4]): row[7] for row in cursor.fetchall()}  # (Key_name, Column_name): Sub_part
        cursor.execute("SELECT LENGTH(bio) FROM people")
        assert cursor.fetchone() == (2000,)  # the prefix narrows the index, not the value
    conn.close()
    # 3072 bytes over 4 columns of 4-byte characters: 192 characters each; one column: 768.
    assert parts == {
        ("people_abcd", "a"): 192,
        ("people_abcd", "b"): 192,
        ("people_abcd", "c"): 192,
        ("people_abcd", "d"): 192,
        ("people_bio", "bio"): 768,
    }
