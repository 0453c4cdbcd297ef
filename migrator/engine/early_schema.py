"""A native PostgreSQL schema's indexes and foreign keys, added by the copy's workers as the tables
load rather than all after the last row (local --workers; engine/parallel.py calls `loaded`).

A table's indexes, unique keys and primary key need nothing but its rows: the worker that copied
its last range builds them before it takes its next unit, beside the tables still copying. A
foreign key needs its table and the one it references loaded and indexed: it is added by the
worker that completes the pair. Each runs in a transaction of its own, as finish_native's do; the
after-load transaction then finds them there and skips them (native_schema.execute_all), so a run
stopped in between still ends with the whole list run once and marked.

A foreign key added early is a head start, not a step of its own: one that fails here (a deadlock
between two keys that lock the same tables in opposite orders, a lock timeout) is rolled back and
left to the after-load transaction, which adds it, or reports why not, as before.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from migrator.engine.target import Target, build_indexes, table_foreign_keys, table_indexes
from migrator.stores.sql.errors import translated
from migrator.stores.sql.native_schema import add_if_possible

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


class EarlySchema:
    def __init__(self, target: Target, enabled: bool):
        self._indexes = table_indexes(target) if enabled else {}
        self._keys = table_foreign_keys(target) if enabled else []
        self._loaded: set[str] = set()
        self._lock = threading.Lock()
        self.built: set[str] = set()  # the tables whose indexes are built

    def loaded(self, conn: Connection, name: str) -> None:
        """`name`'s last range is copied: its indexes, then the foreign keys it completes."""
        if name in self._indexes:
            with translated("adding keys, indexes and counters to the target"):
                build_indexes(conn, self._indexes[name])
        with self._lock:
            self.built.add(name)
            self._loaded.add(name)
            ready = [k for k in self._keys if k[0] in self._loaded and k[1] in self._loaded]
            self._keys = [k for k in self._keys if k not in ready]
        for _, _, statement in ready:
            add_if_possible(conn, statement)
