"""A rehearsal as Markdown fit for a pull-request comment: the verdict, the counts per table and
part, every check, the timings, what changed since the baseline, and the result itself as a JSON
comment block (result.embedded) that `--baseline` reads back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrator.rehearse.result import Rehearsal, differences, embedded

if TYPE_CHECKING:
    from rich.console import Console


def render_markdown(rehearsal: Rehearsal, baseline: Rehearsal | None = None) -> str:
    failed = rehearsal.failures
    verdict = "passed" if rehearsal.ok else f"FAILED ({len(failed)} of {len(rehearsal.checks)} checks)"
    sample = f"{rehearsal.sample} root rows, seed {rehearsal.seed}" if rehearsal.sample is not None else "all rows"
    lines = [
        f"## migrator rehearsal of `{rehearsal.plan}`: {verdict}",
        "",
        f"Plan `{rehearsal.plan_file}`; sample: {sample}; {len(rehearsal.checks)} checks.",
        "",
    ]
    if failed:
        lines += ["### Failures", ""] + [f"- **{c.name}**: {_cell(c.detail)}" for c in failed] + [""]
    if rehearsal.tables:
        lines += ["### Tables", "", "| table | class | planned | actual | dangling |", "|---|---|---:|---:|---:|"]
        for t in rehearsal.tables:
            mark = "" if t.planned == t.actual or t.kind == "skip" else " ⚠"
            lines.append(f"| {t.table} | {t.kind} | {_n(t.planned)} | {_n(t.actual)}{mark} | {t.dangling} |")
        lines.append("")
    parts = []
    if rehearsal.objects is not None:
        o = rehearsal.objects
        parts.append(
            f"| objects | {_n(o.get('planned'))} objects, {_n(o.get('planned_bytes'))} bytes "
            f"| {_n(o.get('copied'))} objects, {_n(o.get('bytes'))} bytes |"
        )
    if rehearsal.flags is not None:
        f = rehearsal.flags
        parts.append(
            f"| flags | | {_n(f.get('copied'))} copied, {_n(f.get('overridden'))} overridden, "
            f"{_n(f.get('excluded'))} excluded, {_n(f.get('rules_removed'))} rules removed |"
        )
    for repo in rehearsal.codebase:
        parts.append(
            f"| repository {repo['name']} | | {_n(repo.get('commits'))} commits, {_n(repo.get('refs'))} refs |"
        )
    if parts:
        lines += ["### Parts", "", "| part | planned | actual |", "|---|---|---|", *parts, ""]
    if rehearsal.interrupt:
        i = rehearsal.interrupt
        lines += [
            "### Interrupt and resume",
            "",
            f"Killed with SIGKILL once {i.get('kill_after')} of {i.get('units')} units were committed "
            f"(the audit trail showed {i.get('killed_at')} when the kill landed); "
            f"resumed: {i.get('resumed_status') or 'no'}.",
            "",
        ]
    lines += ["### Checks", "", "| check | result | detail |", "|---|---|---|"]
    lines += [f"| {c.name} | {'ok' if c.ok else '**FAIL**'} | {_cell(c.detail)} |" for c in rehearsal.checks]
    lines += ["", "### Timings", "", "| step | seconds |", "|---|---:|"]
    lines += [f"| {step} | {seconds:.3f} |" for step, seconds in rehearsal.timings.items()]
    lines.append("")
    if baseline is not None:
        changed = differences(rehearsal, baseline)
        lines += ["### Since the baseline", ""]
        lines += [f"- {line}" for line in changed] if changed else ["No differences."]
        lines.append("")
    lines += [embedded(rehearsal), ""]
    return "\n".join(lines)


def _n(value: object) -> str:
    return "-" if value is None else str(value)


def _cell(text: str) -> str:
    """Text safe in a table cell: one line, no column separators."""
    return " ".join(text.split()).replace("|", "\\|")[:500]


def render_text(rehearsal: Rehearsal, baseline: Rehearsal | None, console: Console) -> None:
    """The terminal's short form: the counts, each failure, the verdict."""
    from rich.markup import escape

    for t in rehearsal.tables:
        if t.kind == "skip":
            console.print(f"{escape(t.table)}: skipped")
        else:
            console.print(f"{escape(t.table)}: {_n(t.actual)} of {_n(t.planned)} planned rows, {t.dangling} dangling")
    if rehearsal.interrupt:
        i = rehearsal.interrupt
        console.print(
            f"interrupted: SIGKILL once {i.get('kill_after')} of {i.get('units')} units were committed, "
            f"then resumed: {i.get('resumed_status') or 'no'}"
        )
    for check in rehearsal.failures:
        console.print(f"[red]FAIL[/] {escape(check.name)}: {escape(check.detail)}")
    if baseline is not None:
        for line in differences(rehearsal, baseline) or ["no differences from the baseline"]:
            console.print(f"since the baseline: {escape(line)}")
    held = len(rehearsal.checks) - len(rehearsal.failures)
    verdict = "[green]rehearsal passed[/]" if rehearsal.ok else "[red]rehearsal failed[/]"
    console.print(
        f"{verdict}: {held} of {len(rehearsal.checks)} checks hold in {rehearsal.timings.get('total', 0):.1f} s"
    )
