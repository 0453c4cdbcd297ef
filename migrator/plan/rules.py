"""Checks of a plan that need no database: conflicting rules and unsafe SQL fragments."""

from __future__ import annotations

from typing import Any

import sqlglot
from pydantic import ValidationError
from sqlglot import exp
from sqlglot.errors import SqlglotError

from migrator.errors import Problem
from migrator.plan.model import DataSection
from migrator.plan.yaml_source import Path_, YamlSource, dotted

_DIALECTS = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "mariadb": "mysql",
             "sqlite": "sqlite"}
_WRITES = (exp.DML, exp.DDL, exp.Command, exp.Into, exp.TruncateTable, exp.Merge)


def sql_dialect(url: str | None) -> str | None:
    """sqlglot's name for the dialect of a SQLAlchemy URL (`postgresql+psycopg://` -> postgres)."""
    if not url or "://" not in url:
        return None
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    return _DIALECTS.get(scheme)


def static_problems(raw: dict[str, Any], source: YamlSource) -> list[Problem]:
    """Checks that go beyond the shape of each key. They run on every section that is well formed on
    its own, so that a plan with a typo elsewhere still gets all of its problems in one report."""

    def problem(path: Path_, message: str, hint: str | None = None) -> Problem:
        return Problem(source.file, source.line_of(path), dotted(path), message, hint)

    problems: list[Problem] = []
    urls: dict[str, str | None] = {}
    for side in ("source", "target"):
        section = raw.get(side)
        url = section.get("database") if isinstance(section, dict) else None
        urls[side] = url if isinstance(url, str) else None
        if not isinstance(section, dict) or (url is not None and not isinstance(url, str)):
            continue  # the shape check already reports it
        if url is None:
            problems.append(problem((side,), "database is required", f"set {side}.database to a SQLAlchemy URL"))
        elif sql_dialect(url) is None:
            problems.append(problem((side, "database"), "is not a supported database URL",
                                    "use sqlite:///FILE, postgresql://… or mysql+pymysql://…"))
    try:
        data = DataSection.model_validate(raw.get("data", {}))
    except ValidationError:
        return problems  # reported by the shape check
    dialect = sql_dialect(urls["source"]) or "postgres"
    for table, expression in data.roots.items():
        rule = data.tables.get(table)
        if rule is not None and rule.copy_ is not None:
            problems.append(problem(("data", "tables", table), f"table {table} is a root and cannot also be "
                                    f"'{rule.copy_}'", "remove it from data.tables or from data.roots"))
        problems += _sql_problems(expression, dialect, ("data", "roots", table), problem)
    for table, rule in data.tables.items():
        if rule.where is not None:
            problems += _sql_problems(rule.where, dialect, ("data", "tables", table, "where"), problem)
        if rule.copy_ == "skip" and (rule.where or rule.columns):
            problems.append(problem(("data", "tables", table), "a skipped table takes no where or columns",
                                    "remove them, or do not skip the table"))
    for i, relation in enumerate(data.relations):
        if len(relation.from_.columns) != len(relation.to.columns):
            problems.append(problem(("data", "relations", i), "from and to name different numbers of columns"))
    if not data.roots and not any(rule.copy_ == "all" for rule in data.tables.values()):
        problems.append(problem(("data",), "the plan copies no rows", "name at least one table under data.roots"))
    return problems


def _sql_problems(expression: str, dialect: str, path: Path_, problem) -> list[Problem]:  # type: ignore[no-untyped-def]
    """A where/root must be one boolean expression that only reads."""
    try:
        parsed = [node for node in sqlglot.parse(expression, read=dialect) if node is not None]
    except SqlglotError as exc:
        first_line = str(exc).splitlines()[0]
        return [problem(path, f"is not a valid SQL expression: {first_line}")]
    if len(parsed) != 1:
        return [problem(path, "must be one SQL expression, not several statements", "remove the ';'")]
    root = parsed[0]
    if isinstance(root, exp.Query) or isinstance(root, _WRITES):
        return [problem(path, "must be a boolean expression, not a statement",
                        "write the condition only, e.g. region = 'US'")]
    writes = [node for node in root.walk() if isinstance(node, _WRITES)]
    if writes:
        return [problem(path, f"must only read, but contains {writes[0].key.upper()}")]
    return []
