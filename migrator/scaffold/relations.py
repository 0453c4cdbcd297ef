"""Candidate undeclared relations: a `*_id` / `*Id` column with no foreign key, whose sampled values
all resolve to a table's primary key. Only proposed (commented in the YAML): a name and a sample are
evidence, not proof, and a relation changes what the subset holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrator.scaffold.model import RelationCandidate
from migrator.scaffold.names import names_table, reference_stem
from migrator.subset.schema import Schema

if TYPE_CHECKING:
    from migrator.stores.sql.survey import Survey

SAMPLE_VALUES = 1000  # distinct values of the column checked against the parent's key


def relation_candidates(survey: Survey) -> list[RelationCandidate]:
    schema = survey.schema
    found: list[RelationCandidate] = []
    for name, table in schema.tables.items():
        declared = {fk.child_columns[0] for fk in schema.parents(name) if len(fk.child_columns) == 1}
        for column in table.columns:
            stem = reference_stem(column.name)
            if stem is None or column.name in declared or table.primary_key == (column.name,):
                continue
            parent = _parent(schema, name, column.name, stem, column.kind)
            if parent is None:
                continue
            key = schema.tables[parent].primary_key[0]
            counted = survey.unresolved(name, column.name, parent, key, SAMPLE_VALUES)
            if counted is not None:
                found.append(RelationCandidate(name, column.name, parent, key, *counted))
    return found


def _parent(schema: Schema, child: str, column: str, stem: tuple[str, ...], kind: str) -> str | None:
    """The table the column names (`customer_id` -> customer or customers), else the one table
    whose single-column primary key is called as the column is; of the same kind of values."""

    def fits(table: str) -> bool:
        key = schema.tables[table].primary_key
        if len(key) != 1:
            return False
        key_column = schema.tables[table].column(key[0])
        return key_column is not None and key_column.kind == kind

    by_name = [t for t in schema.tables if t != child and names_table(stem, t) and fits(t)]
    if by_name:
        return sorted(by_name)[0]
    by_key = [
        t for t in schema.tables if t != child and fits(t) and schema.tables[t].primary_key[0].lower() == column.lower()
    ]
    return by_key[0] if len(by_key) == 1 else None
