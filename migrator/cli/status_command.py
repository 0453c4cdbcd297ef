"""`migrator status PLAN`: the plan's runs and how far each got, read while another process runs it."""

# No `from __future__ import annotations`: typer reads the annotations of the command defined inside
# register(), whose names (PlanArg, FormatOpt) are that function's locals, not this module's globals.

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from migrator.cli.app import DebugOpt, Format, FormatOpt, PlanArg

    @app.command("status")
    def status(
        plan: PlanArg,
        watch: Annotated[
            bool,
            typer.Option("--watch", help="Redraw every --interval seconds until no run of the plan is in progress."),
        ] = False,
        interval: Annotated[
            float, typer.Option("--interval", min=0.1, help="Seconds between redraws with --watch.")
        ] = 2.0,
        count: Annotated[
            bool,
            typer.Option(
                "--count/--no-count",
                help="For a run in progress, count its planned units on the source (as `migrator plan` "
                "does) to show what is pending and the time left.",
            ),
        ] = True,
        format: FormatOpt = Format.text,
        debug: DebugOpt = False,
    ) -> None:
        """The plan's runs and how far each got, read while a run goes on. Writes nothing.

        Each run's state, per part the units done and pending, the rows, objects and bytes copied,
        the rate and time left of a run in progress, the retries and the last error, read from the
        target's ledger and the state folder."""
        _status(plan, watch=watch, interval=interval, count=count, format=format, debug=debug)


def _status(plan: Path, *, watch: bool, interval: float, count: bool, format: object, debug: bool) -> None:
    from migrator.cli.app import Format, _errors
    from migrator.cli.output import console, print_output
    from migrator.engine.status import StatusReader
    from migrator.plan.load import load_plan

    assert isinstance(format, Format)
    with _errors(format, debug, plan):
        reader = StatusReader(load_plan(plan), count=count)
        if format is Format.json:
            print_output("status", reader.read().to_dict())  # --watch is for people: JSON is one look
            return
        from migrator.report.status_text import render_status
        from migrator.report.status_text import watch as watch_live

        if watch:
            watch_live(reader.read, console(), interval=interval)
        else:
            render_status(reader.read(), console())
