"""How the engine reports progress without knowing who listens (a rich progress bar, or nobody)."""

from __future__ import annotations

from typing import Protocol


class Observer(Protocol):
    def table_started(self, table: str, total_rows: int, done_rows: int) -> None: ...

    def rows_copied(self, table: str, rows: int) -> None: ...

    def table_finished(self, table: str) -> None: ...

    def step(self, message: str) -> None: ...


class Silent:
    def table_started(self, table: str, total_rows: int, done_rows: int) -> None:
        pass

    def rows_copied(self, table: str, rows: int) -> None:
        pass

    def table_finished(self, table: str) -> None:
        pass

    def step(self, message: str) -> None:
        pass
