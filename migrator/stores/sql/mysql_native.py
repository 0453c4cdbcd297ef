"""MariaDB -> MariaDB: the target's schema from the source's own `SHOW CREATE` (issue 12, must-have 3).

Every copied table is created from its `SHOW CREATE TABLE`, verbatim (types, ENUM/SET, unsigned,
BIT, YEAR, JSON's check, generated columns, defaults, charsets and collations per table and per column,
CHECK constraints, the primary key, partitioning, comments), but for the ENUM/SET members and string
defaults it prints with a '?' for a character it lost (mysql_lost_characters.py), and with three changes:

- secondary indexes (UNIQUE, KEY, FULLTEXT, SPATIAL, prefix) move to `after_load` as
  `ALTER TABLE ... ADD ... IF NOT EXISTS`: loading into a table with only its clustered primary key is
  faster, and MariaDB orders a table's keys by kind and then by creation order, so the final
  `SHOW CREATE TABLE` is the source's. A table whose AUTO_INCREMENT column does not start its primary
  key keeps all its keys in the CREATE (InnoDB refuses a counter column that starts no key);
- foreign keys move to `after_load` (so tables can be created and loaded in any order, cycles
  included); those to tables not copied, or naming dropped columns, are left out and listed;
- the `AUTO_INCREMENT=n` table option is left out of the CREATE and set in `after_load` with
  `ALTER TABLE ... AUTO_INCREMENT = n`, n being the source's counter: past every copied key (InnoDB
  moves a counter set below a table's largest key to just past it).

Dropped columns are left out of the table; a generated column computed from one, and any index, key,
check or foreign key that names one, is left out and listed; a column's own CHECK that names one is cut
from the column, which stays (listed). Generated columns are listed in `generated`: the copy must not
write them, MariaDB computes them.

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

MariaDB only (`is_mariadb`): MySQL's SHOW CREATE differs and it has neither `ADD INDEX IF NOT EXISTS`
nor `CREATE OR REPLACE TRIGGER`, so the builder refuses a MySQL server and such a source keeps the
reflected schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from migrator.stores.sql import ddl_tokens as ddl
from migrator.stores.sql.ddl_tokens import DdlError, Item, Token, TokenType
from migrator.stores.sql.mysql_lost_characters import with_lost_characters
from migrator.stores.sql.mysql_objects import recreate_objects

if TYPE_CHECKING:
    from migrator.stores.sql.native_schema import NativeSchema

_INDEX_WORDS = {"unique", "key", "index", "fulltext", "spatial"}


def is_mariadb(source: Connection) -> bool:
    """Whether the server is MariaDB: MySQL prints other DDL and lacks `ADD INDEX IF NOT EXISTS` and
    `CREATE OR REPLACE TRIGGER`, so a MySQL source keeps the reflected schema."""
    return "mariadb" in str(source.exec_driver_sql("SELECT VERSION()").scalar_one()).lower()


def native_schema(source: Connection, tables: list[str], dropped: dict[str, set[str]]) -> NativeSchema:
    if not is_mariadb(source):
        raise DdlError("the native schema is made from MariaDB's SHOW CREATE; this source is MySQL")
    with _backquoted_names(source):
        return _native_schema(source, tables, dropped)


@contextmanager
def _backquoted_names(source: Connection) -> Iterator[None]:
    """SHOW CREATE quotes names with backticks, unless the session's sql_mode has ANSI_QUOTES (then
    with double quotes, which read as strings here): the mode is taken off while reading, then restored."""
    mode = str(source.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar_one())
    if "ANSI_QUOTES" not in mode.upper().split(","):
        yield
        return
    plain = ",".join(part for part in mode.split(",") if part.upper() != "ANSI_QUOTES")
    source.exec_driver_sql(f"SET SESSION sql_mode = '{plain}'")
    try:
        yield
    finally:
        source.exec_driver_sql(f"SET SESSION sql_mode = '{mode}'")


def _native_schema(source: Connection, tables: list[str], dropped: dict[str, set[str]]) -> NativeSchema:
    # Here, not at the top: native_schema imports the builders to list them.
    from migrator.stores.sql.native_schema import NativeSchema

    copied = {name.lower() for name in tables}
    # First every table's columns, so that a foreign key can see what its parent lost.
    parsed = [_parse(source, name, {column.lower() for column in dropped.get(name, set())}) for name in tables]
    gone = {table.name.lower(): table.gone for table in parsed}
    before: list[str] = []
    indexes: list[str] = []
    foreign_keys: list[str] = []
    counters: list[str] = []
    left_out: list[str] = []
    generated: dict[str, list[str]] = {}
    for table in parsed:
        _split_items(table, copied, gone)
        before.append(table.create)
        indexes.extend(table.indexes)
        foreign_keys.extend(table.foreign_keys)
        counters.extend(table.counter)
        left_out.extend(table.left_out)
        if table.generated:
            generated[table.name] = table.generated
    after = [*indexes]
    if foreign_keys:
        after += [
            "SET @migrator_foreign_key_checks = @@SESSION.foreign_key_checks",
            "SET SESSION foreign_key_checks = 0",
            *foreign_keys,
            "SET SESSION foreign_key_checks = @migrator_foreign_key_checks",
        ]
    after += counters
    objects = recreate_objects(source, copied, gone)
    return NativeSchema(
        before_load=before,
        after_load=after + objects.statements,
        left_out=left_out + objects.left_out,
        generated=generated,
    )


@dataclass
class _Table:
    name: str
    sql: str
    body: ddl.Body
    columns: dict[int, Item]  # id of the source's item -> the item kept (a CHECK naming a gone column cut)
    gone: set[str]  # dropped, and generated from a dropped one (lower case)
    create: str = ""
    indexes: list[str] = field(default_factory=list)
    foreign_keys: list[str] = field(default_factory=list)
    counter: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)


def _parse(source: Connection, name: str, dropped: set[str]) -> _Table:
    sql = str(source.exec_driver_sql(f"SHOW CREATE TABLE {quote(name)}").one()[1])
    try:
        sql = with_lost_characters(source, name, sql)
        tokens = ddl.tokenize(sql, "mysql")
        if [ddl.word(t) for t in tokens[:2]] != ["create", "table"]:
            raise DdlError(f"it is not a CREATE TABLE: {sql[:60]}")
        body = ddl.body(sql, tokens)
    except DdlError as error:
        raise DdlError(f"the native schema cannot read SHOW CREATE TABLE {name}: {error}") from None
    columns = {id(item): item for item in body.items if item.tokens[0].token_type == TokenType.IDENTIFIER}
    table = _Table(name=name, sql=sql, body=body, columns=columns, gone=set(dropped))
    _drop_dependent_columns(table)
    return table


def _split_items(table: _Table, copied: set[str], gone: dict[str, set[str]]) -> None:
    """Which items stay in the CREATE, which are added after the load, which are left out."""
    name = table.name
    counters = (ddl.word(c.tokens[0]) for c in table.columns.values() if _has_word(c, "auto_increment"))
    counter_column = next(counters, None)
    primary_starts = [_columns(item)[:1] for item in table.body.items if item.first == "primary key"]
    # InnoDB wants an AUTO_INCREMENT column to start some key. When the primary key does not start
    # with it, the table keeps all its keys in the CREATE: keeping only the one that does would
    # change their order in SHOW CREATE TABLE (MariaDB lists keys of one kind in creation order).
    keys_stay = counter_column is not None and [counter_column] not in primary_starts
    keep: list[Item] = []
    plain: list[str] = []
    for item in table.body.items:
        if id(item) in table.columns:
            if ddl.word(item.tokens[0]) not in table.gone:
                keep.append(table.columns[id(item)])
                if _has_word(item, "generated"):
                    table.generated.append(item.tokens[0].text)
            continue
        what = _describe(name, item)
        if names := sorted(_local_words(item) & table.gone):
            table.left_out.append(f"{what} names dropped column(s) {', '.join(names)}")
        elif _is_foreign_key(item):
            _foreign_key(table, item, copied, gone)
        elif item.first not in _INDEX_WORDS or keys_stay:
            keep.append(item)
        elif item.first == "fulltext":
            # InnoDB adds one FULLTEXT index per statement.
            table.indexes.append(f"ALTER TABLE {quote(name)} ADD {_if_not_exists(item, _name_token(item))}")
        else:
            plain.append(f"ADD {_if_not_exists(item, _name_token(item))}")
    if plain:
        table.indexes.insert(0, f"ALTER TABLE {quote(name)} {', '.join(plain)}")
    sql = table.sql
    start = ddl.tokenize(sql, "mysql")[1].end + 1
    table.create = _without_counter(f"{sql[:start]} IF NOT EXISTS{table.body.text(keep)[start:]}", table)


def _drop_dependent_columns(table: _Table) -> None:
    """A generated column computed from a gone column goes too; a CHECK naming one is cut out."""
    ddl.drop_dependent_columns(
        table.name,
        table.columns,
        table.gone,
        table.left_out,
        lambda item: _quoted_words(item, skip=1) if _has_word(item, "generated") else None,
        lambda tokens: {ddl.word(t) for t in tokens if t.token_type == TokenType.IDENTIFIER},
    )


def _foreign_key(table: _Table, item: Item, copied: set[str], gone: dict[str, set[str]]) -> None:
    words = [ddl.word(t) for t in item.tokens]
    at = words.index("references") + 1
    qualified = len(item.tokens) > at + 2 and item.tokens[at + 1].token_type == TokenType.DOT
    parent = item.tokens[at + 2 if qualified else at].text
    what = _describe(table.name, item)
    if qualified or parent.lower() not in copied:
        table.left_out.append(f"{what} references {parent}, which is not copied")
    elif names := sorted(_quoted_words(item, skip=at + 1) & gone[parent.lower()]):
        table.left_out.append(f"{what} references dropped column(s) {parent}.{', '.join(names)}")
    else:
        statement = f"ALTER TABLE {quote(table.name)} ADD {_if_not_exists(item, _after_foreign_key(item))}"
        table.foreign_keys.append(statement)


def _without_counter(create: str, table: _Table) -> str:
    """The CREATE without its `AUTO_INCREMENT=n` table option; n goes to `ALTER TABLE ... AUTO_INCREMENT`."""
    tokens = ddl.tokenize(create, "mysql")
    closing = _closing_paren(tokens)
    for index in range(closing + 1, len(tokens) - 2):
        trio = tokens[index : index + 3]
        if ddl.word(trio[0]) == "auto_increment" and trio[1].token_type == TokenType.EQ:
            table.counter.append(f"ALTER TABLE {quote(table.name)} AUTO_INCREMENT = {int(trio[2].text)}")
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
    """Whether a keyword is among the item's words (a quoted name or a string is not a keyword)."""
    keywords = (t for t in item.tokens[1:] if t.token_type not in (TokenType.STRING, TokenType.IDENTIFIER))
    return any(ddl.word(t) == wanted for t in keywords)


def _local_words(item: Item) -> set[str]:
    """The columns a key or constraint names of its own table: for a foreign key, not its parent's."""
    tokens = item.tokens
    # From the first parenthesis: a key's or constraint's own name comes before it.
    start = next((i for i, t in enumerate(tokens) if t.token_type == TokenType.L_PAREN), len(tokens))
    at = next((i for i, t in enumerate(tokens) if t.token_type == TokenType.REFERENCES), len(tokens))
    return {ddl.word(t) for t in tokens[start:at] if t.token_type == TokenType.IDENTIFIER}


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
