"""A rehearsal's result: its checks, the planned and actual counts, the timings. It is written into
every report as the one JSON document `--format json` prints (also in a comment block of the Markdown
report), so that a later rehearsal can read it back (`--baseline`) and say what changed."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# The document's shape and version, as every JSON output of the CLI names it (docs/reference/outputs/
# README.md): what cli.output.format_of("rehearse") gives, spelled here because the library does not
# import the CLI (tests/test_rehearse.py holds the two together). The Markdown report's block carries
# it too, so that a report and a `--format json` file are the same document, both read by --baseline.
FORMAT_KEY = "format"
FORMAT = "migrator.rehearse/1"
MARKER = "migrator-rehearsal"  # <!-- migrator-rehearsal {...} --> in the Markdown report
_BLOCK = re.compile(r"<!--\s*" + MARKER + r"\s*(\{.*?\})\s*-->", re.DOTALL)


@dataclass
class Check:
    name: str  # "tables/users/I1", "objects/sha256", "interrupt/tables/users", ...
    part: str  # tables | objects | flags | codebase | interrupt | run
    ok: bool
    detail: str


@dataclass
class TableCounts:
    table: str
    kind: str
    planned: int | None  # the dry run's count
    actual: int | None  # the target's, as verified
    dangling: int = 0  # rows left out or nulled because they point outside the subset


@dataclass
class Rehearsal:
    plan: str
    plan_file: str
    ok: bool
    sample: int | None
    seed: int
    tables: list[TableCounts] = field(default_factory=list)
    objects: dict[str, Any] | None = None  # planned, copied, bytes
    flags: dict[str, Any] | None = None  # copied, overridden, excluded, rules_removed
    codebase: list[dict[str, Any]] = field(default_factory=list)  # name, commits, refs
    interrupt: dict[str, Any] | None = None
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    folder: str | None = None  # the throwaway folder, when kept

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        """The fields, without `format` (the CLI's print_output puts it first)."""
        return asdict(self)

    def document(self) -> dict[str, Any]:
        """The versioned document: what `--format json` prints and the Markdown report embeds."""
        return {FORMAT_KEY: FORMAT, **self.to_dict()}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Rehearsal:
        """Keys it does not know are ignored: a later version of the same format may add some."""
        values = _known(Rehearsal, data)
        values["tables"] = [TableCounts(**_known(TableCounts, t)) for t in data.get("tables", [])]
        values["checks"] = [Check(**_known(Check, c)) for c in data.get("checks", [])]
        return Rehearsal(**values)


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def read_report(text: str) -> Rehearsal:
    """A rehearsal read back from a Markdown report (its JSON block) or from `--format json` output."""
    match = _BLOCK.search(text)
    data = json.loads(match.group(1) if match else text)
    found = data.get(FORMAT_KEY) if isinstance(data, dict) else None
    if found != FORMAT:
        said = f"its format is {found}" if found else "it names no format"
        raise ValueError(f"not a rehearsal report or `rehearse --format json` output of format {FORMAT} ({said})")
    return Rehearsal.from_dict(data)


def embedded(rehearsal: Rehearsal) -> str:
    """The JSON block a Markdown report carries; `--` cannot end the comment early inside it."""
    text = json.dumps(rehearsal.document()).replace("--", "-\\u002d")
    return f"<!-- {MARKER} {text} -->"


def differences(current: Rehearsal, baseline: Rehearsal) -> list[str]:
    """What changed since the baseline, one line each: counts, checks, the parts' figures."""
    lines: list[str] = []
    before = {t.table: t for t in baseline.tables}
    for table in current.tables:
        old = before.pop(table.table, None)
        if old is None:
            lines.append(f"table {table.table}: new ({table.actual} rows)")
            continue
        for what in ("kind", "planned", "actual", "dangling"):
            a, b = getattr(old, what), getattr(table, what)
            if a != b:
                lines.append(f"table {table.table}: {what} {a} -> {b}")
    lines += [f"table {name}: gone" for name in before]
    for part in ("objects", "flags"):
        old_part, new_part = getattr(baseline, part) or {}, getattr(current, part) or {}
        for key in sorted(set(old_part) | set(new_part)):
            if old_part.get(key) != new_part.get(key):
                lines.append(f"{part} {key}: {old_part.get(key)} -> {new_part.get(key)}")
    old_repos = {r["name"]: r for r in baseline.codebase}
    for repo in current.codebase:
        old_repo = old_repos.get(repo["name"], {})
        for key in ("commits", "refs"):
            if old_repo.get(key) != repo.get(key):
                lines.append(f"repository {repo['name']} {key}: {old_repo.get(key)} -> {repo.get(key)}")
    old_checks = {c.name: c.ok for c in baseline.checks}
    for check in current.checks:
        was = old_checks.pop(check.name, None)
        if was is None:
            lines.append(f"check {check.name}: new, {'ok' if check.ok else 'FAIL'}")
        elif was != check.ok:
            lines.append(f"check {check.name}: {'ok' if was else 'FAIL'} -> {'ok' if check.ok else 'FAIL'}")
    lines += [f"check {name}: gone" for name in old_checks]
    return lines


def stopped_before_running(plan_file: str, sample: int | None, seed: int, message: str) -> Rehearsal:
    """The result of a rehearsal that could not start (an invalid plan, a plan the source's schema
    no longer fits, a refused target): one failed check, so that the reports still say why."""
    name = plan_file.rsplit("/", 1)[-1]
    return Rehearsal(name, plan_file, False, sample, seed, checks=[Check("plan", "plan", False, message)])
