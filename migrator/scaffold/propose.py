"""From a survey of the source to a Proposal: roots ranked, every table classified by the subset
rules themselves (subset/classify.py) under the proposed root, and what the rules leave unreached
given a rule of its own: `skip` for a log-like table or one that looks like it belongs in the
subset through an undeclared relation, `all` for the rest (lookups and catalogues)."""

from __future__ import annotations

import re
from collections import Counter, deque
from typing import TYPE_CHECKING

from migrator.plan.model import DataSection, TableRule
from migrator.scaffold.model import Proposal, RelationCandidate, TableProposal
from migrator.scaffold.names import looks_like_log
from migrator.scaffold.personal import key_columns_of, personal_columns
from migrator.scaffold.relations import relation_candidates
from migrator.scaffold.roots import root_candidates
from migrator.subset.classify import COPIED, classify
from migrator.subset.schema import Schema

if TYPE_CHECKING:
    from migrator.stores.sql.survey import Survey

_NOT_A_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def propose(survey: Survey, source_url: str, password_in_url: bool) -> Proposal:
    schema = survey.schema
    proposal = Proposal(
        name=plan_name(survey.database),
        source_url="${SOURCE_URL}" if password_in_url else source_url,
        password_in_url=password_in_url,
        dialect=survey.dialect,
        target_url=f"sqlite:///{plan_name(survey.database)}-target.db",
    )
    proposal.roots = root_candidates(survey)
    proposal.relations = relation_candidates(survey)
    counted = {name: survey.row_count(name) for name in schema.tables}
    roots = {proposal.root.table: proposal.root.condition} if proposal.root else {}
    rules, reasons = _rules_for_unreached(schema, roots, proposal.relations)
    data = DataSection(roots=roots, tables={t: TableRule.model_validate({"copy": r}) for t, r in rules.items()})
    classes = classify(schema, data)
    paths = _paths_from_roots(schema, list(roots))
    # Each class in turn (render.py), and within one the tables nearest the root first.
    for name in sorted(schema.tables, key=lambda t: (len(paths.get(t, ())), t)):
        reason = reasons.get(name) or classes.reasons[name]
        if classes.classes[name] == "scoped" and len(paths.get(name, ())) > 2:
            reason += f" (from the root: {' -> '.join(paths[name])})"
        count, estimated = counted[name]
        proposal.tables.append(
            TableProposal(name, count, classes.classes[name], rules.get(name), reason, rows_estimated=estimated)
        )
    skipped = {t.table for t in proposal.tables if t.table_class not in COPIED}
    proposal.personal = personal_columns(survey, skipped, key_columns_of(schema))
    if not roots:
        proposal.notes.append(
            "no table has a region, country, tenant or organisation column: every table is copied whole "
            "or skipped; name a root under data.roots to copy a subset"
        )
    elsewhere = sorted(t for t in schema.tables if "." in t and classes.copied(t))
    if elsewhere:
        proposal.notes.append(
            f"{', '.join(elsewhere)} stand outside the source's current schema: only a PostgreSQL target has "
            "schemas to put them in, so with the SQLite placeholder `migrator run` refuses; give a PostgreSQL "
            "target, or skip them"
        )
    if any(p.action == "hash" for p in proposal.personal):
        proposal.notes.append("hash needs MIGRATOR_HASH_KEY in the environment of `migrator run`")
    return proposal


def plan_name(database: str) -> str:
    """The database's name as a plan name (letters, digits, '.', '_', '-')."""
    name = _NOT_A_NAME.sub("-", database).strip(".-_")
    return name or "database"


def _paths_from_roots(schema: Schema, roots: list[str]) -> dict[str, list[str]]:
    """For each table below a root, the tables from the root down to it, found breadth first
    through the children as classify.py walks them, so each path ends in the parent it names."""
    paths = {root: [root] for root in roots}
    queue = deque(roots)
    while queue:
        parent = queue.popleft()
        for fk in schema.children(parent):
            if fk.child not in paths:
                paths[fk.child] = [*paths[parent], fk.child]
                queue.append(fk.child)
    return paths


def _rules_for_unreached(
    schema: Schema, roots: dict[str, str], relations: list[RelationCandidate]
) -> tuple[dict[str, str], dict[str, str]]:
    """`all` or `skip` for each table the roots do not reach, with the reason; `skip` also for a
    table with more than one foreign key to itself, which the rules cannot follow."""
    reached = classify(schema, DataSection(roots=roots, unlisted="skip"))
    in_scope = {t for t, kind in reached.classes.items() if kind in ("root", "scoped")}
    rules: dict[str, str] = {}
    reasons: dict[str, str] = {}
    self_keys = Counter(fk.child for fk in schema.foreign_keys if fk.is_self_reference)
    for name in schema.tables:
        if name in roots:
            continue
        if self_keys[name] > 1:
            rules[name] = "skip"
            reasons[name] = f"it has {self_keys[name]} foreign keys to itself, and the rules follow at most one"
            continue
        if reached.classes[name] in COPIED:
            continue
        into_scope = [r for r in relations if r.child == name and r.resolves and r.parent in in_scope]
        if looks_like_log(name):
            rules[name] = "skip"
            reasons[name] = "its name says log, audit, history or events: records of what happened, proposed skip"
        elif into_scope:
            rules[name] = "skip"
            first = into_scope[0]
            reasons[name] = (
                f"not reached from the root, but {name}.{first.column} looks like a reference to {first.parent}, "
                "which is in scope: uncomment that relation below to scope it, and remove this skip"
            )
        else:
            parents = sorted({fk.parent for fk in schema.parents(name)})
            kind = f"it points only at {', '.join(parents)}" if parents else "it points at no other table"
            unreached = "not reached from the root" if roots else "no root to reach it"
            rules[name] = "all"
            reasons[name] = (
                f"{unreached}, and {kind}: copied whole, as a lookup or catalogue would be. Make it skip if it "
                "holds anything that must not cross"
            )
    return rules, reasons
