"""`migrator status` for people: one block per run, a table of its parts, the rate, the ETA, the
last error. Built as one rich renderable, so that `--watch` can redraw it in a Live display."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from migrator.engine.status.model import PartStatus, PlanStatus, RunStatus

_STYLE = {"done": "green", "running": "cyan", "pending": "dim", "stopped": "yellow"}
_QUIET = 300  # seconds without an event before a running run is asked about (a unit rarely takes so long)
_RUN_STYLE = {"running": "cyan", "interrupted": "yellow", "failed": "red", "copied-but-not-verified": "red"}


def status_renderable(status: PlanStatus, *, runs: int = 3) -> RenderableType:
    """The plan's last `runs` runs, the newest last (older ones are counted, not shown)."""
    lines: list[RenderableType] = [Text.from_markup(f"plan [bold]{escape(status.plan)}[/]: {escape(status.state_dir)}")]
    if status.ledger is not None:
        ledger = status.ledger
        said = "answers" if ledger.reachable else "[red]does not answer[/]"
        note = f" ({escape(ledger.note)})" if ledger.note else ""
        lines.append(Text.from_markup(f"target ledger {escape(ledger.target)}: {said}{note}"))
    for note in status.notes:
        lines.append(Text(note))
    hidden = len(status.runs) - runs
    if hidden > 0:
        lines.append(Text(f"{hidden} earlier {'run' if hidden == 1 else 'runs'} not shown", style="dim"))
    for run in status.runs[-runs:]:
        lines.append(_run(run))
    return Group(*lines)


def render_status(status: PlanStatus, console: Console) -> None:
    console.print(status_renderable(status))


def _run(run: RunStatus) -> RenderableType:
    style = _RUN_STYLE.get(run.state, "green")
    head = f"\nrun {run.run_id}: [{style}]{escape(run.state)}[/]"
    if run.started_at:
        head += f", started {run.started_at}"
    if run.finished_at:
        head += f", ended {run.finished_at}"
    elif run.last_event_at:
        head += f", last event {run.last_event_at}"
        if run.quiet_seconds is not None and run.quiet_seconds >= _QUIET:
            head += f" ([yellow]nothing for {_duration(run.quiet_seconds)}: still running?[/])"
    if run.seconds is not None:
        head += f" ({run.seconds:.1f} s)"
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("part", "state", "units done", "pending", "copied"):
        table.add_column(column, justify="right" if column in ("units done", "pending") else "left")
    for part in run.parts:
        table.add_row(*_part_row(part))
        for unit in part.units if part.state != "done" else []:
            planned = "?" if unit.units_planned is None else f"{max(unit.units_planned - unit.units_done, 0):,}"
            copied = f"{unit.rows:,} rows" if unit.rows is not None else (unit.step or "")
            table.add_row(f"  {escape(unit.name)}", _state(unit.state), f"{unit.units_done:,}", planned, copied)
    parts: list[RenderableType] = [Text.from_markup(head), table]
    if run.units_per_second is not None:
        rate = f"rate: {run.units_per_second:,.1f} units/s"
        if run.rows_per_second:
            rate += f", {run.rows_per_second:,.0f} rows/s"
        if run.bytes_per_second:
            rate += f", {_size(run.bytes_per_second)}/s"
        eta = "unknown" if run.eta_seconds is None else _duration(run.eta_seconds)
        parts.append(Text(f"{rate}; time left: {eta}"))
    if run.retries:
        parts.append(Text(f"retries: {len(run.retries)}", style="yellow"))
    if run.last_error:
        parts.append(Text.from_markup(f"[red]last error[/]: {escape(run.last_error)}"))
    return Group(*parts)


def _part_row(part: PartStatus) -> tuple[str, Text, str, str, str]:
    pending = "?" if part.units_pending is None else f"{part.units_pending:,}"
    copied = []
    if part.rows is not None:
        copied.append(f"{part.rows:,} rows")
    if part.objects is not None:
        copied.append(f"{part.objects:,} objects")
    if part.bytes is not None:
        copied.append(_size(part.bytes))
    return part.part, _state(part.state), f"{part.units_done:,}", pending, ", ".join(copied)


def _state(state: str) -> Text:
    return Text(state, style=_STYLE.get(state, ""))


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000:
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1000
    return f"{count:,.1f} TB"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{rest:02d}s" if minutes else f"{rest}s")


def watch(
    read: Callable[[], PlanStatus], console: Console, *, interval: float, refreshes: int | None = None
) -> PlanStatus:
    """Redraws the status every `interval` seconds in a rich Live display until no run of the plan
    is in progress (or after `refreshes` redraws: tests, and a bounded look from a script)."""
    from rich.live import Live

    status = read()
    shown = 1
    with Live(status_renderable(status), console=console, auto_refresh=False) as live:
        while status.in_progress and (refreshes is None or shown < refreshes):
            time.sleep(interval)
            status = read()
            live.update(status_renderable(status), refresh=True)
            shown += 1
    return status
