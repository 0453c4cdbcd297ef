"""A rich progress bar per table (and one for the objects), with rows (objects) per second and time left."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from migrator.engine.observer import Total


class _RowsPerSecond(ProgressColumn):
    def render(self, task) -> Text:  # type: ignore[no-untyped-def]
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "rows")
        return Text(f"{speed:,.0f} {unit}/s" if speed else "", style="progress.data.speed")


class RichObserver:
    def __init__(self, console: Console):
        self._progress = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RowsPerSecond(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._totals: dict[str, int] = {}
        self._started = False

    def __enter__(self) -> RichObserver:
        return self  # the display starts with the first table, so errors before it print alone

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        if self._started:
            self._progress.stop()

    def _start(self) -> None:
        if not self._started:
            self._progress.start()
            self._started = True

    def table_started(self, table: str, total_rows: Total, done_rows: int, unit: str = "rows") -> None:
        self._start()
        self._totals[table] = max(total_rows(), done_rows)
        self._tasks[table] = self._progress.add_task(
            table, total=self._totals[table] or 1, completed=done_rows, unit=unit
        )

    def rows_copied(self, table: str, rows: int) -> None:
        self._progress.advance(self._tasks[table], rows)

    def table_finished(self, table: str) -> None:
        self._progress.update(self._tasks[table], completed=self._totals[table] or 1)

    def step(self, message: str) -> None:
        self._start()
        self._progress.console.print(f"[dim]{escape(message)}[/]")
