"""What `migrator init` proposes, as plain data: the YAML writer and `--format json` both read it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RootCandidate:
    table: str
    column: str
    why: str  # the word that made it a candidate, and where it was found
    condition: str  # a placeholder condition on that column, valid SQL, for the user to edit
    distinct_values: int  # distinct non-null values among the sampled rows (1: nothing to split on)
    scoped_tables: tuple[str, ...]  # what the subset rules would scope under it, as the only root
    covers: tuple[str, ...]  # the other candidates among those: a root above them says more


@dataclass(frozen=True)
class RelationCandidate:
    child: str
    column: str
    parent: str
    key: str
    sampled: int  # distinct values of child.column read (at most the sample size)
    unresolved: int  # how many of those no parent.key holds

    @property
    def resolves(self) -> bool:
        return self.sampled > 0 and self.unresolved == 0


@dataclass(frozen=True)
class PersonalColumn:
    table: str
    column: str
    category: str  # email | phone | name | address | city | postal_code | ip | birth_date | national_id | credential
    evidence: tuple[str, ...]  # "name", and what the sampled values showed
    action: str | None  # hash | mask | nullify, or None when no transform fits (said in `note`)
    note: str


@dataclass(frozen=True)
class TableProposal:
    table: str
    rows: int
    table_class: str  # what the subset rules make of it with the proposed plan: root | scoped | referenced | all | skip
    rule: str | None  # what the plan writes under data.tables: all | skip, or None (the rules reach it)
    reason: str  # why, in words, for the YAML comment
    rows_estimated: bool = False  # rows is the database's estimate (a large PostgreSQL table)


@dataclass
class Proposal:
    name: str
    source_url: str  # as written in the plan: the URL, or ${SOURCE_URL} when it holds a password
    password_in_url: bool
    dialect: str
    target_url: str
    tables: list[TableProposal] = field(default_factory=list)
    roots: list[RootCandidate] = field(default_factory=list)  # ranked, the first one in the plan
    relations: list[RelationCandidate] = field(default_factory=list)
    personal: list[PersonalColumn] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the user must know, beyond the per-entry comments

    @property
    def root(self) -> RootCandidate | None:
        return self.roots[0] if self.roots else None

    def table(self, name: str) -> TableProposal:
        return next(t for t in self.tables if t.table == name)

    def plan(self) -> dict[str, Any]:
        """The plan the YAML holds, without its comments: what `migrator validate` reads."""
        data: dict[str, Any] = {}
        if self.root is not None:
            data["roots"] = {self.root.table: self.root.condition}
        tables: dict[str, Any] = {}
        for table in self.tables:
            columns = {p.column: p.action for p in self.personal if p.table == table.table and p.action}
            if table.rule == "skip":
                tables[table.table] = "skip"
            elif columns:
                tables[table.table] = ({"copy": "all"} if table.rule == "all" else {}) | {"columns": columns}
            elif table.rule == "all":
                tables[table.table] = "all"
        if tables:
            data["tables"] = tables
        data |= {"dangling": "drop", "unlisted": "fail"}
        return {
            "version": 1,
            "name": self.name,
            "source": {"database": self.source_url},
            "target": {"database": self.target_url},
            "data": data,
        }

    def to_dict(self) -> dict[str, Any]:
        """What `init --format json` prints, after the `format` the CLI puts first
        (docs/reference/outputs/init.schema.json)."""
        return {
            "plan": self.plan(),
            "source": {"dialect": self.dialect, "password_in_url": self.password_in_url},
            "tables": [
                {
                    "table": t.table,
                    "rows": t.rows,
                    "rows_estimated": t.rows_estimated,
                    "class": t.table_class,
                    "rule": t.rule,
                    "reason": t.reason,
                }
                for t in self.tables
            ],
            "roots": [asdict(r) | {"chosen": i == 0} for i, r in enumerate(self.roots)],
            "relations": [asdict(r) | {"resolves": r.resolves} for r in self.relations],
            "personal": [asdict(p) for p in self.personal],
            "notes": list(self.notes),
        }
