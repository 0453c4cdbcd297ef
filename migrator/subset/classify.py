"""Classify every table of the source (SPEC §3) and give every foreign key its role.

Rule 1 is the heart of it: descendants of the roots are followed (scoped), parents of every copied
row are followed (referenced), children of those parents are not. A foreign key then plays one role:

- scope:      child scoped, parent root/scoped -- a child row is in scope if ANY such parent row is
              (and, as a constraint, only if EVERY such non-null parent is kept);
- constraint: the parent's rows are restricted (root, scoped, all with a where, skip), so a child row
              pointing outside them is dangling and the dangling policy decides;
- pull:       the parent is referenced: its rows are exactly those copied rows point to;
- free:       the parent keeps every row (`all` with no where), so the reference always resolves.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from migrator.plan.model import DataSection
from migrator.subset.schema import ForeignKey, Schema

TableClass = Literal["root", "scoped", "referenced", "all", "skip", "unlisted"]
Role = Literal["scope", "constraint", "pull", "free", "none"]
COPIED: tuple[TableClass, ...] = ("root", "scoped", "referenced", "all")
RESTRICTED: tuple[TableClass, ...] = ("root", "scoped", "all", "skip", "unlisted")


@dataclass(frozen=True)
class Edge:
    """A foreign key with what it means for this plan."""

    fk: ForeignKey
    role: Role
    policy: str  # drop | nullify | fail: what happens to a child row whose parent is not kept


@dataclass
class Classification:
    classes: dict[str, TableClass]
    reasons: dict[str, str]
    edges: list[Edge] = field(default_factory=list)

    def copied(self, table: str) -> bool:
        return self.classes[table] in COPIED

    def edges_from(self, table: str, *roles: Role) -> list[Edge]:
        return [e for e in self.edges if e.fk.child == table and e.role in roles]

    def edges_to(self, table: str, *roles: Role) -> list[Edge]:
        return [e for e in self.edges if e.fk.parent == table and e.role in roles]

    @property
    def unlisted(self) -> list[str]:
        return sorted(t for t, c in self.classes.items() if c == "unlisted")


def classify(schema: Schema, data: DataSection) -> Classification:
    classes: dict[str, TableClass] = {}
    reasons: dict[str, str] = {}
    for table, expression in data.roots.items():
        classes[table] = "root"
        reasons[table] = f"in scope where {expression}"
    for table, rule in data.tables.items():
        if rule.copy_ is not None and table in schema.tables:
            classes[table] = rule.copy_
            reasons[table] = "every row (data.tables: all)" if rule.copy_ == "all" else "skipped (data.tables: skip)"
    _follow_children(schema, classes, reasons)
    _follow_parents(schema, classes, reasons)
    for table in schema.tables:
        if table not in classes:
            if data.unlisted == "fail":
                classes[table], reasons[table] = "unlisted", "no rule reaches it"
            else:
                classes[table], reasons[table] = "skip", "no rule reaches it (data.unlisted: skip)"
    result = Classification(classes, reasons)
    edges = [_edge(fk, classes, data, schema) for fk in schema.foreign_keys]
    result.edges = _free_edges_to_whole_tables(edges, classes, data)
    for table, kind in classes.items():
        if kind == "all" and result.edges_from(table, "constraint"):
            # `all` means every row that can stand in the target: a row pointing at an out-of-scope
            # row would leak that row or dangle, so the dangling policy applies to it as anywhere.
            parents = sorted({e.fk.parent for e in result.edges_from(table, "constraint")})
            reasons[table] += f"; rows whose {', '.join(parents)} is outside the subset dangle"
    return result


def _free_edges_to_whole_tables(edges: list[Edge], classes: dict[str, TableClass], data: DataSection) -> list[Edge]:
    """A constraint on a parent that keeps every one of its rows can never fail: call it `free` so
    that no query pays for checking it. A whole table is restricted by its own where, or by a
    constraint on a restricted parent (its rows may then be dropped), found as a fixpoint."""
    restricted = {t for t, c in classes.items() if c in ("root", "scoped", "skip", "unlisted")}
    restricted |= {t for t, rule in data.tables.items() if rule.where and classes.get(t) == "all"}
    changed = True
    while changed:
        changed = False
        for edge in edges:
            child = edge.fk.child
            if (
                edge.role == "constraint"
                and edge.fk.parent in restricted
                and child not in restricted
                and classes[child] == "all"
            ):
                restricted.add(child)
                changed = True
    return [
        Edge(e.fk, "free", e.policy) if e.role == "constraint" and e.fk.parent not in restricted else e for e in edges
    ]


def _follow_children(schema: Schema, classes: dict[str, TableClass], reasons: dict[str, str]) -> None:
    queue = deque(t for t, c in classes.items() if c == "root")
    while queue:
        parent = queue.popleft()
        for fk in schema.children(parent):
            if fk.child not in classes:
                classes[fk.child] = "scoped"
                reasons[fk.child] = f"belongs to {parent} through {fk}"
                queue.append(fk.child)


def _follow_parents(schema: Schema, classes: dict[str, TableClass], reasons: dict[str, str]) -> None:
    queue = deque(t for t, c in classes.items() if c in COPIED)
    while queue:
        child = queue.popleft()
        for fk in schema.parents(child):
            if fk.parent not in classes:
                classes[fk.parent] = "referenced"
                reasons[fk.parent] = f"rows that copied rows point to, through {fk}"
                queue.append(fk.parent)


def _edge(fk: ForeignKey, classes: dict[str, TableClass], data: DataSection, schema: Schema) -> Edge:
    child, parent = classes[fk.child], classes[fk.parent]
    nullable = all(_nullable(schema, fk.child, col) for col in fk.child_columns)
    policy = fk.dangling or data.dangling
    if policy == "nullify" and not nullable:
        policy = "drop"  # SPEC §3 rule 2: nullify only where the column may be NULL
    if child not in COPIED:
        return Edge(fk, "none", policy)
    if parent == "referenced":
        return Edge(fk, "pull", policy)
    if child == "referenced":
        # A referenced row exists because a copied row needs it: dropping it would break that row,
        # and pulling its out-of-scope parent would leak. Null the reference, or stop.
        return Edge(fk, "constraint", "nullify" if nullable and policy != "fail" else "fail")
    if child == "scoped" and parent in ("root", "scoped"):
        return Edge(fk, "scope", policy)
    return Edge(fk, "constraint", policy)


def _nullable(schema: Schema, table: str, column: str) -> bool:
    col = schema.tables[table].column(column)
    return bool(col and col.nullable)
