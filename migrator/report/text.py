"""Results rendered for people: rich tables on a console (colourless and fixed-width in tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from migrator.engine.results import PlanResult, RunResult, VerifyResult

if TYPE_CHECKING:
    from migrator.audit import StateReport

_STYLE = {
    "root": "bold green",
    "scoped": "green",
    "referenced": "cyan",
    "all": "blue",
    "skip": "dim",
    "unlisted": "red",
}


def render_plan(result: PlanResult, console: Console, *, show_sql: bool) -> None:
    console.print(f"[bold]plan[/] {result.plan}: {result.source} -> {result.target}")
    table = Table(header_style="bold")
    for heading in ("table", "class", "rows", "of", "dangling", "in target"):
        table.add_column(heading, justify="left" if heading in ("table", "class") else "right")
    for t in result.tables:
        dangling = sum(d.rows for d in t.dangling)
        table.add_row(
            t.table,
            f"[{_STYLE[t.kind]}]{t.kind}[/]",
            _n(t.rows),
            _n(t.source_rows),
            _n(dangling) if t.dangling else "-",
            _n(t.target_rows),
        )
    console.print(table)
    total = sum(t.rows or 0 for t in result.tables)
    copied = sum(1 for t in result.tables if t.rows)
    console.print(f"{total:,} rows in {copied} tables would be copied; {result.target_note}.")
    console.print("\n[bold]why[/]")
    for t in result.tables:
        console.print(f"  {t.table} ({t.kind}): {escape(t.reason)}")
        for d in t.dangling:
            if d.rows:
                rows = f"{d.rows:,} {'row' if d.rows == 1 else 'rows'}"
                console.print(f"    {rows} {_POLICY[d.policy]}: their {d.relation} points outside the subset")
        if t.transforms:
            console.print("    columns: " + ", ".join(f"{c} {a}" for c, a in t.transforms.items()))
    if result.left_out:
        console.print("\n[bold]left out of the target's schema[/]")
        for line in result.left_out:
            console.print(f"  {escape(line)}")
    if show_sql:
        for t in result.tables:
            if t.sql:
                console.print(f"\n[bold]-- {t.table} ({t.kind})[/]")
                console.print(t.sql, markup=False, highlight=False)


_POLICY = {"drop": "dropped", "nullify": "kept with the reference nulled", "fail": "would fail the run"}


def render_run(result: RunResult, console: Console) -> None:
    if result.status == "already-finished":
        console.print(f"[green]{result.message}[/] (run {result.run_id})")
        return
    table = Table(header_style="bold")
    for heading in ("table", "rows", "chunks", "resumed after", "seconds"):
        table.add_column(heading, justify="left" if heading == "table" else "right")
    for t in result.tables:
        table.add_row(
            t.table,
            f"{t.rows:,}",
            str(t.chunks),
            str(t.skipped_chunks) if t.skipped_chunks else "-",
            f"{t.seconds:.2f}",
        )
    console.print(table)
    total = sum(t.rows for t in result.tables)
    if result.verification is not None:
        render_verify(VerifyResult.from_dict(result.verification), console)
    if result.receipt:
        console.print(f"receipt: {result.receipt}")
    colour, word = (
        ("red", "copied, but NOT verified") if result.status == "copied-but-not-verified" else ("green", "copied")
    )
    console.print(
        f"[{colour}]{word}[/] {total:,} rows in {len(result.tables)} tables to {result.target} "
        f"in {result.seconds:.1f} s (run {result.run_id})"
    )


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def render_verify(result: VerifyResult, console: Console) -> None:
    failures = result.failures
    for check in result.checks:
        if check.ok:
            continue
        console.print(f"[red]FAIL[/] {check.check} {escape(check.table)}: {escape(check.detail)}")
        for example in check.examples:
            console.print(f"     {escape(example)}")
    passed = len(result.checks) - len(failures)
    if result.reference:
        console.print(f"compared with {escape(result.reference)}")
    if failures:
        console.print(
            f"[red]verification failed[/]: {len(failures)} of {plural(len(result.checks), 'check')} "
            f"({', '.join(sorted({c.check for c in failures}))}) in {result.seconds:.1f} s"
        )
    else:
        rows = sum(t.rows for t in result.tables.values())
        console.print(
            f"[green]verified[/]: {passed} checks hold (I1 integrity, I2 residency, I3 completeness) "
            f"over {rows:,} rows in {len(result.tables)} tables, in {result.seconds:.1f} s"
        )


def render_audit(report: StateReport, console: Console) -> None:
    for problem in report.problems:
        console.print(f"[red]TAMPERED[/] {escape(problem.render())}")
    for warning in report.warnings:
        console.print(f"[yellow]warning[/] {escape(warning.render())}")
    chain = report.chain
    if report.ok:
        console.print(
            f"[green]intact[/]: {chain.lines} audit lines chained, head {chain.head_sha256[:16]}…, "
            f"{plural(len(report.receipts), 'receipt')} checked"
        )
    else:
        console.print(f"[red]the audit trail was changed[/]: {plural(len(report.problems), 'problem')}")


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
