"""How one key range's query looks its rows' parents up, so that it costs its range, not the table
(issue 17; the query itself is built by subset_sql.py).

A table's subset query looks each reference up in the parent's kept set (`fk IN (SELECT key FROM
kept_parent)`). For the whole table that is best hashed once. For one range of N it is not: a
planner that finds one pass over the parent cheaper than probing for the range's rows hashes the
parent's whole kept set, and N ranges then pay for it N times. So a range's query reads each parent
one of three ways, in this order:

* **bounded**: the range's bounds are pushed into the parent's kept set where the range's column is
  the reference (likes' ranges of user_id read the kept users of those ids alone), and that kept
  set's own lookups are built the same way, bounded by the same values;
* **whole**: the parent's kept set is read whole where the tables it reads hold, by their estimated
  rows, no more than the range does (a region table, the users of a big table's range): hashing
  it then costs no more than the range itself;
* **probed**: one index probe per row otherwise, a correlated EXISTS that `OFFSET 0` keeps from
  being turned into a join (PostgreSQL treats it as an optimization fence), so the planner cannot
  choose a pass over the parent.

Which rows are kept is the same as with the table's own query: every row of the range has its
reference inside the bounds, and the EXISTS is the IN it replaces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnElement

from migrator.subset.schema import Table


@dataclass(frozen=True)
class RangeRead:
    """What one range's query is built for: its bounds [lower, upper) as the ledger holds them (on
    the key's first columns), the rows the range holds (estimated), and each table's estimated rows."""

    lower: tuple[Any, ...] | None
    upper: tuple[Any, ...] | None
    rows: float
    sizes: Mapping[str, float]


@dataclass(frozen=True)
class ColumnBounds:
    """The values one column of a range's rows lies within: low <= value < high, or <= high when the
    range's upper bound is a whole key of several columns (its first column may equal it)."""

    column: str
    low: Any | None
    high: Any | None
    high_inclusive: bool
    rows: float
    sizes: Mapping[str, float]

    @classmethod
    def of_range(cls, key: Sequence[str], read: RangeRead) -> ColumnBounds:
        low = None if read.lower is None else read.lower[0]
        high = None if read.upper is None else read.upper[0]
        inclusive = read.upper is not None and len(read.upper) > 1
        return cls(key[0], low, high, inclusive, read.rows, read.sizes)

    def on(self, column: str) -> ColumnBounds:
        """The same values, on the column a reference lands on."""
        return replace(self, column=column)

    def conditions(self, column: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        found = []
        if self.low is not None:
            found.append(column >= self.low)
        if self.high is not None:
            found.append(column <= self.high if self.high_inclusive else column < self.high)
        return found

    def costs_less(self, kept: sa.FromClause) -> bool:
        """Reading the kept set whole costs no more than the range: the tables it reads hold no more
        rows, by their estimates, than the range does. A table without an estimate (never analyzed)
        counts as bigger than any range."""
        total = 0.0
        for name in _tables_read(kept):
            size = self.sizes.get(name, -1.0)
            total += size if size >= 0 else math.inf
        return total <= self.rows


def probe(kept: sa.FromClause, pairs: list[tuple[ColumnElement[Any], str]]) -> ColumnElement[bool]:
    """EXISTS a kept row whose `column` equals the row's value, for each (value, column) pair: one
    index probe per row (see the module's docstring)."""
    other = kept.alias()
    found = sa.select(sa.literal(1)).select_from(other).where(*[other.c[c] == value for value, c in pairs])
    return sa.exists(found.offset(0))


def indexed(table: sa.Table, info: Table, columns: Sequence[str]) -> bool:
    """An index leads with `columns` (in any order): a probe for their values reads a few rows."""
    wanted = set(columns)
    leading = [tuple(info.primary_key), *info.unique_keys, *[tuple(c.name for c in i.columns) for i in table.indexes]]
    return any(set(key[: len(wanted)]) == wanted for key in leading)


def _tables_read(kept: sa.FromClause) -> set[str]:
    """The tables a kept set's definition reads, however deep (its parents' kept sets too)."""
    return {element.key for element in visitors.iterate(kept) if isinstance(element, sa.Table)}
