"""A native PostgreSQL schema's indexes and foreign keys added as the tables load (engine/early_schema.py).

* a table's indexes are built when it is loaded, a foreign key once both its tables are, and the
  after-load transaction (finish_native) then finds them there, skips them, and runs the rest;
* a foreign key that cannot be added early (here: a row whose parent is missing) is rolled back and
  left to the after-load transaction, which reports it, as it did before.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from migrator.engine.early_schema import EarlySchema
from migrator.engine.target import Target
from migrator.stores.sql.native_schema import NativeSchema

AFTER_LOAD = [
    "ALTER TABLE ONLY public.child\n    ADD CONSTRAINT child_parent_fkey FOREIGN KEY (parent_id) "
    "REFERENCES public.parent(id)",
    "CREATE INDEX child_parent_id_idx ON public.child USING btree (parent_id)",
]
KEYS = [
    "ALTER TABLE ONLY public.parent\n    ADD CONSTRAINT parent_pkey PRIMARY KEY (id)",
    "ALTER TABLE ONLY public.child\n    ADD CONSTRAINT child_pkey PRIMARY KEY (id)",
]


def _target(conn: sa.Connection) -> Target:
    conn.exec_driver_sql("CREATE TABLE parent (id integer NOT NULL)")
    conn.exec_driver_sql("CREATE TABLE child (id integer NOT NULL, parent_id integer)")
    conn.exec_driver_sql("INSERT INTO parent VALUES (1), (2)")
    conn.commit()
    target = Target(conn, None, merge=False, native=NativeSchema([], AFTER_LOAD, [], keys=KEYS))
    target.tables = {name: sa.Table(name, sa.MetaData()) for name in ("parent", "child")}
    return target


def _constraints(conn: sa.Connection) -> set[str]:
    rows = conn.exec_driver_sql(
        "SELECT conname FROM pg_constraint WHERE conrelid IN ('parent'::regclass, 'child'::regclass)"
    )
    found = {r[0] for r in rows}
    conn.commit()
    return found


def test_indexes_when_a_table_is_loaded_and_a_foreign_key_when_both_are(pg_database: str) -> None:
    engine = sa.create_engine(pg_database, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        target = _target(conn)
        conn.exec_driver_sql("INSERT INTO child VALUES (10, 1), (11, NULL)")
        conn.commit()
        early = EarlySchema(target, enabled=True)
        early.loaded(conn, "child")
        assert _constraints(conn) == {"child_pkey"}  # its parent is not loaded yet: no foreign key
        early.loaded(conn, "parent")
        assert _constraints(conn) == {"child_pkey", "parent_pkey", "child_parent_fkey"}
        assert early.built == {"parent", "child"}
    engine.dispose()


def test_a_foreign_key_that_fails_early_is_left_to_the_after_load_transaction(pg_database: str) -> None:
    from migrator.engine.target import finish_native
    from migrator.stores.sql import ledger

    engine = sa.create_engine(pg_database, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        target = _target(conn)
        conn.exec_driver_sql("INSERT INTO child VALUES (10, 3)")  # parent 3 does not exist
        conn.commit()
        early = EarlySchema(target, enabled=True)
        early.loaded(conn, "parent")
        early.loaded(conn, "child")
        assert _constraints(conn) == {"child_pkey", "parent_pkey"}  # rolled back, the connection usable
        with conn.begin():
            ledger.ensure(conn)

        prep = SimpleNamespace(loaded=SimpleNamespace(plan=SimpleNamespace(name="early")))  # what finish_native reads
        with pytest.raises(sa.exc.IntegrityError, match="child_parent_fkey"):
            finish_native(prep, target, "run", engine, 2, early.built)  # type: ignore[arg-type]
        conn.rollback()
        assert _constraints(conn) == {"child_pkey", "parent_pkey"}
    engine.dispose()
