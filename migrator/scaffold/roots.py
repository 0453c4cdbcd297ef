"""The likely roots: tables with a column that says which region, country, tenant or organisation a
row belongs to (names.ROOT_WORDS), or a table named for one (`tenants`, `organizations`), ranked.

The ranking prefers, in order: a column with at least two values (one value splits nothing); a
candidate whose subset would hold other candidates (Customer above Invoice: the invoices of the
customers in scope follow); the surer word (tenant before country); the more tables it scopes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.plan.model import DataSection
from migrator.scaffold.model import RootCandidate
from migrator.scaffold.names import ROOT_WORDS, root_weight, singular, words
from migrator.subset.classify import classify
from migrator.subset.schema import Column, Schema, Table

if TYPE_CHECKING:
    from migrator.stores.sql.survey import Survey

SAMPLE_ROWS = 1000  # rows read to find a column's commonest value, the placeholder condition's
_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")
_PLAIN_ANY_CASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class _Found:
    table: str
    column: Column
    why: str
    weight: int
    values: list[tuple[Any, int]]  # the commonest sampled values, commonest first


def root_candidates(survey: Survey) -> list[RootCandidate]:
    schema = survey.schema
    found = [f for name in schema.tables if (f := _candidate(survey, name)) is not None]
    names = {f.table for f in found}
    ranked: list[tuple[tuple[Any, ...], RootCandidate]] = []
    for f in found:
        scoped = _scoped_under(schema, f.table)
        candidate = RootCandidate(
            table=f.table,
            column=f.column.name,
            why=f.why,
            condition=_condition(f.column, f.values[0][0] if f.values else None, survey.dialect),
            distinct_values=len(f.values),
            scoped_tables=scoped,
            covers=tuple(sorted(names & set(scoped))),
        )
        usable = len(f.values) >= 2
        ranked.append(((not usable, -len(candidate.covers), -f.weight, -len(scoped), f.table), candidate))
    ranked.sort(key=lambda r: r[0])
    return [candidate for _, candidate in ranked]


def _candidate(survey: Survey, name: str) -> _Found | None:
    """The table's best root column, if a column or the table's own name says region or tenant."""
    table = survey.schema.tables[name]
    fk_columns = {c for fk in survey.schema.parents(name) for c in fk.child_columns}
    columns = [(c, hit) for c in table.columns if (hit := root_weight(c.name)) and c.name not in fk_columns]
    if columns:
        # The surest word; then a column that holds values over a key (country.country rather than
        # country.country_id); then text; then the most values to choose from.
        scored = [
            (
                hit[1],
                c.name not in table.primary_key,
                c.kind == "text",
                survey.frequent_values(name, c.name, SAMPLE_ROWS),
                c,
                hit[0],
            )
            for c, hit in columns
        ]
        weight, _, _, values, column, word = max(scored, key=lambda s: (s[0], s[1], s[2], len(s[3])))
        return _Found(name, column, f"its column {column.name} names a {word}", weight, values)
    table_words = [singular(w) for w in words(name.rsplit(".", 1)[-1])]
    named_for = [w for w in table_words if w in ROOT_WORDS]
    if named_for and len(table.primary_key) == 1:
        column = _naming_column(table)
        word = named_for[0]
        values = survey.frequent_values(name, column.name, SAMPLE_ROWS)
        # A table named for a tenant outranks a column naming one: its rows are the tenants themselves.
        return _Found(
            name, column, f"the table is named for a {word}: its rows are the {word}s", ROOT_WORDS[word] + 1, values
        )
    return None


def _naming_column(table: Table) -> Column:
    """The column a person names a row by (`regions.code = 'US'` rather than `regions.id = 1`): a
    unique text column, else a text column called code or name, else the primary key."""
    unique = {key[0] for key in table.unique_keys if len(key) == 1}
    text = [c for c in table.columns if c.kind == "text" and c.name not in table.primary_key]
    for column in [c for c in text if c.name in unique] + [
        c for c in text if words(c.name)[-1:] in (("code",), ("name",))
    ]:
        return column
    key = table.column(table.primary_key[0])
    assert key is not None
    return key


def _scoped_under(schema: Schema, table: str) -> tuple[str, ...]:
    """The tables the subset rules scope under `table` as the only root (classify.py, rule 1)."""
    classes = classify(schema, DataSection(roots={table: "TRUE"}, unlisted="skip")).classes
    return tuple(sorted(t for t, kind in classes.items() if kind == "scoped"))


def _condition(column: Column, value: Any, dialect: str) -> str:
    """`column = <its commonest value>`: SQL that runs as written, for the user to change."""
    name = quoted(column.name, dialect)
    if column.kind == "integer":
        return f"{name} = {int(value) if isinstance(value, int) else 0}"
    if column.kind == "text":
        text = str(value) if value is not None else "CHANGE-ME"
        return f"{name} = '{text.replace(chr(39), chr(39) * 2)}'"
    return f"{name} IS NOT NULL"


def quoted(name: str, dialect: str) -> str:
    """A column as SQL: bare when every dialect reads it as written (PostgreSQL folds unquoted names
    to lower case; SQLite and MySQL compare column names without case)."""
    if _PLAIN.match(name) or (dialect != "postgresql" and _PLAIN_ANY_CASE.match(name)):
        return name
    if dialect == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'
