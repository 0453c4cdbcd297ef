"""The characters MariaDB's `SHOW CREATE TABLE` loses, found again on the server (issue 12, item 3).

MariaDB prints a table's DDL through its catalog's character set, utf8mb3: in an ENUM or SET member
and in a column's string DEFAULT, a character beyond the Basic Multilingual Plane (an emoji) is
printed as '?'. The table itself keeps the real text (MariaDB 10.11: a column ENUM('ünï 😀') holds
and compares 'ünï 😀', refuses 'ünï ?', and `information_schema.COLUMNS` under any `SET NAMES`, even
`binary`, says 'ünï ?' too), so a table created from that DDL would refuse the source's values or
default to another text. (A COMMENT is another matter: MariaDB stores it in utf8mb3 and keeps the
'?' itself, which the copy then keeps as well; generated columns' and CHECKs' expressions are printed
whole.)

Where a member or default printed has a '?', the server is asked for the real one, read-only:

- a member by its number, assigned to a variable declared `TYPE OF` the column in an anonymous block
  (`BEGIN NOT ATOMIC`): an ENUM variable set to n holds the n-th member, a SET variable set to
  2**(n-1) the n-th; no row is needed and nothing is written;
- a default by `DEFAULT(column)` over a row that is not there (a LEFT JOIN ... ON FALSE), so that a
  table without rows answers as well.

Each one that differs from the text printed is written into the DDL as a hexadecimal literal of its
bytes in the column's character set (X'...', which MariaDB takes as the member or default whatever
the session's character set and sql_mode); the rest of the DDL stays verbatim. A table whose DDL has
no '?' in these places costs no query.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from migrator.stores.sql import ddl_tokens as ddl
from migrator.stores.sql.ddl_tokens import Token, TokenType
from migrator.stores.sql.literal import execute_literal


@dataclass(frozen=True)
class _Literal:
    """A string literal of the DDL that may have lost characters: a member (`number` from 1) or a
    column's default (`number` 0)."""

    column: str  # as SHOW CREATE quotes it, `name`
    kind: str  # "enum", "set" or "default"
    number: int
    token: Token


def with_lost_characters(source: Connection, table: str, sql: str) -> str:
    """`sql`, the `SHOW CREATE TABLE` of `table`, with every ENUM/SET member and string default as
    the server holds it."""
    suspects = _suspects(sql)
    if not suspects:
        return sql
    found = _members(source, table, [s for s in suspects if s.kind != "default"])
    found.update(_defaults(source, table, [s for s in suspects if s.kind == "default"]))
    replaced = sql
    # From the end, so that the offsets of the tokens before stay right.
    for suspect in sorted(suspects, key=lambda s: s.token.start, reverse=True):
        own_bytes, text = found[(suspect.column, suspect.number)]
        if text != suspect.token.text:
            replaced = f"{replaced[: suspect.token.start]}X'{own_bytes}'{replaced[suspect.token.end + 1 :]}"
    return replaced


def _suspects(sql: str) -> list[_Literal]:
    """The members and defaults printed with a '?', each with its column and number."""
    if "?" not in sql:
        return []
    tokens = ddl.tokenize(sql, "mysql")
    found: list[_Literal] = []
    for item in ddl.body(sql, tokens).items:
        column = item.tokens[0]
        if column.token_type != TokenType.IDENTIFIER or len(item.tokens) < 3:
            continue
        name = _quoted(column.text)
        kind = ddl.word(item.tokens[1])
        if kind in ("enum", "set") and item.tokens[2].token_type == TokenType.L_PAREN:
            members = item.tokens[3 : ddl.after_parens(item.tokens, 2) - 1]
            strings = [t for t in members if t.token_type == TokenType.STRING]
            if any("?" in t.text for t in strings):
                found += [_Literal(name, kind, n, t) for n, t in enumerate(strings, start=1)]
        for before, token in zip(item.tokens, item.tokens[1:], strict=False):
            is_default = before.token_type == TokenType.DEFAULT
            if is_default and token.token_type == TokenType.STRING and "?" in token.text:
                found.append(_Literal(name, "default", 0, token))
    return found


def _members(source: Connection, table: str, suspects: list[_Literal]) -> dict[tuple[str, int], tuple[str, str]]:
    """(column, number) -> (hex of the member in the column's character set, its text)."""
    return _members_of(source, _quoted(table), [(s.column, s.kind, s.number) for s in suspects])


def held_members(source: Connection, table: str, schema: str | None, column: str, kind: str, count: int) -> list[str]:
    """The `count` members of an ENUM or SET column as the table holds them: SQLAlchemy reflects them
    from the catalog, where an emoji is a '?' (the type map's CHECK needs the real ones)."""
    quoted = _quoted(table) if schema is None else f"{_quoted(schema)}.{_quoted(table)}"
    wanted = [(_quoted(column), kind, n) for n in range(1, count + 1)]
    found = _members_of(source, quoted, wanted)
    return [found[(name, number)][1] for name, _, number in wanted]


def _members_of(
    source: Connection, quoted_table: str, suspects: list[tuple[str, str, int]]
) -> dict[tuple[str, int], tuple[str, str]]:
    """(column, kind, number) each -> (hex of the member in the column's character set, its text)."""
    if not suspects:
        return {}
    variables = {column: f"m{n}" for n, column in enumerate(dict.fromkeys(column for column, _, _ in suspects))}
    lines = [f"DECLARE {v} TYPE OF {quoted_table}.{c};" for c, v in variables.items()]
    lines.append("DECLARE found LONGTEXT DEFAULT '';")
    for column, kind, number in suspects:
        variable = variables[column]
        value = number if kind == "enum" else 1 << (number - 1)
        lines.append(f"SET {variable} = {value};")
        lines.append(f"SET found = CONCAT(found, HEX({variable}), ':', HEX(CONVERT({variable} USING utf8mb4)), ' ');")
    lines.append("SELECT found;")
    block = "BEGIN NOT ATOMIC\n" + "\n".join(lines) + "\nEND"
    answer = str(execute_literal(source, block).scalar_one())
    pairs = [pair.split(":") for pair in answer.split()]
    found = zip(suspects, pairs, strict=True)
    return {(column, number): (own, _text(utf8)) for (column, _, number), (own, utf8) in found}


def _defaults(source: Connection, table: str, suspects: list[_Literal]) -> dict[tuple[str, int], tuple[str, str]]:
    if not suspects:
        return {}
    quoted = _quoted(table)
    selected = ", ".join(
        f"HEX(DEFAULT({quoted}.{s.column})), HEX(CONVERT(DEFAULT({quoted}.{s.column}) USING utf8mb4))" for s in suspects
    )
    row = execute_literal(source, f"SELECT {selected} FROM (SELECT 1) AS one LEFT JOIN {quoted} ON FALSE").one()
    return {(s.column, 0): (str(row[2 * n]), _text(str(row[2 * n + 1]))) for n, s in enumerate(suspects)}


def _text(hexadecimal: str) -> str:
    return bytes.fromhex(hexadecimal).decode("utf-8", errors="replace")


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
