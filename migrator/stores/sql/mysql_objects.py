"""MariaDB views, functions, procedures and triggers for the native schema (see `mysql_native`).

Each is read with its own `SHOW CREATE` and recreated verbatim, as `CREATE OR REPLACE`, when every
table it names is copied, every view or routine it names is recreated, and it names no dropped column.
MariaDB keeps no dependency catalog for these bodies, so the test is on the words of the statement:
any word equal to the name of a table that is not copied, of another database followed by a dot, of
a view or routine left out, or of a dropped column of a table it names. That errs on the side of
leaving an object out (and saying so), never of creating one that cannot work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from sqlalchemy.engine import Connection

from migrator.stores.sql import ddl_tokens as ddl
from migrator.stores.sql.ddl_tokens import DdlError, TokenType


@dataclass
class Objects:
    statements: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


@dataclass
class _Object:
    kind: str  # view | function | procedure | trigger
    name: str
    sql: str
    sql_mode: str | None = None
    table: str | None = None  # a trigger's table
    words: set[str] = field(default_factory=set)
    databases: set[str] = field(default_factory=set)  # other databases it names (db.object)
    reason: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}" + (f" on {self.table}" if self.table else "")


def recreate_objects(source: Connection, copied: set[str], gone_columns: dict[str, set[str]]) -> Objects:
    """`copied`: the copied tables (lower case); `gone_columns`: per copied table (lower case), its
    columns that the target does not have (dropped, or computed from a dropped one)."""
    current = str(source.exec_driver_sql("SELECT DATABASE()").scalar_one())
    listed = [(str(name), str(kind)) for name, kind in source.exec_driver_sql("SHOW FULL TABLES").all()]
    kinds = {name.lower(): kind for name, kind in listed}
    databases = {str(row[0]).lower() for row in source.exec_driver_sql("SHOW DATABASES").all()} - {current.lower()}
    objects = _routines(source) + _views(source, [name for name, kind in listed if kind == "VIEW"]) + _triggers(source)
    for item in objects:
        _read_words(item, databases)
    skipped = {name for name, kind in kinds.items() if kind != "VIEW" and name not in copied}
    _decide(objects, copied, skipped, gone_columns)
    result = Objects(left_out=[f"{item.label} {item.reason}" for item in objects if item.reason])
    kept = [item for item in objects if not item.reason]
    routines = [item for item in kept if item.kind in ("function", "procedure")]
    triggers = [item for item in kept if item.kind == "trigger"]
    result.statements += _under_own_mode(routines)
    result.statements += [item.sql for item in _dependency_order([item for item in kept if item.kind == "view"])]
    result.statements += _under_own_mode(triggers)
    return result


def _routines(source: Connection) -> list[_Object]:
    rows = source.exec_driver_sql(
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES"
        " WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE') ORDER BY ROUTINE_NAME"
    ).all()
    found = []
    for name, kind in rows:
        row = source.exec_driver_sql(f"SHOW CREATE {kind} {_quote(str(name))}").one()
        found.append(_Object(kind.lower(), str(name), _or_replace(row[2]), sql_mode=str(row[1])))
    return found


def _views(source: Connection, names: list[str]) -> list[_Object]:
    found = []
    for name in names:
        row = source.exec_driver_sql(f"SHOW CREATE VIEW {_quote(name)}").one()
        found.append(_Object("view", name, _or_replace(row[1])))
    return found


def _triggers(source: Connection) -> list[_Object]:
    # In the order MariaDB fires them, which is the order they are created in.
    rows = source.exec_driver_sql(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
        " ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER"
    ).all()
    found = []
    for name, table in rows:
        row = source.exec_driver_sql(f"SHOW CREATE TRIGGER {_quote(str(name))}").one()
        found.append(_Object("trigger", str(name), _or_replace(row[2]), sql_mode=str(row[1]), table=str(table)))
    return found


def _or_replace(sql: object) -> str:
    """`CREATE ...` as `CREATE OR REPLACE ...`; an empty text (no privilege to read it) stays empty."""
    text = "" if sql is None else str(sql)
    return f"CREATE OR REPLACE {text[len('CREATE ') :]}" if text.upper().startswith("CREATE ") else ""


def _read_words(item: _Object, databases: set[str]) -> None:
    if not item.sql:
        item.reason = "could not be read (SHOW CREATE gave no text: the source user lacks the privilege)"
        return
    try:
        tokens = ddl.tokenize(item.sql, "mysql")
    except DdlError as error:
        item.reason = str(error)
        return
    item.words = ddl.names(tokens) - {item.name.lower()}
    for first, dot in pairwise(tokens):
        if dot.token_type == TokenType.DOT and ddl.word(first) in databases:
            item.databases.add(first.text)


def _decide(objects: list[_Object], copied: set[str], skipped: set[str], gone: dict[str, set[str]]) -> None:
    for item in objects:
        if item.reason:
            continue
        if item.table and item.table.lower() not in copied:
            item.reason = f"is on {item.table}, which is not copied"
        elif item.databases:
            item.reason = f"names another database ({', '.join(sorted(item.databases))})"
        elif names := sorted(item.words & skipped):
            item.reason = f"names {', '.join(names)}, which is not copied"
        else:
            tables = (item.words | {(item.table or "").lower()}) & copied
            columns = sorted(f"{t}.{c}" for t in tables for c in gone.get(t, set()) & item.words)
            if columns:
                item.reason = f"names dropped column(s) {', '.join(columns)}"
    # A view or routine left out takes along every object that names it.
    changed = True
    while changed:
        changed = False
        out = {item.name.lower(): item for item in objects if item.reason and item.kind != "trigger"}
        for item in objects:
            if not item.reason and (names := sorted(item.words & set(out))):
                item.reason = f"names {', '.join(out[n].label for n in names)}, which is left out"
                changed = True


def _under_own_mode(items: list[_Object]) -> list[str]:
    """Each statement under its own sql_mode (a body's meaning depends on it: ANSI_QUOTES,
    PIPES_AS_CONCAT), and the session's mode restored afterwards."""
    if not items:
        return []
    statements = ["SET @migrator_sql_mode = @@SESSION.sql_mode"]
    for item in items:
        statements += ["SET SESSION sql_mode = '{}'".format((item.sql_mode or "").replace("'", "''")), item.sql]
    return [*statements, "SET SESSION sql_mode = @migrator_sql_mode"]


def _dependency_order(views: list[_Object]) -> list[_Object]:
    """Views after the views they read (MariaDB checks a view's tables when it is created)."""
    by_name = {view.name.lower(): view for view in views}
    ordered: list[_Object] = []
    placed: set[str] = set()

    def place(view: _Object, path: frozenset[str]) -> None:
        key = view.name.lower()
        if key in placed or key in path:
            return
        for needed in sorted(view.words & set(by_name)):
            place(by_name[needed], path | {key})
        placed.add(key)
        ordered.append(view)

    for view in views:
        place(view, frozenset())
    return ordered


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
