"""Checks of a plan against the source schema: every name exists, every rule can be applied."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from migrator.errors import Problem
from migrator.plan.load import LoadedPlan
from migrator.plan.rules import sql_dialect
from migrator.plan.yaml_source import Path_
from migrator.subset.classify import Classification
from migrator.subset.expression_names import unknown_names
from migrator.subset.schema import Schema

_KINDS_FOR = {"hash": ("integer", "text"), "mask": ("text",)}


def schema_problems(loaded: LoadedPlan, schema: Schema) -> list[Problem]:
    """Names the plan uses that the source does not have. Runs before classification."""
    data = loaded.plan.data
    problems: list[Problem] = []

    def missing_table(path: tuple[str | int, ...], name: str) -> None:
        problems.append(loaded.problem(path, f"the source has no table {name!r}", _close(name, schema.tables)))

    for table in data.roots:
        if table not in schema.tables:
            missing_table(("data", "roots", table), table)
    for table, rule in data.tables.items():
        if table not in schema.tables:
            missing_table(("data", "tables", table), table)
            continue
        columns = schema.tables[table].column_names
        for column in rule.columns:
            if column not in columns:
                problems.append(
                    loaded.problem(
                        ("data", "tables", table, "columns", column),
                        f"table {table} has no column {column!r}",
                        _close(column, columns),
                    )
                )
    for i, relation in enumerate(data.relations):
        for end, ref in (("from", relation.from_), ("to", relation.to)):
            if ref.table not in schema.tables:
                missing_table(("data", "relations", i, end), ref.table)
                continue
            columns = schema.tables[ref.table].column_names
            for column in ref.columns:
                if column not in columns:
                    problems.append(
                        loaded.problem(
                            ("data", "relations", i, end),
                            f"table {ref.table} has no column {column!r}",
                            _close(column, columns),
                        )
                    )
    return problems


def expression_problems(loaded: LoadedPlan, schema: Schema, rejects: Callable[[str, str], str | None]) -> list[Problem]:
    """Every root and `where` expression of a table the source has, checked twice: by the database
    (`rejects(table, expression)` gives its reason, or None), which is the judge, and by reading
    the names in it, which says where and what was meant. A name our reading doubts in an expression
    the database accepts is no problem (a system table, a dialect's keyword); an expression it rejects
    gets our located names, or the database's reason when we found none."""
    data = loaded.plan.data
    dialect = sql_dialect(loaded.plan.source.database) or "postgres"
    columns = {name: table.column_names for name, table in schema.tables.items()}
    expressions: list[tuple[Path_, str, str]] = [
        (("data", "roots", table), table, sql) for table, sql in data.roots.items() if table in schema.tables
    ]
    expressions += [
        (("data", "tables", table, "where"), table, rule.where)
        for table, rule in data.tables.items()
        if rule.where and table in schema.tables
    ]
    problems: list[Problem] = []
    for path, table, sql in expressions:
        reason = rejects(table, sql)
        if reason is None:
            continue
        named = unknown_names(sql, dialect, table, columns)
        problems += [loaded.problem(path, name.message, _close(name.name, name.choices)) for name in named] or [
            loaded.problem(path, f"the source database rejects it: {reason}")
        ]
    return problems


def rule_problems(loaded: LoadedPlan, schema: Schema, classes: Classification) -> list[Problem]:
    """Rules that cannot hold for this schema: transforms of keys, unreached tables, and so on."""
    data = loaded.plan.data
    problems: list[Problem] = []
    key_columns = _key_columns(schema)
    for table, rule in data.tables.items():
        if table not in schema.tables:
            continue
        if rule.where and classes.classes[table] == "referenced":
            problems.append(
                loaded.problem(
                    ("data", "tables", table, "where"),
                    f"{table} is referenced: its rows are exactly those copied rows point "
                    "to, and a where would break their foreign keys",
                    "filter the tables that point to it instead",
                )
            )
        for column, transform in rule.columns.items():
            col = schema.tables[table].column(column)
            if col is None or transform.action == "keep":
                continue
            path = ("data", "tables", table, "columns", column)
            if (table, column) in key_columns:
                problems.append(
                    loaded.problem(
                        path,
                        f"{table}.{column} is a key column and cannot be transformed",
                        "keys tie rows together; transform other columns",
                    )
                )
            elif transform.action == "nullify" and not col.nullable:
                problems.append(
                    loaded.problem(
                        path,
                        f"{table}.{column} is NOT NULL and cannot be nullified",
                        "use mask, hash or {const: VALUE}",
                    )
                )
            elif transform.action in _KINDS_FOR and col.kind not in _KINDS_FOR[transform.action]:
                problems.append(
                    loaded.problem(
                        path,
                        f"{transform.action} applies to "
                        f"{' and '.join(_KINDS_FOR[transform.action])} columns, "
                        f"and {table}.{column} is {col.type_name}",
                        "use nullify or {const: VALUE}",
                    )
                )
    for table in schema.tables:
        self_edges = [e for e in classes.edges_from(table, "scope", "constraint", "pull") if e.fk.is_self_reference]
        if len(self_edges) > 1:
            problems.append(
                loaded.problem(
                    ("data",),
                    f"table {table} has {len(self_edges)} foreign keys to itself; migrator follows at most one",
                    f"skip {table}, or declare it all",
                )
            )
    if classes.unlisted:
        names = ", ".join(classes.unlisted)
        problems.append(
            loaded.problem(
                ("data", "tables"),
                f"no rule reaches these tables: {names}",
                "name each under data.tables as all or skip, add a relation that "
                "reaches it, or set data.unlisted: skip",
            )
        )
    return problems


def _key_columns(schema: Schema) -> set[tuple[str, str]]:
    keys = {(t.name, c) for t in schema.tables.values() for c in t.primary_key}
    for fk in schema.foreign_keys:
        keys |= {(fk.child, c) for c in fk.child_columns} | {(fk.parent, c) for c in fk.parent_columns}
    return keys


def _close(name: str, choices: object) -> str | None:
    options = [str(c) for c in choices]  # type: ignore[attr-defined]
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if not close:
        close = [c for c in options if c.lower() == name.lower()]
    return f"did you mean {close[0]!r}?" if close else None
