"""Checks of a plan that need no database: conflicting rules and unsafe SQL fragments (the codebase's
own in codebase_checks.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, ValidationError

from migrator.errors import Problem
from migrator.plan.codebase_checks import codebase_problems, git_without_codebase
from migrator.plan.model import Relation, TableRule, _table_rule
from migrator.plan.yaml_source import Path_, YamlSource, dotted

_DIALECTS = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}
_TABLE_RULE: TypeAdapter[Any] = TypeAdapter(Annotated[TableRule, BeforeValidator(_table_rule)])
_RELATION: TypeAdapter[Any] = TypeAdapter(Relation)


def sql_dialect(url: str | None) -> str | None:
    """sqlglot's name for the dialect of a SQLAlchemy URL (`postgresql+psycopg://` -> postgres)."""
    if not url or "://" not in url:
        return None
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    return _DIALECTS.get(scheme)


def static_problems(raw: dict[str, Any], source: YamlSource, *, sql: bool = True) -> list[Problem]:
    """Checks that go beyond the shape of each key. They run on every section that is well formed on
    its own, so that a plan with a typo elsewhere still gets all of its problems in one report.
    `sql`: with the roots' and wheres' SQL parsed (sqlglot); without, for `LoadedPlan.check_sql`."""

    def problem(path: Path_, message: str, hint: str | None = None) -> Problem:
        return Problem(source.file, source.line_of(path), dotted(path), message, hint)

    problems: list[Problem] = []
    urls: dict[str, str | None] = {}
    sides: dict[str, dict[str, Any]] = {}
    for side in ("source", "target"):
        section = raw.get(side)
        sides[side] = section if isinstance(section, dict) else {}
    copies_tables = "data" in raw or any("database" in section for section in sides.values())
    copies_objects = "artifacts" in raw or any("objects" in section for section in sides.values())
    copies_flags = "flags" in raw or any("flags" in section for section in sides.values())
    copies_codebase = "codebase" in raw or any("codebase" in section for section in sides.values())
    copies_something = copies_tables or copies_objects or copies_flags or copies_codebase
    if not copies_something and all(isinstance(raw.get(s), dict) for s in sides):
        problems.append(
            problem(
                (),
                "the plan copies nothing",
                "give source.database and target.database (tables), "
                "source.objects, target.objects and an artifacts section (objects), "
                "source.flags, target.flags and a flags section (feature flags), "
                "or source.codebase, target.codebase and a codebase section (git repositories)",
            )
        )
    if copies_objects:
        problems += _objects_problems(raw, sides, problem)
    if copies_flags:
        problems += _flags_problems(raw, sides, problem)
    if copies_codebase:
        problems += codebase_problems(raw, sides, source)
    else:
        problems += git_without_codebase(sides, problem)
    for side in ("source", "target"):
        section = raw.get(side)
        url = section.get("database") if isinstance(section, dict) else None
        urls[side] = url if isinstance(url, str) else None
        if not isinstance(section, dict) or (url is not None and not isinstance(url, str)):
            continue  # the shape check already reports it
        if (side, "database") in source.unset:
            continue  # the unset variable is the problem; the URL it left behind is not worth a second one
        if url is None:
            if copies_tables:
                problems.append(problem((side,), "database is required", f"set {side}.database to a SQLAlchemy URL"))
        elif sql_dialect(url) is None:
            problems.append(
                problem(
                    (side, "database"),
                    "is not a supported database URL",
                    f"{url.split('://', 1)[0]}:// is not one of sqlite:///FILE, postgresql://… or mysql+pymysql://…"
                    if "://" in url
                    else "use sqlite:///FILE, postgresql://… or mysql+pymysql://…",
                )
            )
    data = raw.get("data", {})
    if isinstance(data, dict) and copies_tables:
        problems += _data_problems(data, sql_dialect(urls["source"]) or "postgres", problem, sql=sql)
    return problems


def _objects_problems(raw: dict[str, Any], sides: dict[str, Any], problem: Any) -> list[Problem]:
    """Objects need a location on both sides and an `artifacts` section that says which to copy:
    a location alone copies nothing, rather than everything (nothing that belongs to anyone else)."""
    problems = []
    for side, section in sides.items():
        if "objects" not in section:
            problems.append(
                problem((side,), "objects is required", f"set {side}.objects to s3://BUCKET[/PREFIX] or a folder")
            )
    if "artifacts" not in raw:
        problems.append(
            problem(
                ("source", "objects") if "objects" in sides["source"] else ("target", "objects"),
                "objects are named but the plan has no artifacts section to say which to copy",
                "add `artifacts: [{prefix: ''}]` to copy every object, or remove the objects keys",
            )
        )
    return problems


def _flags_problems(raw: dict[str, Any], sides: dict[str, Any], problem: Any) -> list[Problem]:
    """Flags need a file on both sides and a `flags` section, as objects need `artifacts`: a file
    named alone would copy every flag of the global deployment, unfiltered, into the isolated one."""
    problems = []
    for side, section in sides.items():
        if "flags" not in section:
            problems.append(
                problem((side,), "flags is required", f"set {side}.flags to a flag-definition file or s3://BUCKET/KEY")
            )
        elif isinstance(section["flags"], str) and section["flags"].startswith("s3://"):
            bucket, _, key = section["flags"][5:].partition("/")
            if not bucket or not key or key.endswith("/"):
                problems.append(problem((side, "flags"), "names no object", "write it as s3://BUCKET/KEY"))
    if "flags" not in raw:
        problems.append(
            problem(
                ("source", "flags") if "flags" in sides["source"] else ("target", "flags"),
                "flag files are named but the plan has no flags section to say which flags to copy",
                "add `flags: {}` to copy every flag as it is, or remove the flags keys",
            )
        )
    return problems


def _data_problems(data: dict[str, Any], dialect: str, problem: Any, *, sql: bool = True) -> list[Problem]:
    """Each root, table rule and relation is checked on its own, so one malformed entry does not
    hide the problems of the others."""
    problems: list[Problem] = []
    roots: dict[str, Any] = data["roots"] if isinstance(data.get("roots"), dict) else {}
    tables: dict[str, Any] = data["tables"] if isinstance(data.get("tables"), dict) else {}
    rules = {name: _valid(_TABLE_RULE, rule) for name, rule in tables.items()}
    for table, expression in roots.items():
        rule = rules.get(table)
        if rule is not None and rule.copy_ is not None:
            problems.append(
                problem(
                    ("data", "tables", table),
                    f"table {table} is a root and cannot also be '{rule.copy_}'",
                    "remove it from data.tables or from data.roots",
                )
            )
        if isinstance(expression, str) and sql:
            problems += _sql_problems(expression, dialect, ("data", "roots", table), problem)
    for table, rule in rules.items():
        if rule is None:
            continue
        if rule.where is not None and sql:
            problems += _sql_problems(rule.where, dialect, ("data", "tables", table, "where"), problem)
        if rule.copy_ == "skip" and (rule.where or rule.columns):
            problems.append(
                problem(
                    ("data", "tables", table),
                    "a skipped table takes no where or columns",
                    "remove them, or do not skip the table",
                )
            )
    relations: list[Any] = data["relations"] if isinstance(data.get("relations"), list) else []
    for i, raw_relation in enumerate(relations):
        relation = _valid(_RELATION, raw_relation)
        if relation is not None and len(relation.from_.columns) != len(relation.to.columns):
            problems.append(
                problem(
                    ("data", "relations", i),
                    f"from names {len(relation.from_.columns)} columns and to names {len(relation.to.columns)}",
                    "a foreign key pairs its columns one to one",
                )
            )
    copies_all = any(rule is not None and rule.copy_ == "all" for rule in rules.values())
    if not roots and not copies_all and None not in rules.values():
        problems.append(problem(("data",), "the plan copies no rows", "name at least one table under data.roots"))
    return problems


def _valid(adapter: TypeAdapter[Any], value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None  # the shape check reports it


def _sql_problems(expression: str, dialect: str, path: Path_, problem) -> list[Problem]:  # type: ignore[no-untyped-def]
    """A where/root must be one boolean expression that only reads."""
    if not expression.strip():
        return [problem(path, "is empty", "write the condition only, e.g. region = 'US'")]
    # Imported here, by the plans that hold SQL: sqlglot is a fifth of the imports of a run that
    # copies only objects, flags or repositories.
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, SqlglotError

    writes_kinds = (exp.DML, exp.DDL, exp.Command, exp.Into, exp.TruncateTable, exp.Merge)
    try:
        parsed = [node for node in sqlglot.parse(expression, read=dialect) if node is not None]
    except ParseError as exc:
        return [problem(path, f"is not a valid SQL expression: {_parse_error(exc)}")]
    except SqlglotError as exc:
        return [problem(path, f"is not a valid SQL expression: {str(exc).splitlines()[0]}")]
    if len(parsed) != 1:
        return [problem(path, "must be one SQL expression, not several statements", "remove the ';'")]
    root = parsed[0]
    if isinstance(root, (exp.Query, *writes_kinds)):
        return [
            problem(
                path, "must be a boolean expression, not a statement", "write the condition only, e.g. region = 'US'"
            )
        ]
    writes = [node for node in root.walk() if isinstance(node, writes_kinds)]
    if writes:
        return [problem(path, f"must only read, but contains {writes[0].key.upper()}", "subqueries may only SELECT")]
    return []


def _parse_error(exc: Any) -> str:
    """sqlglot's first error as a person would say it: what was unexpected, and where."""
    if not exc.errors:
        return str(exc).splitlines()[0]
    first = exc.errors[0]
    highlight, column = first.get("highlight"), first.get("col")
    if highlight and column:
        return f"unexpected {highlight!r} at column {column}"
    return str(first.get("description", exc)).split(" for <class")[0]
