"""How the engine reports progress without knowing who listens (a rich progress bar, or nobody)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# A table's expected rows, computed only when asked: an observer that shows no total never pays for
# it (on SQLite it is an exact count of the subset, a fifth of a run).
Total = Callable[[], int]


class Observer(Protocol):
    """Told of each table (or the objects, with unit "objects") as it starts, moves and finishes."""

    def table_started(self, table: str, total_rows: Total, done_rows: int, unit: str = "rows") -> None: ...

    def rows_copied(self, table: str, rows: int) -> None: ...

    def table_finished(self, table: str) -> None: ...

    def step(self, message: str) -> None: ...


class Silent:
    def table_started(self, table: str, total_rows: Total, done_rows: int, unit: str = "rows") -> None:
        pass

    def rows_copied(self, table: str, rows: int) -> None:
        pass

    def table_finished(self, table: str) -> None:
        pass

    def step(self, message: str) -> None:
        pass
