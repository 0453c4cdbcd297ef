"""The native-schema seam (issue 12, must-have 3), as agreed in notes/SEAM.md.

Placeholder on branch `myschema` so that the MariaDB and SQLite builders can be written and tested:
the module is owned by helper `pgschema`, whose version replaces this one at the merge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection


@dataclass
class NativeSchema:
    before_load: list[str] = field(default_factory=list)
    after_load: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    generated: dict[str, list[str]] = field(default_factory=dict)


NativeBuilder = Callable[[Connection, list[str], dict[str, set[str]]], NativeSchema]
