"""Public sample databases (tests/data/public/NAME) loaded into throwaway source databases.

Each data set is a folder with `schema.sql`, `data.sql`, optionally `post_data.sql` (objects that must
come after the rows, such as triggers that would rewrite them), a `plan.yaml` and a `LICENSE.md`.
They are loaded once per test session into a database that every test of the session reads: a
source is only read (migrator opens it read-only), so sharing it is safe and saves the loads.

PostgreSQL scripts are sent with psycopg as one simple query per file, which runs many statements;
the rows are loaded with `session_replication_role = replica`, so foreign keys and triggers do not
fire (the dumps list tables alphabetically, not parents first). MariaDB scripts are split into
statements here, honouring the `DELIMITER` lines of the mysql client that trigger and routine
bodies use, and run one by one with PyMySQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pymysql

from tests.conftest import (
    MARIADB_ADMIN,
    MARIADB_URL,
    PG_URL,
    _mariadb_execute,
    _pg_create,
    _pg_drop,
    unique_database_name,
)

PUBLIC_DIR = Path(__file__).resolve().parent / "data" / "public"
POSTGRESQL = "postgresql"
MARIADB = "mariadb"
FILES = ("schema.sql", "data.sql", "post_data.sql")


@dataclass(frozen=True)
class Dataset:
    name: str
    dialect: str

    @property
    def folder(self) -> Path:
        return PUBLIC_DIR / self.name

    @property
    def plan(self) -> Path:
        return self.folder / "plan.yaml"

    def scripts(self) -> list[Path]:
        return [self.folder / name for name in FILES if (self.folder / name).exists()]


DATASETS = {
    "pagila": Dataset("pagila", POSTGRESQL),
    "northwind": Dataset("northwind", POSTGRESQL),
    "sakila": Dataset("sakila", MARIADB),
    "employees": Dataset("employees", MARIADB),
}


# --- PostgreSQL ---------------------------------------------------------------------------------------


def _load_pg(name: str, dataset: Dataset) -> None:
    for script in dataset.scripts():
        sql = script.read_text(encoding="utf-8")
        if script.name == "data.sql":
            sql = "SET session_replication_role = replica;\n" + sql
        # A fresh connection per file: pg_dump scripts empty the search_path for the session.
        with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True) as conn:
            conn.execute(sql.encode())


# --- MariaDB ------------------------------------------------------------------------------------------

_DELIMITER_LINE = re.compile(r"^\s*DELIMITER\s+(\S+)\s*$", re.IGNORECASE)


def mysql_statements(script: str) -> Iterator[str]:
    """The statements of a mysql-client script, as the client would send them.

    A statement ends at a line that ends with the current delimiter (`;` unless a `DELIMITER` line
    changed it). Whole-line `--` and `#` comments between statements are dropped. Good enough for
    dumps and hand-written schema files; a delimiter at the end of a line inside a string literal
    would cut a statement short.
    """
    delimiter, lines = ";", []
    for line in script.replace("\r\n", "\n").split("\n"):
        if not lines:
            if changed := _DELIMITER_LINE.match(line):
                delimiter = changed.group(1)
                continue
            if not line.strip() or line.lstrip().startswith(("--", "#")):
                continue
        lines.append(line)
        if line.rstrip().endswith(delimiter):
            statement = "\n".join(lines).rstrip()[: -len(delimiter)].strip()
            lines = []
            if statement:
                yield statement
    if "\n".join(lines).strip():
        yield "\n".join(lines).strip()


def _load_mariadb(name: str, dataset: Dataset) -> None:
    conn = pymysql.connect(**MARIADB_ADMIN, database=name, autocommit=True, charset="utf8mb4")
    try:
        with conn.cursor() as cursor:
            for script in dataset.scripts():
                for statement in mysql_statements(script.read_text(encoding="utf-8")):
                    cursor.execute(statement)
    finally:
        conn.close()


# --- one load per session -----------------------------------------------------------------------------


class PublicSources:
    """Loads each data set at most once per session, on first use, and drops them all at the end."""

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}
        self._created: list[tuple[str, str]] = []  # (dialect, database name), to drop at the end

    def url(self, dataset: Dataset) -> str:
        if dataset.name not in self._urls:
            self._urls[dataset.name] = self._load(dataset)
        return self._urls[dataset.name]

    def _load(self, dataset: Dataset) -> str:
        name = unique_database_name(f"migrator_public_{dataset.name}")
        if dataset.dialect == POSTGRESQL:
            _pg_create(name)
            self._created.append((POSTGRESQL, name))
            _load_pg(name, dataset)
            return PG_URL.format(name=name)
        _mariadb_execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        self._created.append((MARIADB, name))
        _load_mariadb(name, dataset)
        return MARIADB_URL.format(name=name)

    def drop_all(self) -> None:
        for dialect, name in self._created:
            if dialect == POSTGRESQL:
                _pg_drop(name)
            else:
                _mariadb_execute(f"DROP DATABASE IF EXISTS {name}")


def public_sources_fixture() -> Iterator[PublicSources]:
    """Body of a session-scoped `public_sources` fixture (see tests/test_public_datasets.py)."""
    sources = PublicSources()
    try:
        yield sources
    finally:
        sources.drop_all()
