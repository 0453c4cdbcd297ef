"""Column transforms (SPEC §3): applied to each row between the source and the target.

`hash` is HMAC-SHA256 under MIGRATOR_HASH_KEY over a canonical text of the value, so the same
input gives the same output in every table and every run (joins on hashed e-mails still work),
and nobody without the key can test a guess. The output fits the column: hex text cut to the
declared length, or a non-negative integer that fits the column's width.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migrator.errors import UsageError
from migrator.plan.model import ColumnRule
from migrator.subset.schema import Column
from migrator.variables import HASH_KEY_VARIABLE

Row = dict[str, Any]


def hash_value(value: Any, key: bytes, column: Column) -> Any:
    if value is None:
        return None
    digest = hmac.new(key, _canonical(value).encode(), hashlib.sha256).digest()
    if column.kind == "integer":
        bits = (column.length or 32) - 1
        return int.from_bytes(digest[:8], "big") & ((1 << bits) - 1)
    text = digest.hex()
    return text[: column.length] if column.length else text


def mask_value(value: Any) -> Any:
    """Keep the shape (length, separators, case) and hide the content."""
    if value is None:
        return None
    return "".join("X" if ch.isupper() else "x" if ch.isalpha() else "0" if ch.isdigit() else ch for ch in str(value))


def _canonical(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


@dataclass(frozen=True)
class RowTransform:
    """A table's column rules, as functions: `values` maps each changed column to the function of
    its value that replaces it (nullify, const, mask, hash); `dropped` are the columns removed. A
    copy that moves rows inside the database (SQLite to SQLite) applies `values` there, column by
    column; every other path calls the transform on each row."""

    values: dict[str, Callable[[Any], Any]]
    dropped: frozenset[str]

    def __call__(self, row: Row) -> Row:
        for name in self.dropped:
            row.pop(name, None)
        for name, value_of in self.values.items():
            row[name] = value_of(row.get(name))
        return row


def row_transform(
    rules: dict[str, ColumnRule], columns: dict[str, Column], hash_key: bytes | None
) -> RowTransform | None:
    """One transform applying a table's column rules to a row, or None when the table has none."""
    values: dict[str, Callable[[Any], Any]] = {}
    dropped = set()
    for name, rule in rules.items():
        column = columns[name]
        if rule.action == "keep":
            continue
        if rule.action == "drop":
            dropped.add(name)
        elif rule.action == "nullify":
            values[name] = lambda _value: None
        elif rule.action == "const":
            values[name] = _constant(rule.value)
        elif rule.action == "mask":
            values[name] = mask_value
        elif rule.action == "hash":
            if hash_key is None:
                raise UsageError(f"the plan hashes columns: set {HASH_KEY_VARIABLE} to a secret key")
            values[name] = _hashed(hash_key, column)
    if not values and not dropped:
        return None
    return RowTransform(values, frozenset(dropped))


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _value: value


def _hashed(key: bytes, column: Column) -> Callable[[Any], Any]:
    return lambda value: hash_value(value, key, column)


def hash_key_from(environ: dict[str, str]) -> bytes | None:
    value = environ.get(HASH_KEY_VARIABLE)
    return value.encode() if value else None
