"""Narrow a root's condition to N of its rows, chosen by a seed, the same on every dialect.

The choice: a single integer key is ordered by a seeded multiplicative hash computed in SQL,
`((key % P) * A + S) % P` with P = 46337 (a prime whose square fits a 32-bit integer, so the product
never overflows a PostgreSQL `integer` or needs a cast), A and S drawn from the seed, ties broken by
the key itself. `%` truncates the same way in SQLite, PostgreSQL and MariaDB, so one seed picks the
same rows on each. Any other key (text, composite) is ordered by the key and the seed skips
`seed * N` rows: deterministic for a dialect, but text collations differ between dialects.

The sample is a subquery wrapped in a derived table, because MariaDB refuses `LIMIT` directly inside
`IN (...)`. The table's own `where` joins the condition inside, so that N rows really are kept.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PRIME = 46337  # prime, and PRIME * PRIME < 2**31: the hash's product fits any integer column type
ALIAS = "migrator_sample"


@dataclass(frozen=True)
class RootShape:
    """What the sample needs of a root table, its names already quoted for the source's dialect."""

    table_sql: str  # the table as SQL
    key_sql: tuple[str, ...]  # its key columns as SQL
    integer_key: bool  # a single integer column


def multiplier_and_shift(seed: int) -> tuple[int, int]:
    """The hash's parameters for a seed: A in 1..P-1 (never 0, which would make every row tie)."""
    rng = random.Random(f"migrator-sample-{seed}")
    return rng.randrange(1, PRIME), rng.randrange(PRIME)


def order_sql(shape: RootShape, seed: int) -> str:
    """The ORDER BY of the sample."""
    if shape.integer_key:
        key = shape.key_sql[0]
        a, s = multiplier_and_shift(seed)
        return f"(({key} % {PRIME}) * {a} + {s}) % {PRIME}, {key}"
    return ", ".join(shape.key_sql)


def sampled_condition(shape: RootShape, condition: str, where: str | None, rows: int, seed: int) -> str:
    """The root's condition narrowed to `rows` of its rows; the rest of the subset follows from them."""
    order = order_sql(shape, seed)
    skip = 0 if shape.integer_key else seed * rows
    inner_where = f"({condition}\n)" + (f" AND ({where}\n)" if where else "")
    keys = ", ".join(shape.key_sql)
    offset = f" OFFSET {skip}" if skip else ""
    picked = (
        f"SELECT {keys} FROM (SELECT {keys} FROM {shape.table_sql} WHERE {inner_where} "
        f"ORDER BY {order} LIMIT {rows}{offset}) AS {ALIAS}"
    )
    target = keys if len(shape.key_sql) == 1 else f"({keys})"
    return f"({condition}\n) AND {target} IN ({picked})"
