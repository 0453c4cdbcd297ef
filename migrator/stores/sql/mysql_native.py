"""MariaDB -> MariaDB: the target's schema from the source's own `SHOW CREATE` (issue 12, must-have 3).

Every copied table is created from its `SHOW CREATE TABLE`, verbatim (types, ENUM/SET, unsigned,
BIT, YEAR, JSON's check, generated columns, defaults, charsets and collations per table and per column,
CHECK constraints, the primary key, partitioning, comments), with three changes:

- secondary indexes (UNIQUE, KEY, FULLTEXT, SPATIAL, prefix) move to `after_load` as
  `ALTER TABLE ... ADD ... IF NOT EXISTS`: loading into a table with only its clustered primary key is
  faster, and MariaDB orders a table's keys by kind and then by creation order, so the final
  `SHOW CREATE TABLE` is the source's. An index that starts with the AUTO_INCREMENT column stays when
  no primary key does (MariaDB refuses a counter column outside any key);
- foreign keys move to `after_load` (so tables can be created and loaded in any order, cycles
  included); those to tables not copied, or naming dropped columns, are left out and listed;
- the `AUTO_INCREMENT=n` table option is left out of the CREATE and set in `after_load` with
  `ALTER TABLE ... AUTO_INCREMENT = n`, n being the source's counter: past every copied key (InnoDB
  moves a counter set below a table's largest key to just past it).

Dropped columns are left out of the table; a generated column computed from one, and any index, key,
check or foreign key that names one, is left out and listed. Generated columns are listed in
`generated`: the copy must not write them, MariaDB computes them.

Views, functions, procedures and triggers are recreated in `after_load` (routines, then views in
dependency order, then triggers in their source order) when every table they name is copied, every
view or routine they name is recreated and they name no dropped column; the others are listed in
`left_out`. The check is on words, conservatively: a body that merely mentions a skipped table's name
is left out too. They keep their DEFINER (the target's user needs the privilege to create objects for
it, as with `mariadb-dump`) and triggers and routines run under their own `sql_mode`, set around each.

MariaDB's DDL is not transactional, so every statement can run again after a crash part-way (resume):
`CREATE TABLE IF NOT EXISTS`, `ADD ... IF NOT EXISTS` for indexes and foreign keys, `CREATE OR REPLACE`
for views, routines and triggers, and `AUTO_INCREMENT = n` and `SET` are idempotent. Statements must
run in order on ONE connection (the `SET`s of `after_load` save and restore session variables), each
without parameters (`literal.execute_literal`: their text may hold a `%`). Foreign keys are added with
`foreign_key_checks = 0`, which makes InnoDB add them in place without scanning the rows: the copy
brings every parent of the rows it writes, and verification checks the references.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from migrator.stores.sql import ddl_tokens as ddl
from migrator.stores.sql.ddl_tokens import DdlError, Item, Token, TokenType
from migrator.stores.sql.mysql_objects import recreate_objects
from migrator.stores.sql.native_schema import NativeSchema

_INDEX_WORDS = {"unique", "key", "index", "fulltext", "spatial"}


def native_schema(source: Connection, tables: list[str], dropped: dict[str, set[str]]) -> NativeSchema:
    copied = {name.lower() for name in tables}
    before: list[str] = []
    indexes: list[str] = []
    foreign_keys: list[str] = []
    counters: list[str] = []
    left_out: list[str] = []
    generated: dict[str, list[str]] = {}
    gone_columns: dict[str, set[str]] = {}
    for name in tables:
        table = _table(source, name, copied, {column.lower() for column in dropped.get(name, set())})
        before.append(table.create)
        indexes.extend(table.indexes)
        foreign_keys.extend(table.foreign_keys)
        counters.extend(table.counter)
        left_out.extend(table.left_out)
        if table.generated:
            generated[name] = table.generated
        gone_columns[name.lower()] = table.gone
    after = [*indexes]
    if foreign_keys:
        after += [
            "SET @migrator_foreign_key_checks = @@SESSION.foreign_key_checks",
            "SET SESSION foreign_key_checks = 0",
            *foreign_keys,
            "SET SESSION foreign_key_checks = @migrator_foreign_key_checks",
        ]
    after += counters
    objects = recreate_objects(source, copied, gone_columns)
    return NativeSchema(
        before_load=before,
        after_load=after + objects.statements,
        left_out=left_out + objects.left_out,
        generated=generated,
    )


@dataclass
class _Table:
    create: str = ""
    indexes: list[str] = field(default_factory=list)
    foreign_keys: list[str] = field(default_factory=list)
    counter: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)


def _table(source: Connection, name: str, copied: set[str], dropped: set[str]) -> _Table:
    sql = str(source.exec_driver_sql(f"SHOW CREATE TABLE {quote(name)}").one()[1])
    tokens = ddl.tokenize(sql, "mysql")
    if [ddl.word(t) for t in tokens[:2]] != ["create", "table"]:
        raise DdlError(f"SHOW CREATE TABLE {name} did not return a CREATE TABLE: {sql[:60]}")
    body = ddl.body(sql, tokens)
    result = _Table(gone=set(dropped))
    columns = [item for item in body.items if item.tokens[0].token_type == TokenType.IDENTIFIER]
    _drop_dependent_columns(name, columns, result)
    counter_column = next((ddl.word(c.tokens[0]) for c in columns if _has_word(c, "auto_increment")), None)
    primary_starts = [_columns(item)[:1] for item in body.items if item.first == "primary key"]
    column_ids = {id(item) for item in columns}
    keep: list[Item] = []
    plain: list[str] = []
    for item in body.items:
        if id(item) in column_ids:
            if ddl.word(item.tokens[0]) not in result.gone:
                keep.append(item)
                if _has_word(item, "generated"):
                    result.generated.append(item.tokens[0].text)
            continue
        what = _describe(name, item)
        if gone := sorted(_quoted_words(item) & result.gone):
            result.left_out.append(f"{what} names dropped column(s) {', '.join(gone)}")
        elif _is_foreign_key(item):
            _foreign_key(name, item, copied, result)
        elif item.first not in _INDEX_WORDS or _holds_counter(item, counter_column, primary_starts):
            keep.append(item)
        elif item.first == "fulltext":
            # InnoDB adds one FULLTEXT index per statement.
            result.indexes.append(f"ALTER TABLE {quote(name)} ADD {_if_not_exists(item, _name_token(item))}")
        else:
            plain.append(f"ADD {_if_not_exists(item, _name_token(item))}")
    if plain:
        result.indexes.insert(0, f"ALTER TABLE {quote(name)} {', '.join(plain)}")
    start = tokens[1].end + 1
    result.create = _without_counter(f"{sql[:start]} IF NOT EXISTS{body.text(keep)[start:]}", result, name)
    return result


def _drop_dependent_columns(table: str, columns: list[Item], result: _Table) -> None:
    """Columns computed from (or checked against) a gone column go too, until none is left."""
    changed = True
    while changed:
        changed = False
        for item in columns:
            own = ddl.word(item.tokens[0])
            if own in result.gone:
                continue
            if gone := sorted((_quoted_words(item, skip=1) - {own}) & result.gone):
                result.gone.add(own)
                result.left_out.append(
                    f"column {table}.{item.tokens[0].text} names dropped column(s) {', '.join(gone)}"
                )
                changed = True


def _holds_counter(item: Item, counter: str | None, primary_starts: list[list[str]]) -> bool:
    """Whether the key must stay in the CREATE: InnoDB wants the AUTO_INCREMENT column to be the first
    column of some key, and the primary key does not start with it."""
    return counter is not None and _columns(item)[:1] == [counter] and [counter] not in primary_starts


def _foreign_key(table: str, item: Item, copied: set[str], result: _Table) -> None:
    words = [ddl.word(t) for t in item.tokens]
    at = words.index("references") + 1
    qualified = len(item.tokens) > at + 2 and item.tokens[at + 1].token_type == TokenType.DOT
    parent = item.tokens[at + 2 if qualified else at].text
    if qualified or parent.lower() not in copied:
        result.left_out.append(f"{_describe(table, item)} references {parent}, which is not copied")
        return
    result.foreign_keys.append(f"ALTER TABLE {quote(table)} ADD {_if_not_exists(item, _after_foreign_key(item))}")


def _without_counter(create: str, result: _Table, table: str) -> str:
    """The CREATE without its `AUTO_INCREMENT=n` table option; n goes to `ALTER TABLE ... AUTO_INCREMENT`."""
    tokens = ddl.tokenize(create, "mysql")
    closing = _closing_paren(tokens)
    for index in range(closing + 1, len(tokens) - 2):
        trio = tokens[index : index + 3]
        if ddl.word(trio[0]) == "auto_increment" and trio[1].token_type == TokenType.EQ:
            result.counter.append(f"ALTER TABLE {quote(table)} AUTO_INCREMENT = {int(trio[2].text)}")
            end = trio[2].end + 1
            return create[: trio[0].start] + create[end:].lstrip(" ")
    return create


def _closing_paren(tokens: list[Token]) -> int:
    depth = 0
    for index, token in enumerate(tokens):
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:
                return index
    raise DdlError("its column list is not closed")


def _is_foreign_key(item: Item) -> bool:
    return any(t.token_type == TokenType.FOREIGN_KEY for t in item.tokens)


def _has_word(item: Item, wanted: str) -> bool:
    return any(ddl.word(t) == wanted for t in item.tokens[1:] if t.token_type != TokenType.STRING)


def _quoted_words(item: Item, skip: int = 0) -> set[str]:
    # SHOW CREATE TABLE quotes every column it names with backticks, and nothing else: types and
    # keywords are bare, so a column called `date` is never confused with the type DATE.
    return {ddl.word(t) for t in item.tokens[skip:] if t.token_type == TokenType.IDENTIFIER}


def _columns(item: Item) -> list[str]:
    """The columns of a key's first parenthesised list, in order."""
    start = next(i for i, t in enumerate(item.tokens) if t.token_type == TokenType.L_PAREN)
    found: list[str] = []
    depth = 0
    for token in item.tokens[start:]:
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
        if depth == 0:
            break
        if depth == 1 and token.token_type == TokenType.IDENTIFIER:
            found.append(ddl.word(token))
    return found


def _name_token(item: Item) -> Token:
    return next(t for t in item.tokens if t.token_type == TokenType.IDENTIFIER or t.token_type == TokenType.L_PAREN)


def _after_foreign_key(item: Item) -> Token:
    at = next(i for i, t in enumerate(item.tokens) if t.token_type == TokenType.FOREIGN_KEY)
    return item.tokens[at + 1]


def _if_not_exists(item: Item, before: Token) -> str:
    offset = before.start - item.tokens[0].start
    return f"{item.text[:offset]}IF NOT EXISTS {item.text[offset:]}"


def _describe(table: str, item: Item) -> str:
    if item.first == "primary key":
        return f"primary key of {table}"
    kind = "foreign key" if _is_foreign_key(item) else "check" if _has_word(item, "check") else "index"
    name = next((t.text for t in item.tokens if t.token_type == TokenType.IDENTIFIER), "")
    return f"{kind} {table}.{name}"


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
