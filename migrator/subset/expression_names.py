"""The tables and columns a plan's SQL expression names, looked up in the source schema.

A root or `where` expression is the WHERE of `SELECT ... FROM <its table>`: an unqualified column
belongs to that table, and inside a subquery to the subquery's own tables first, then (a correlated
reference) to the tables around it. A name is reported only when every table it could belong to is
known: a derived table, a CTE, a table function or another schema makes us unsure, and then the
database's own check (engine/prepare.py) is the judge. Names compare case-insensitively, which errs
on the side of accepting: a case that matters (PostgreSQL's quoted names) is left to that check too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

# Tables every database has besides the user's: never in the reflected schema, never a typo.
_SYSTEM_PREFIXES = ("pg_", "sqlite_", "information_schema")
_SYSTEM_TABLES = {"dual"}


@dataclass(frozen=True)
class UnknownName:
    """One name the expression uses that the source does not have, with what it could have meant."""

    message: str
    name: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class _Source:
    """One FROM item of a SELECT: a table of the schema (`table` set) or something we cannot see into."""

    table: str | None


_OPAQUE = _Source(None)


def unknown_names(expression: str, dialect: str, table: str, columns: Mapping[str, Sequence[str]]) -> list[UnknownName]:
    """The names in `expression` (a condition on `table`) that no table of `columns` (the source
    schema: table -> column names) has. An expression that does not parse yields nothing: the
    plan's static checks report it."""
    try:
        condition = sqlglot.parse_one(expression, read=dialect)
    except SqlglotError:
        return []
    query = exp.select("1").from_(exp.Table(this=exp.to_identifier(table, quoted=True))).where(condition)
    return _Resolver(columns, dialect).unknown(query)


class _Resolver:
    def __init__(self, columns: Mapping[str, Sequence[str]], dialect: str):
        self._columns = columns
        self._tables = {name.lower(): name for name in columns}
        self._folded = {name: {c.lower() for c in cols} for name, cols in columns.items()}
        self._dialect = dialect

    def unknown(self, query: exp.Select) -> list[UnknownName]:
        found: list[UnknownName] = []
        scopes = {id(select): self._sources(select, found) for select in query.find_all(exp.Select)}
        for column in query.find_all(exp.Column):
            chain = _enclosing_selects(column)
            if chain is None or isinstance(column.this, exp.Star) or column.args.get("db"):
                continue  # under a set operation, `t.*`, or schema.table.column: not ours to judge
            problem = self._resolve(column, [(s, scopes[id(s)]) for s in chain])
            if problem is not None:
                found.append(problem)
        return list(dict.fromkeys(found))

    def _sources(self, select: exp.Select, found: list[UnknownName]) -> dict[str, _Source]:
        """The select's FROM and JOIN items by the name a column would qualify them with."""
        ctes = _visible_ctes(select)
        sources: dict[str, _Source] = {}
        for item in _from_items(select):
            name = item.alias_or_name.lower()
            if not isinstance(item, exp.Table) or not isinstance(item.this, exp.Identifier) or item.args.get("db"):
                sources[name] = _OPAQUE  # a derived table, a table function, another schema's table
            elif item.name.lower() in ctes:
                sources[name] = _OPAQUE
            elif item.name.lower() in self._tables:
                sources[name] = _Source(self._tables[item.name.lower()])
            else:
                sources[name] = _OPAQUE
                if not _is_system(item.name):
                    found.append(UnknownName(f"the source has no table {item.name!r}", item.name, tuple(self._columns)))
        return sources

    def _resolve(self, column: exp.Column, chain: list[tuple[exp.Select, dict[str, _Source]]]) -> UnknownName | None:
        name = column.name
        if column.table:
            return self._resolve_qualified(column.table, name, chain)
        if column.this.args.get("quoted") and self._dialect == "sqlite":
            return None  # SQLite reads a double-quoted name that is no column as a string
        seen: list[str] = []
        for select, sources in chain:
            if name.lower() in {alias.lower() for alias in select.named_selects}:
                return None  # an output name, e.g. in ORDER BY
            if any(s.table is None for s in sources.values()):
                return None  # it may be a column of what we cannot see into
            tables = [s.table for s in sources.values() if s.table is not None]
            if any(name.lower() in self._folded[t] for t in tables):
                return None
            seen += [t for t in tables if t not in seen]
        if not seen:
            return None
        choices = tuple(c for t in seen for c in self._columns[t])
        if len(seen) == 1:
            return UnknownName(f"table {seen[0]} has no column {name!r}", name, choices)
        listed = f"{', '.join(seen[:-1])} and {seen[-1]}"
        return UnknownName(f"tables {listed} have no column {name!r}", name, choices)

    def _resolve_qualified(
        self, qualifier: str, name: str, chain: list[tuple[exp.Select, dict[str, _Source]]]
    ) -> UnknownName | None:
        for _select, sources in chain:
            source = sources.get(qualifier.lower())
            if source is None:
                continue
            if source.table is None or name.lower() in self._folded[source.table]:
                return None
            return UnknownName(f"table {source.table} has no column {name!r}", name, tuple(self._columns[source.table]))
        in_scope = [item.alias_or_name for select, _sources in chain for item in _from_items(select)]
        here = ", ".join(in_scope)
        return UnknownName(
            f"{qualifier}.{name}: there is no table {qualifier} in this expression (tables here: {here})",
            qualifier,
            tuple(in_scope),
        )


def _from_items(select: exp.Select) -> list[exp.Expression]:
    items = [select.args["from_"].this] if select.args.get("from_") else []
    return items + [join.this for join in select.args.get("joins") or []]


def _enclosing_selects(node: exp.Expression) -> list[exp.Select] | None:
    """The SELECTs around `node`, innermost first: where its names are looked up. None when a set
    operation (UNION ...) comes between, whose ORDER BY names the output columns."""
    chain: list[exp.Select] = []
    parent = node.parent
    while parent is not None:
        if isinstance(parent, exp.SetOperation) and not chain:
            return None
        if isinstance(parent, exp.Select):
            chain.append(parent)
        parent = parent.parent
    return chain


def _visible_ctes(select: exp.Select) -> set[str]:
    names: set[str] = set()
    node: Any = select  # sqlglot 30 types parents as `Expr`, which older versions lack
    while node is not None:
        with_ = node.args.get("with_") if isinstance(node, exp.Query) else None
        if with_ is not None:
            names |= {cte.alias_or_name.lower() for cte in with_.expressions}
        node = node.parent
    return names


def _is_system(name: str) -> bool:
    folded = name.lower()
    return folded in _SYSTEM_TABLES or folded.startswith(_SYSTEM_PREFIXES)
