"""The native schema's statements run in PostgreSQL: together in one round trip where nothing of
them exists yet (a first run), else one by one, each skipped when its object is there already."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from migrator.stores.sql.native_schema import execute_all

STATEMENTS = [
    "SELECT pg_catalog.set_config('search_path', 'public', true)",
    "CREATE TYPE mood AS ENUM ('calm', 'busy')",
    "CREATE TABLE notes (id integer NOT NULL, mood mood) -- a comment on the last line",
    "CREATE FUNCTION shout(t text) RETURNS text LANGUAGE sql AS $$ SELECT upper(t); $$",
    "CREATE TABLE tags (note integer, tag text)",
]


@pytest.fixture
def engine(pg_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_database)
    yield engine
    engine.dispose()


def _sent(engine: sa.Engine) -> list[str]:
    """The statements the connection sends from now on, as the driver gets them."""
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    return sent


def _objects(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        tables = conn.exec_driver_sql("SELECT relname FROM pg_class WHERE relname IN ('notes', 'tags')").scalars()
        types = conn.exec_driver_sql("SELECT typname FROM pg_type WHERE typname = 'mood'").scalars()
        functions = conn.exec_driver_sql("SELECT proname FROM pg_proc WHERE proname = 'shout'").scalars()
        return {*tables, *types, *functions}


def test_a_first_run_sends_them_at_once(engine: sa.Engine) -> None:
    sent = _sent(engine)
    with engine.begin() as conn:
        execute_all(conn, STATEMENTS, together=True)
    assert [s for s in sent if not s.startswith(("SAVEPOINT", "RELEASE"))] == ["\n;\n".join(STATEMENTS)]
    assert _objects(engine) == {"notes", "tags", "mood", "shout"}


def test_an_object_already_there_is_skipped_and_the_rest_made(engine: sa.Engine) -> None:
    """A type kept by `--restart` (which drops only tables): the statements together fail on it,
    nothing of them is left, and one by one they make the rest."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TYPE mood AS ENUM ('calm', 'busy')")
    with engine.begin() as conn:
        execute_all(conn, STATEMENTS, together=True)
    assert _objects(engine) == {"notes", "tags", "mood", "shout"}


def test_a_statement_in_error_is_raised_and_nothing_is_made(engine: sa.Engine) -> None:
    broken = [*STATEMENTS[:3], "CREATE TABLE tags (note integer, tag no_such_type)", *STATEMENTS[3:]]
    with pytest.raises(sa.exc.ProgrammingError, match="no_such_type"), engine.begin() as conn:
        execute_all(conn, broken, together=True)
    assert _objects(engine) == set()


def test_without_together_each_runs_under_its_own_savepoint(engine: sa.Engine) -> None:
    sent = _sent(engine)
    with engine.begin() as conn:
        execute_all(conn, STATEMENTS)
    assert [s for s in sent if not s.startswith(("SAVEPOINT", "RELEASE"))] == STATEMENTS
    assert _objects(engine) == {"notes", "tags", "mood", "shout"}
