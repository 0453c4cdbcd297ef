"""`migrator rehearse`: parse the options, call migrator.rehearse, write the reports, render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from migrator.cli.app import DebugOpt, Format, FormatOpt, PlanArg, _errors
from migrator.cli.output import console, print_output

if TYPE_CHECKING:
    from migrator.rehearse.result import Rehearsal


def register(app: typer.Typer) -> None:
    @app.command()
    def rehearse(
        plan: PlanArg,
        sample: Annotated[
            int | None,
            typer.Option("--sample", min=1, help="Narrow each root to N of its rows, chosen by --seed."),
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Chooses the sampled rows and the interrupted unit.")] = 0,
        interrupt: Annotated[
            bool,
            typer.Option(
                "--interrupt",
                help="Kill the run in a child process with SIGKILL after a unit chosen by --seed, resume it, "
                "and prove the resumed target equals an uninterrupted one.",
            ),
        ] = False,
        target_database: Annotated[
            str | None, typer.Option("--target-database", metavar="URL", help="Rehearse into this database.")
        ] = None,
        target_objects: Annotated[
            str | None, typer.Option("--target-objects", metavar="LOC", help="Rehearse into this object location.")
        ] = None,
        target_flags: Annotated[
            str | None, typer.Option("--target-flags", metavar="LOC", help="Rehearse into this flags file.")
        ] = None,
        target_codebase: Annotated[
            str | None,
            typer.Option("--target-codebase", metavar="LOC", help="Rehearse into these git repositories."),
        ] = None,
        report: Annotated[
            Path | None, typer.Option("--report", metavar="FILE", help="Write a Markdown report (a PR comment).")
        ] = None,
        junit: Annotated[
            Path | None, typer.Option("--junit", metavar="FILE", help="Write JUnit XML: one test case per check.")
        ] = None,
        baseline: Annotated[
            Path | None,
            typer.Option(
                "--baseline", metavar="FILE", help="An earlier --report (or --format json output) to compare with."
            ),
        ] = None,
        keep: Annotated[
            Path | None, typer.Option("--keep", metavar="DIR", help="Keep the throwaway targets and state here.")
        ] = None,
        format: FormatOpt = Format.text,
        debug: DebugOpt = False,
    ) -> None:
        """Rehearse the whole plan against throwaway targets, sampled and interrupted, then verify it.

        The targets are a SQLite database, folders, a flags file and bare repositories, unless
        options name real ones. Exit 0 if every check holds, 1 if one fails, 2 if the plan is
        invalid (also against the source's schema)."""
        from migrator.errors import MigratorError, UsageError
        from migrator.rehearse.result import read_report, stopped_before_running
        from migrator.rehearse.run import Options, rehearse
        from migrator.rehearse.workspace import Overrides

        with _errors(format, debug, None):
            previous = None
            if baseline is not None:
                try:
                    previous = read_report(baseline.read_text(encoding="utf-8"))
                except (OSError, ValueError) as error:
                    raise UsageError(f"--baseline {baseline}: {error}") from error
            overrides = Overrides(target_database, target_objects, target_flags, target_codebase)
            try:
                result = rehearse(plan, Options(sample, seed, interrupt, overrides, keep))
            except MigratorError as error:  # the reports still say why, then the error boundary does
                if report is not None or junit is not None:
                    stopped = stopped_before_running(str(plan), sample, seed, str(error))
                    _write_reports(stopped, previous, report, junit)
                raise
            _write_reports(result, previous, report, junit)
            if format is Format.json:
                print_output("rehearse", result.to_dict())
            else:
                from migrator.report.rehearsal_markdown import render_text

                render_text(result, previous, console())
            if not result.ok:
                raise typer.Exit(1)


def _write_reports(result: Rehearsal, baseline: Rehearsal | None, report: Path | None, junit: Path | None) -> None:
    from migrator.report.junit import render_junit
    from migrator.report.rehearsal_markdown import render_markdown

    if report is not None:
        report.write_text(render_markdown(result, baseline), encoding="utf-8")
    if junit is not None:
        junit.write_text(render_junit(result), encoding="utf-8")
