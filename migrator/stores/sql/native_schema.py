"""The native-schema seam (issue 12, must-have 3), as agreed in notes/SEAM.md.

Placeholder on branch `myschema` so that the MariaDB and SQLite builders can be written and tested
on their own: the module is owned by helper `pgschema`, whose version (with BUILDERS, execute_all,
...) replaces this one at the merge. The dataclass is the same shape as theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection


@dataclass
class NativeSchema:
    before_load: list[str]  # types, domains, sequences, schemas, tables, primary keys
    after_load: list[str]  # indexes, constraints, foreign keys, views, triggers, comments, counters
    left_out: list[str]  # one line per source object not recreated, and why
    generated: dict[str, list[str]] = field(default_factory=dict)  # per table: columns the copy must not write


# (source connection in the run's snapshot, copied table names, dropped columns per table)
NativeBuilder = Callable[[Connection, list[str], dict[str, set[str]]], NativeSchema]
