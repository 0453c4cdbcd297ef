"""The Proposal as a YAML plan with a comment on every decision. PyYAML writes no comments, so the
text is put together here, line by line; every scalar goes through `scalar`, which quotes whatever
YAML could read as something else (the tests load the text back and compare it with Proposal.plan)."""

from __future__ import annotations

import json
import re
import textwrap

from migrator.scaffold.model import PersonalColumn, Proposal

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*(:///?[A-Za-z0-9_./-]+)?$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"}
_ORDER = {"root": 0, "scoped": 1, "referenced": 2, "all": 3, "skip": 4, "unlisted": 5}
WIDTH = 110


def scalar(value: object) -> str:
    """A YAML scalar that reads back as `value`: plain when that is unambiguous, else JSON's
    double-quoted string, which YAML reads the same way."""
    if isinstance(value, bool) or value is None or isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    # Letters as they are (Québec), escapes for anything YAML could read as a break or a control.
    return json.dumps(text, ensure_ascii=not text.isprintable())


def comment(text: str, indent: int) -> list[str]:
    """`# text`, wrapped to the width, one line per paragraph line."""
    prefix = " " * indent + "# "
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        # Continuation lines indented: a wrapped line never reads as a commented-out entry.
        wrapped = textwrap.wrap(paragraph, WIDTH - len(prefix), break_on_hyphens=False, subsequent_indent="  ")
        lines += wrapped or [""]
    return [(prefix + line).rstrip() for line in lines]


def render_yaml(proposal: Proposal, shown_source: str) -> str:
    lines = comment(
        f"A starting plan for {proposal.name}, written by `migrator init` from {shown_source}.\n"
        "Read every comment; the ones that say EDIT mark what you must change before a run.\n"
        "Check it with `migrator validate PLAN`, then `migrator plan PLAN` shows what a run would copy.",
        0,
    )
    lines += [c for note in proposal.notes for c in comment(f"NOTE: {note}", 0)]
    lines += ["version: 1", f"name: {scalar(proposal.name)}", "", "source:"]
    if proposal.password_in_url:
        lines += comment(
            "The URL you gave holds a password, so it is not written here: set SOURCE_URL to it in the "
            "environment of every migrator command.",
            2,
        )
    lines += [f"  database: {scalar(proposal.source_url)}", "target:"]
    lines += comment(
        "EDIT: the isolated deployment's database. This SQLite file, next to the plan, is a placeholder "
        "that lets the plan validate and rehearse.",
        2,
    )
    lines += [f"  database: {scalar(proposal.target_url)}", "", "data:"]
    lines += _roots(proposal)
    lines += _tables(proposal)
    lines += _relations(proposal)
    lines += comment("What happens to a copied row that points at a row outside the subset.", 2)
    lines += ["  dangling: drop"]
    lines += comment("A table the plan does not name stops the run: a new table in the source needs a decision.", 2)
    lines += ["  unlisted: fail", ""]
    return "\n".join(lines)


def _roots(proposal: Proposal) -> list[str]:
    if not proposal.roots:
        return comment("No root candidate: no table has a region, country, tenant or organisation column.", 2)
    lines = ["  roots:"]
    lines += comment("Root candidates, best first: the subset is their rows that match the condition,", 4)
    lines += comment("and what the subset rules follow from them.", 4)
    for rank, candidate in enumerate(proposal.roots, 1):
        scoped = ", ".join(candidate.scoped_tables) or "no other table"
        text = (
            f"{rank}. {candidate.table}: {candidate.why}; {candidate.distinct_values} distinct value(s) "
            f"in the rows sampled; it scopes {scoped}"
        )
        if candidate.covers:
            text += f" (candidates among them: {', '.join(candidate.covers)})"
        if candidate.distinct_values < 2:
            text += "; a single value splits nothing"
        lines += comment(text, 4)
    root = proposal.roots[0]
    lines += comment(
        f"EDIT: the condition is a placeholder, on {root.column} with its commonest value: write the one "
        "that picks the rows in scope.",
        4,
    )
    lines += [f"    {scalar(root.table)}: {scalar(root.condition)}"]
    if len(proposal.roots) > 1:
        lines += comment("The others, to use instead (or beside it):", 4)
        lines += [f"    # {scalar(c.table)}: {scalar(c.condition)}" for c in proposal.roots[1:]]
    return lines


def _tables(proposal: Proposal) -> list[str]:
    lines = ["  tables:"]
    lines += comment(
        "Every table, with what the subset rules make of it under the root above (the class) and why. "
        "Tables the rules reach need no entry, unless a column of theirs is transformed.",
        4,
    )
    ordered = sorted(proposal.tables, key=lambda t: _ORDER[t.table_class])  # stable: propose.py's order within
    for table in ordered:
        personal = [p for p in proposal.personal if p.table == table.table]
        transformed = [p for p in personal if p.action]
        rows = f"about {table.rows}" if table.rows_estimated else str(table.rows)
        lines += comment(f"{table.table}: {table.table_class}, {rows} rows: {table.reason}", 4)
        for column in personal:
            if column.action is None:
                lines += comment(
                    f"{table.table}.{column.column} looks personal ({_evidence(column)}): {column.note}", 4
                )
        if table.rule == "skip":
            lines += [f"    {scalar(table.table)}: skip"]
        elif transformed:
            lines += [f"    {scalar(table.table)}:"]
            if table.rule == "all":
                lines += ["      copy: all"]
            lines += ["      columns:"]
            for column in transformed:
                lines += comment(f"{column.category} ({_evidence(column)}): {column.action}, {column.note}", 8)
                lines += [f"        {scalar(column.column)}: {column.action}"]
        elif table.rule == "all":
            lines += [f"    {scalar(table.table)}: all"]
    if not any(line.startswith("    ") and not line.lstrip().startswith("#") for line in lines):
        lines[0] = "  # tables: every table is reached by the rules, and none has a column to transform"
    return lines


def _evidence(column: PersonalColumn) -> str:
    return "; ".join("by name" if e == "name" else e for e in column.evidence)


def _relations(proposal: Proposal) -> list[str]:
    found = [r for r in proposal.relations if r.resolves]
    rejected = [r for r in proposal.relations if not r.resolves]
    lines: list[str] = []
    if found:
        lines += comment(
            "Candidate relations: columns named like a reference, with no foreign key, whose sampled values "
            "all resolve. Review each; uncomment `relations:` and those that are true, and the subset follows them.",
            2,
        )
        lines += ["  # relations:"]
        for r in found:
            entry = f"{{from: {scalar(f'{r.child}.{r.column}')}, to: {scalar(f'{r.parent}.{r.key}')}}}"
            lines += [f"  #   - {entry}  # sampled {r.sampled} distinct values, all resolve"]
    for r in rejected:
        why = (
            "no values to check"
            if r.sampled == 0
            else f"{r.unresolved} of {r.sampled} sampled values resolve to nothing"
        )
        lines += comment(f"Not proposed: {r.child}.{r.column} -> {r.parent}.{r.key}: {why}.", 2)
    return lines
