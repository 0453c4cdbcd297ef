"""Order-independent content digests of tables, computed as a stream.

A table's digest is its row count and the sum, modulo 2**64, of a 64-bit hash of every row. A sum
(unlike XOR) counts a duplicated row twice, so a multiset is compared, not a set; and it needs no
sort and no memory beyond one batch. Values are hashed in a canonical text form so that the same
row read from SQLite, PostgreSQL or MariaDB (a datetime, a Decimal, a bool) hashes the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MASK = (1 << 64) - 1


@dataclass(frozen=True)
class Digest:
    rows: int
    checksum: str  # 16 hex digits

    @staticmethod
    def of(rows: Iterable[Sequence[Any]]) -> Digest:
        total, count = 0, 0
        for row in rows:
            total = (total + row_hash(row)) & MASK
            count += 1
        return Digest(count, f"{total:016x}")

    def plus(self, other: Digest) -> Digest:
        total = (int(self.checksum, 16) + int(other.checksum, 16)) & MASK
        return Digest(self.rows + other.rows, f"{total:016x}")


EMPTY = Digest(0, f"{0:016x}")


def combine(checksums: Iterable[str], rows: int) -> tuple[str, Digest]:
    """Units' "METHOD:HEX" checksums summed into the table's digest; the method must be one."""
    methods, total = set(), 0
    for item in checksums:
        method, _, value = item.partition(":")
        methods.add(method)
        total = (total + int(value, 16)) & MASK
    method = methods.pop() if len(methods) == 1 else "mixed" if methods else "python"
    return method, Digest(rows, f"{total:016x}")


def row_hash(row: Sequence[Any]) -> int:
    text = "\x1f".join(map(canonical, row))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def canonical(value: Any) -> str:
    """One spelling per value, whatever database it came from."""
    kind = type(value)
    if kind is str:  # the common cases first: this runs for every value of every row
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    if value is None:
        return "\x00"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
            return str(int(value))
        return _decimal(Decimal(repr(value)))
    if isinstance(value, Decimal):
        # Its exact text, scale included (1.50 is not 1.5 in a numeric(p,2)), however many digits.
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # a duration: [-]hours:MM:SS.ffffff, the hours unbounded
        micro = abs(value) // dt.timedelta(microseconds=1)
        seconds, micro = divmod(micro, 1_000_000)
        sign = "-" if value < dt.timedelta(0) else ""
        return f"{sign}{seconds // 3600}:{seconds // 60 % 60:02}:{seconds % 60:02}.{micro:06}"
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return str(value)


def _decimal(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(value.to_integral_value())
    return format(value.normalize(), "f")
