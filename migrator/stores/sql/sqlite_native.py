"""SQLite -> SQLite: the target's schema from the source's own `sqlite_master` (issue 12, must-have 3).

Every copied table is created from its `sqlite_master.sql`, verbatim: declared types (DATETIME,
BOOLEAN, NUMERIC, none at all) stay as written, and with them each column's affinity; so do defaults,
collations, CHECK and UNIQUE constraints, generated columns, AUTOINCREMENT, WITHOUT ROWID and STRICT.
SQLite cannot add or drop a foreign key later, so the text itself is cut, at token boundaries
(`ddl_tokens`): a foreign key to a table that is not copied is removed (a table constraint as a whole,
a column's `REFERENCES` clause from the column) and listed in `left_out`. A dropped column is removed;
a generated column computed from it and a table constraint or foreign key naming it are removed with
it, a CHECK of another column naming it is cut from that column (each listed).

Indexes, views and triggers whose tables are all copied (and that name no dropped column) are
recreated in `after_load`, in the source's order, so no index slows the load and no trigger fires
during it; the others are listed. The test is on the words of the statement: a view that merely
mentions a skipped table's name is left out too, never one created that cannot work.
AUTOINCREMENT tables get their `sqlite_sequence` entry set to the source's, which is past every
copied key (SQLite's own inserts only ever raise it).

Re-runnable: every CREATE gets `IF NOT EXISTS` (SQLite drops those words from the text it stores, so
`sqlite_master.sql` is the source's), and the sequence statements only raise a value. The DDL is
transactional: the caller may also run each list in one transaction. `before_load` creates tables with
their foreign keys: the load must run with `PRAGMA foreign_keys` off (SQLite's default), as the rows
of a parent may arrive after its children.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from migrator.stores.sql import ddl_tokens as ddl
from migrator.stores.sql.ddl_tokens import DdlError, Item, Token, TokenType

if TYPE_CHECKING:
    from migrator.stores.sql.native_schema import NativeSchema

_TABLE_CONSTRAINTS = {"constraint", "primary key", "unique", "check", "foreign key"}
# The words that end a column's type name and start its constraints.
_COLUMN_CONSTRAINTS = {"constraint", "primary key", "not", "null", "unique", "check", "default", "collate"}
_COLUMN_CONSTRAINTS |= {"references", "generated", "as"}


def native_schema(source: Connection, tables: list[str], dropped: dict[str, set[str]]) -> NativeSchema:
    # Here, not at the top: native_schema imports the builders to list them.
    from migrator.stores.sql.native_schema import NativeSchema

    rows = [
        (str(kind), str(name), str(table), sql)
        for kind, name, table, sql in source.exec_driver_sql(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
        ).all()
    ]
    copied = {name.lower() for name in tables}
    every_table = {name.lower() for kind, name, _, _ in rows if kind == "table"}
    skipped = {name for name in every_table - copied if not name.startswith("sqlite_")}
    sql_of = {name.lower(): sql for kind, name, _, sql in rows if kind == "table"}
    result = NativeSchema(before_load=[], after_load=[], left_out=[], generated={})
    parsed = []
    for name in tables:
        sql = sql_of.get(name.lower())
        if not sql:
            raise DdlError(f"table {name} is not in the source's sqlite_master")
        generated = _generated_columns(source, name)
        parsed.append(_parse(name, str(sql), generated, {c.lower() for c in dropped.get(name, set())}))
    # Every table's gone columns first, so that a foreign key can see what its parent lost.
    gone = {table.name.lower(): table.gone for table in parsed}
    for table in parsed:
        _split_items(table, copied, gone)
        result.before_load.append(table.create)
        result.left_out.extend(table.left_out)
        if kept := [column for column in table.generated if column.lower() not in table.gone]:
            result.generated[table.name] = kept
    _recreate_objects(rows, copied, skipped, gone, result)
    result.after_load.extend(_sequences(source, tables))
    return result


@dataclass
class _Table:
    name: str
    sql: str
    tokens: list[Token]
    generated: list[str]
    gone: set[str]  # dropped, and generated from a dropped one (lower case)
    body: ddl.Body | None = None  # None for a virtual table, which is taken as it is
    columns: dict[int, Item] = field(default_factory=dict)  # id of the source's item -> the item kept
    create: str = ""
    left_out: list[str] = field(default_factory=list)


def _parse(name: str, sql: str, generated: list[str], dropped: set[str]) -> _Table:
    try:
        tokens = ddl.tokenize(sql, "sqlite")
        table = _Table(name=name, sql=sql, tokens=tokens, generated=generated, gone=set(dropped))
        if any(ddl.word(t) == "virtual" for t in tokens[:2]):
            return table  # its module owns its columns
        table.body = ddl.body(sql, tokens)
    except DdlError as error:
        raise DdlError(f"the native schema cannot read table {name} in sqlite_master: {error}") from None
    table.columns = {id(item): item for item in table.body.items if not _is_table_constraint(item)}
    _drop_dependent_columns(table)
    return table


def _split_items(table: _Table, copied: set[str], gone: dict[str, set[str]]) -> None:
    if table.body is None:
        table.create = _if_not_exists(table.sql, table.tokens, "table")
        return
    keep: list[Item] = []
    for item in table.body.items:
        if id(item) in table.columns:
            if ddl.word(item.tokens[0]) not in table.gone:
                keep.append(_without_lost_references(table, table.columns[id(item)], copied, gone))
            continue
        what = _describe(table.name, item)
        if names := sorted(_local_words(item) & table.gone):
            table.left_out.append(f"{what} names dropped column(s) {', '.join(names)}")
        elif reason := _lost_reference(item.tokens, copied, gone):
            table.left_out.append(f"{what} {reason}")
        else:
            keep.append(item)
    text = table.body.text(keep)
    table.create = _if_not_exists(text, ddl.tokenize(text, "sqlite"), "table")


def _drop_dependent_columns(table: _Table) -> None:
    """A generated column computed from a gone column goes too; a CHECK naming one is cut out."""
    generated = {column.lower() for column in table.generated}
    ddl.drop_dependent_columns(
        table.name,
        table.columns,
        table.gone,
        table.left_out,
        lambda item: _expression_words(item) if ddl.word(item.tokens[0]) in generated else None,
        lambda tokens: ddl.names(tokens) - {"check", "constraint"},
    )


def _without_lost_references(table: _Table, item: Item, copied: set[str], gone: dict[str, set[str]]) -> Item:
    """The column without its `[CONSTRAINT name] REFERENCES parent ...` clause when the parent, or the
    parent's column, is not in the target."""
    tokens = item.tokens
    for index, token in enumerate(tokens):
        if token.token_type == TokenType.REFERENCES and (reason := _lost_reference(tokens, copied, gone)):
            start = index - 2 if index >= 2 and ddl.word(tokens[index - 2]) == "constraint" else index
            table.left_out.append(f"foreign key {table.name}.{tokens[0].text} {reason}")
            return item.without(start, _end_of_reference(tokens, index))
    return item


def _lost_reference(tokens: list[Token], copied: set[str], gone: dict[str, set[str]]) -> str | None:
    """Why the foreign key among `tokens` cannot be made in the target (None: it can, or there is none)."""
    at = next((i for i, t in enumerate(tokens) if t.token_type == TokenType.REFERENCES), None)
    if at is None:
        return None
    parent = tokens[at + 1].text
    if parent.lower() not in copied:
        return f"references {parent}, which is not copied"
    columns = ddl.names(tokens[at + 2 : _end_of_reference(tokens, at)]) & gone[parent.lower()]
    return f"references dropped column(s) {parent}.{', '.join(sorted(columns))}" if columns else None


def _end_of_reference(tokens: list[Token], at: int) -> int:
    """The index just past a foreign-key clause starting at REFERENCES (SQLite's grammar: parent,
    columns, then any of ON DELETE/UPDATE action, MATCH name, [NOT] DEFERRABLE [INITIALLY ...])."""
    index = at + 2
    if index < len(tokens) and tokens[index].token_type == TokenType.L_PAREN:
        index = ddl.after_parens(tokens, index)
    words = [ddl.word(t) for t in tokens]
    while index < len(words):
        if words[index] == "on":
            index += 2  # ON DELETE | ON UPDATE
            index += (
                2 if words[index] in ("set", "no") else 1
            )  # SET NULL | SET DEFAULT | NO ACTION | CASCADE | RESTRICT
        elif words[index] == "match":
            index += 2
        elif words[index] == "not" and index + 1 < len(words) and words[index + 1] == "deferrable":
            index += 1
        elif words[index] == "deferrable":
            index += 1
            if index < len(words) and words[index] == "initially":
                index += 2
        else:
            break
    return index


def _is_table_constraint(item: Item) -> bool:
    return item.tokens[0].token_type != TokenType.IDENTIFIER and item.first in _TABLE_CONSTRAINTS


def _expression_words(item: Item) -> set[str]:
    """The names a column's constraints use inside parentheses (CHECK, AS, DEFAULT): not its type's
    `(10)`, not the parent columns of its REFERENCES."""
    words: set[str] = set()
    started = False
    index = 1
    tokens = item.tokens
    while index < len(tokens):
        token = tokens[index]
        if ddl.word(token) in _COLUMN_CONSTRAINTS:
            started = True
        if token.token_type == TokenType.REFERENCES:
            index = _end_of_reference(tokens, index)
            continue
        if started and token.token_type == TokenType.L_PAREN:
            end = ddl.after_parens(tokens, index)
            words |= ddl.names(tokens[index:end])
            index = end
            continue
        index += 1
    return words


def _local_words(item: Item) -> set[str]:
    """The names a table constraint uses of its own table: all but its REFERENCES clause."""
    tokens = item.tokens
    at = next((i for i, t in enumerate(tokens) if t.token_type == TokenType.REFERENCES), len(tokens))
    start = 2 if item.first == "constraint" else 0
    return ddl.names(tokens[start:at]) - {"check", "primary key", "unique", "foreign key", "constraint"}


def _reference(item: Item) -> str | None:
    """The parent table of a FOREIGN KEY table constraint."""
    for index, token in enumerate(item.tokens):
        if token.token_type == TokenType.REFERENCES:
            return item.tokens[index + 1].text
    return None


def _describe(table: str, item: Item) -> str:
    """'check author.secret_long' when the constraint has a name, 'foreign key book(region_code)' when not."""
    if item.first == "constraint":
        return f"{ddl.word(item.tokens[2])} {table}.{item.tokens[1].text}"
    opening = next((i for i, t in enumerate(item.tokens) if t.token_type == TokenType.L_PAREN), None)
    if opening is None:
        return f"{item.first} of {table}"
    base = item.tokens[0].start
    columns = item.text[
        item.tokens[opening].start - base : item.tokens[ddl.after_parens(item.tokens, opening) - 1].end + 1 - base
    ]
    return f"{item.first} {table}{columns}"


def _if_not_exists(sql: str, tokens: list[Token], after: str) -> str:
    """`CREATE [UNIQUE|VIRTUAL] <after> name` as `... <after> IF NOT EXISTS name`."""
    at = next(t for t in tokens[:3] if ddl.word(t) == after)
    if [ddl.word(t) for t in tokens[tokens.index(at) + 1 : tokens.index(at) + 4]] == ["if", "not", "exists"]:
        return sql
    return f"{sql[: at.end + 1]} IF NOT EXISTS{sql[at.end + 1 :]}"


def _generated_columns(source: Connection, table: str) -> list[str]:
    # table_xinfo's `hidden`: 2 for a VIRTUAL generated column, 3 for a STORED one.
    rows = source.exec_driver_sql(f"SELECT name, hidden FROM pragma_table_xinfo('{_literal(table)}')").all()
    return [str(name) for name, hidden in rows if hidden in (2, 3)]


def _recreate_objects(
    rows: list[tuple[str, str, str, object]],
    copied: set[str],
    skipped: set[str],
    gone: dict[str, set[str]],
    result: NativeSchema,
) -> None:
    """Indexes, views and triggers on copied tables, in the source's order, each one only when every
    table and view it names is there and it names no gone column."""
    left_out_views: set[str] = set()
    indexes: list[str] = []
    others: list[str] = []  # views and triggers: the source's order keeps a view after those it reads
    for kind, name, table, sql in rows:
        if kind not in ("index", "view", "trigger") or sql is None:
            continue  # an index SQLite made for a UNIQUE or PRIMARY KEY comes with its table
        label = f"{kind} {name}" + (f" on {table}" if kind != "view" else "")
        try:
            tokens = ddl.tokenize(str(sql), "sqlite")
        except DdlError as error:
            result.left_out.append(f"{label}: {error}")
            continue
        words = ddl.names(tokens) - {name.lower()}
        on = table.lower()
        named = (words | ({on} if kind != "view" else set())) & copied
        columns = sorted(f"{t}.{c}" for t in named for c in gone.get(t, set()) & words)
        if kind != "view" and on not in copied and on not in {n for k, n, _, _ in rows if k == "view"}:
            reason = f"is on {table}, which is not copied"
        elif missing := sorted(words & skipped):
            reason = f"names {', '.join(missing)}, which is not copied"
        elif out := sorted((words | {on}) & left_out_views):
            reason = f"names view {', '.join(out)}, which is left out"
        elif columns:
            reason = f"names dropped column(s) {', '.join(columns)}"
        else:
            (indexes if kind == "index" else others).append(_if_not_exists(str(sql), tokens, kind))
            continue
        result.left_out.append(f"{label} {reason}")
        if kind == "view":
            left_out_views.add(name.lower())
    result.after_load.extend(indexes + others)


def _sequences(source: Connection, tables: list[str]) -> list[str]:
    """AUTOINCREMENT counters as the source's: past every copied key."""
    if not source.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").first():
        return []
    counters: dict[str, int] = {
        str(name): int(seq) for name, seq in source.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all()
    }
    statements = []
    for table in tables:
        if (value := counters.get(table)) is None:
            continue
        name, seq = _literal(table), value
        statements += [
            f"UPDATE sqlite_sequence SET seq = max(seq, {seq}) WHERE name = '{name}'",
            f"INSERT INTO sqlite_sequence (name, seq) SELECT '{name}', {seq}"
            f" WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{name}')",
        ]
    return statements


def _literal(text: str) -> str:
    return text.replace("'", "''")
