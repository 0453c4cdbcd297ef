"""DDL text read as tokens, so that parts can be taken out of it while the rest stays verbatim.

The native schema (issue 12, must-have 3) keeps the source database's own DDL and only removes items
from it: a dropped column, a foreign key to a table that is not copied. Quotes, comments and nesting
make a regular expression unsafe on arbitrary SQL, so statements are cut at token boundaries found by
sqlglot's tokenizer, which knows each dialect's quoting ('it''s', 'it\\'s', `a``b`, "x", [x]); every
token carries its offsets in the original text, and the text between two kept tokens is never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from migrator.errors import PermanentError

__all__ = [
    "Body",
    "DdlError",
    "Item",
    "Token",
    "TokenType",
    "after_parens",
    "body",
    "check_spans",
    "names",
    "tokenize",
    "word",
]

_NAME_TYPES = {TokenType.IDENTIFIER, TokenType.VAR}
_NOT_NAMES = {TokenType.STRING, TokenType.NUMBER, TokenType.HEX_STRING, TokenType.BIT_STRING, TokenType.NATIONAL_STRING}


class DdlError(PermanentError):
    """A statement could not be read as expected. A view, trigger or routine is then left out with
    this reason; a copied table's own DDL stops the run (reading it again would fail the same way)."""


def tokenize(sql: str, dialect: str) -> list[Token]:
    """`dialect` is sqlglot's name: 'mysql' or 'sqlite'."""
    try:
        return list(Dialect.get_or_raise(dialect).tokenize(sql))
    except TokenError as error:
        raise DdlError(f"its SQL could not be tokenized ({error})") from None


def word(token: Token) -> str:
    """The token as a name or keyword, lower case: `Foo`, "Foo", [Foo] and Foo all read 'foo'."""
    return token.text.lower()


def names(tokens: list[Token]) -> set[str]:
    """Every word of the statement that could name an object or a column (lower case). Keywords are
    included on purpose: a table may be called `order` or `key`, and a false match only makes an
    object be left out, never a wrong object be created."""
    return {
        word(t)
        for t in tokens
        if t.token_type not in _NOT_NAMES and (t.text[:1].isalpha() or t.text[:1] == "_" or t.token_type in _NAME_TYPES)
    }


@dataclass(frozen=True)
class Item:
    """One comma-separated entry of a CREATE TABLE's parenthesised list: a column or a constraint."""

    tokens: list[Token]
    lead: str  # the text before it since the previous item ended: the comma, spaces, comments
    text: str  # its own text, verbatim

    @property
    def first(self) -> str:
        return word(self.tokens[0])

    def without(self, start: int, end: int) -> Item:
        """The item without its tokens [start, end) and the spaces before them; the rest verbatim."""
        base = self.tokens[0].start
        cut_from = self.tokens[start].start - base
        cut_to = self.tokens[end - 1].end + 1 - base
        text = self.text[:cut_from].rstrip() + self.text[cut_to:]
        return Item(tokens=self.tokens[:start] + self.tokens[end:], lead=self.lead, text=text)


@dataclass(frozen=True)
class Body:
    """A CREATE TABLE split into the text up to its list's '(', the list's items, and the rest."""

    head: str
    items: list[Item]
    tail: str

    def text(self, keep: list[Item]) -> str:
        """The statement with only the items in `keep` (in their order), separators as in the source:
        the first kept item gets the first item's lead (the spaces after the '('), each later one its
        own (which starts with the comma before it)."""
        parts = [self.head]
        for position, item in enumerate(keep):
            parts.append(item.lead if position else self.items[0].lead)
            parts.append(item.text)
        parts.append(self.tail)
        return "".join(parts)


def body(sql: str, tokens: list[Token]) -> Body:
    """Split a CREATE TABLE at the top-level commas of its first parenthesised list."""
    opening = next((i for i, t in enumerate(tokens) if t.token_type == TokenType.L_PAREN), None)
    if opening is None:
        raise DdlError("it has no column list")
    items: list[Item] = []
    current: list[Token] = []
    depth = 0
    lead_start = tokens[opening].end + 1
    for index in range(opening + 1, len(tokens)):
        token = tokens[index]
        kind = token.token_type
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN and depth == 0:
            if not current:
                raise DdlError("its column list is empty or ends with a comma")
            items.append(_item(sql, current, lead_start))
            return Body(head=sql[: tokens[opening].end + 1], items=items, tail=sql[current[-1].end + 1 :])
        elif kind == TokenType.R_PAREN:
            depth -= 1
        if kind == TokenType.COMMA and depth == 0:
            if not current:
                raise DdlError("its column list has an empty entry")
            items.append(_item(sql, current, lead_start))
            lead_start = current[-1].end + 1
            current = []
            continue
        current.append(token)
    raise DdlError("its column list is not closed")


def _item(sql: str, tokens: list[Token], lead_start: int) -> Item:
    return Item(tokens=tokens, lead=sql[lead_start : tokens[0].start], text=sql[tokens[0].start : tokens[-1].end + 1])


def after_parens(tokens: list[Token], opening: int) -> int:
    """The index just past the parenthesis that closes the one at `opening`."""
    depth = 0
    for index in range(opening, len(tokens)):
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(tokens[index].token_type, 0)
        if depth == 0:
            return index + 1
    raise DdlError("a parenthesis is not closed")


def check_spans(tokens: list[Token]) -> list[tuple[int, int]]:
    """The [start, end) token spans of the `[CONSTRAINT name] CHECK (...)` clauses of a column."""
    spans = []
    for index, token in enumerate(tokens[:-1]):
        is_keyword = token.token_type != TokenType.IDENTIFIER
        if is_keyword and word(token) == "check" and tokens[index + 1].token_type == TokenType.L_PAREN:
            named = index >= 2 and word(tokens[index - 2]) == "constraint"
            spans.append((index - 2 if named else index, after_parens(tokens, index + 1)))
    return spans


def drop_dependent_columns(
    table: str,
    columns: dict[int, Item],
    gone: set[str],
    left_out: list[str],
    generated_from: Callable[[Item], set[str] | None],
    checked_names: Callable[[list[Token]], set[str]],
) -> None:
    """After dropping the `gone` columns (lower case) of `table`: a generated column computed from a
    gone column goes too (until none is left); a CHECK of a column that names a gone one is cut out of
    the column, which stays. `generated_from(item)`: the names a generated column's expression uses
    (None for a column that is not generated); `checked_names(tokens)`: the names a CHECK uses.
    Each column or check that goes is listed in `left_out`."""
    changed = True
    while changed:
        changed = False
        for item in columns.values():
            own = word(item.tokens[0])
            used = generated_from(item)
            names = sorted((used - {own}) & gone) if used is not None else []
            if own not in gone and names:
                gone.add(own)
                left_out.append(f"column {table}.{item.tokens[0].text} names dropped column(s) {', '.join(names)}")
                changed = True
    for key, item in columns.items():
        for start, end in reversed(check_spans(item.tokens)):
            if word(item.tokens[0]) not in gone and (names := sorted(checked_names(item.tokens[start:end]) & gone)):
                item = item.without(start, end)
                left_out.append(
                    f"check on column {table}.{item.tokens[0].text} names dropped column(s) {', '.join(names)}"
                )
        columns[key] = item
