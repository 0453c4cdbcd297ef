"""Canonical JSON: one byte string per value, whoever writes it.

A line's SHA-256 is part of the next line and a receipt's signature covers its JSON, so the text must
not depend on dict order, the JSON library's spacing or the platform: keys sorted, no whitespace,
UTF-8 without escaping (``ensure_ascii=False``). Values JSON has no type for (datetimes, Decimals, UUIDs)
become their string forms; anything else is refused rather than written in a form nobody can re-create.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

GENESIS = "0" * 64  # the `prev` of the first line: the SHA-256 of nothing that came before


def _as_text(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no canonical JSON form; convert it to a string first")


def canonical_json(value: Any) -> str:
    # allow_nan=False: NaN and Infinity are not JSON, and other readers would not round-trip them.
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_as_text
    )


def canonical_bytes(value: Any) -> bytes:
    return canonical_json(value).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
