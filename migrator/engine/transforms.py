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
from typing import Any

from migrator.errors import UsageError
from migrator.plan.model import ColumnRule
from migrator.subset.schema import Column
from migrator.variables import HASH_KEY_VARIABLE

Row = dict[str, Any]
RowTransform = Callable[[Row], Row]


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


def row_transform(
    rules: dict[str, ColumnRule], columns: dict[str, Column], hash_key: bytes | None
) -> RowTransform | None:
    """One function applying a table's column rules to a row, or None when the table has none."""
    steps: list[Callable[[Row], None]] = []
    for name, rule in rules.items():
        column = columns[name]
        if rule.action == "keep":
            continue
        if rule.action == "drop":
            steps.append(lambda row, n=name: row.pop(n, None))  # type: ignore[misc]
        elif rule.action == "nullify":
            steps.append(lambda row, n=name: row.__setitem__(n, None))  # type: ignore[misc]
        elif rule.action == "const":
            steps.append(lambda row, n=name, v=rule.value: row.__setitem__(n, v))  # type: ignore[misc]
        elif rule.action == "mask":
            steps.append(lambda row, n=name: row.__setitem__(n, mask_value(row[n])))  # type: ignore[misc]
        elif rule.action == "hash":
            if hash_key is None:
                raise UsageError(f"the plan hashes columns: set {HASH_KEY_VARIABLE} to a secret key")
            steps.append(lambda row, n=name, c=column: row.__setitem__(n, hash_value(row[n], hash_key, c)))  # type: ignore[misc]
    if not steps:
        return None

    def apply(row: Row) -> Row:
        for step in steps:
            step(row)
        return row

    return apply


def hash_key_from(environ: dict[str, str]) -> bytes | None:
    value = environ.get(HASH_KEY_VARIABLE)
    return value.encode() if value else None
