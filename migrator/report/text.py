"""Results rendered for people: rich tables on a console (colourless and fixed-width in tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from migrator.engine.finished import ALREADY_FINISHED
from migrator.engine.results import PlanResult, RunResult, VerifyResult
from migrator.report.codebase_text import render_codebase_plan, render_codebase_run, render_codebase_verify
from migrator.report.flags_text import render_flags_plan, render_flags_run, render_flags_verify
from migrator.words import plural

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
    console.print(f"[bold]plan[/] {result.plan}: {escape(result.source)} -> {escape(result.target)}")
    if result.tables:
        _render_table_plan(result, console, show_sql=show_sql)
    if result.objects is not None:
        render_objects_plan(result.objects, console)
    if result.flags is not None:
        render_flags_plan(result.flags, console)
    if result.codebase is not None:
        render_codebase_plan(result.codebase, console)


def _render_table_plan(result: PlanResult, console: Console, *, show_sql: bool) -> None:
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


def render_objects_plan(objects: dict[str, Any], console: Console) -> None:
    """Per selection: what it selects and skips (with the reason and a sample of keys); then what
    the target holds already, and what the copy would do about it."""
    console.print(
        f"\n[bold]objects[/] {escape(objects['source'])} -> {escape(objects['target'])} "
        f"(target.existing: {objects['existing']})"
    )
    for entry in objects["entries"]:
        console.print(f"  selection {escape(_selection(entry))}")
        console.print(f"    selected {_tally(entry['selected'])}")
        for reason, tally in entry["skipped"].items():
            if tally["objects"]:
                console.print(f"    [dim]skipped by {reason}[/] {_tally(tally)}")
    state = objects["target_state"]
    console.print("  in the target:")
    for kind, words in _TARGET_STATE.items():
        tally = state.get(kind)
        if tally and tally["objects"]:
            console.print(f"    {words}: {_tally(tally)}")
    for change in objects.get("source_changes", []):
        console.print(f"  [yellow]changed in the source since the last run[/]: {escape(change)}")
    console.print(f"{objects['objects']:,} objects ({_size(objects['bytes'])}) selected.")


_TARGET_STATE = {
    "skip": "same SHA-256 already (skipped, not read)",
    "replace": "a different object under the key (replaced)",
    "missing": "not there yet (copied)",
    "unknown": "there, SHA-256 not stored (compared during the copy)",
    "extra": "[red]not selected by the plan (extra)[/]",
}


def _selection(entry: dict[str, Any]) -> str:
    parts = [f"prefix {entry['prefix'] or '(all)'}"]
    for key in ("include", "exclude"):
        if entry[key]:
            parts.append(f"{key} {', '.join(entry[key])}")
    if entry["metadata"]:
        parts.append("metadata " + ", ".join(f"{k}={v}" for k, v in entry["metadata"].items()))
    return "; ".join(parts)


def _tally(tally: dict[str, Any]) -> str:
    text = f"{plural(tally['objects'], 'object')}, {_size(tally['bytes'])}"
    sample = tally.get("sample") or []
    if sample:
        more = ", ..." if tally["objects"] > len(sample) else ""
        text += ": " + escape(", ".join(sample)) + more
    return text


def _size(size: int) -> str:
    """Bytes for people: 1,024-based units, as object stores' consoles show them."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def render_run(result: RunResult, console: Console) -> None:
    if result.status == "already-finished":
        console.print(f"[green]{result.message or ALREADY_FINISHED}[/] (run {result.run_id})")
        return
    if result.tables:
        _render_table_run(result, console)
    if result.objects is not None and "objects" in result.objects:
        _render_objects_run(result.objects, console)
    elif result.objects is not None:
        console.print(f"objects: all in place already, from run {result.objects['run']}")
    if result.flags is not None:
        render_flags_run(result.flags, console)
    if result.codebase is not None:
        render_codebase_run(result.codebase, console)
    if result.receipt:
        console.print(f"receipt: {result.receipt}")
    colour, word = ("red", "copied, but NOT verified") if not result.verified_ok else ("green", "copied")
    what = []
    if result.tables:
        what.append(f"{sum(t.rows for t in result.tables):,} rows in {len(result.tables)} tables")
    if result.objects is not None and "objects" in result.objects:
        what.append(f"{plural(result.objects['objects'], 'object')} ({_size(result.objects['bytes'])})")
    if result.flags is not None and "digest" in result.flags and "flags" in result.flags:
        what.append(plural(result.flags["copied"] + result.flags["overridden"], "flag"))
    if result.codebase is not None and "repositories" in result.codebase:
        what.append(plural(len(result.codebase["repositories"]), "repository", "repositories"))
    console.print(
        f"[{colour}]{word}[/] {_listed(what) or 'nothing'} to {escape(result.target)} "
        f"in {result.seconds:.1f} s (run {result.run_id})"
    )


def _listed(items: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def _render_objects_run(objects: dict[str, Any], console: Console) -> None:
    console.print(
        f"objects: {objects['copied']:,} copied, {objects['replaced']:,} replaced, "
        f"{objects['skipped']:,} skipped (same SHA-256 in the target), {_size(objects['bytes'])} "
        f"in {objects['seconds']:.1f} s"
    )
    for upload in objects.get("resumed", []):
        console.print(
            f"  resumed {escape(upload['key'])}: {upload['parts_reused']} parts kept, {upload['parts_sent']} sent"
        )
    for change in objects.get("source_changes", []):
        console.print(f"  [yellow]changed in the source since the last run[/]: {escape(change)}")
    if objects.get("verification") is not None:
        render_objects_verify(objects["verification"], console)


def render_objects_verify(verification: dict[str, Any], console: Console) -> None:
    failures = [c for c in verification["checks"] if not c["ok"]]
    for check in failures:
        console.print(f"[red]FAIL[/] objects {check['check']} {escape(check['key'])}: {escape(check['detail'])}")
    if failures:
        kinds = ", ".join(sorted({c["check"] for c in failures}))
        console.print(
            f"[red]objects: verification failed[/]: {len(failures)} of {len(verification['checks'])} ({kinds})"
        )
    else:
        present = sum(1 for c in verification["checks"] if c["check"] == "present")
        console.print(
            f"[green]objects verified[/]: {plural(present, 'object')} with the same size, SHA-256 and metadata, "
            f"nothing else under the target, in {verification['seconds']:.1f} s"
        )


def _render_table_run(result: RunResult, console: Console) -> None:
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
    if result.verification is not None:
        render_verify(VerifyResult.from_dict(result.verification), console)


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def render_verify(result: VerifyResult, console: Console) -> None:
    if result.checks or (result.objects is None and result.flags is None and result.codebase is None):
        _render_table_verify(result, console)
    if not result.checks and result.reference:
        console.print(f"compared with {escape(result.reference)}")
    if result.objects is not None:
        render_objects_verify(result.objects, console)
    if result.flags is not None:
        render_flags_verify(result.flags, console)
    if result.codebase is not None:
        render_codebase_verify(result.codebase, console)


def _render_table_verify(result: VerifyResult, console: Console) -> None:
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
