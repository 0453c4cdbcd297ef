"""Which rows differ between two key-ordered streams, found by a merge: no key set in memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from migrator.verify.digest import row_hash

Keyed = Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]


@dataclass
class Differences:
    missing: list[tuple[Any, ...]] = field(default_factory=list)  # in the subset, not in the target
    extra: list[tuple[Any, ...]] = field(default_factory=list)  # in the target, not in the subset
    changed: list[tuple[Any, ...]] = field(default_factory=list)  # in both, with other content
    complete: bool = True  # False when the two sides sort keys differently (collations) and we stopped


def differences(expected: Keyed, actual: Keyed, limit: int = 5) -> Differences:
    """Walk both streams in key order; collect up to `limit` examples of each kind of difference."""
    found = Differences()
    left, right = next(expected, None), next(actual, None)
    last_left: tuple[Any, ...] | None = None
    last_right: tuple[Any, ...] | None = None
    while left is not None or right is not None:
        if _full(found, limit):
            break
        try:
            if right is None or (left is not None and left[0] < right[0]):
                assert left is not None
                _add(found.missing, left[0], limit)
                last_left, left = left[0], next(expected, None)
            elif left is None or right[0] < left[0]:
                _add(found.extra, right[0], limit)
                last_right, right = right[0], next(actual, None)
            else:
                if row_hash(left[1]) != row_hash(right[1]):
                    _add(found.changed, left[0], limit)
                last_left, last_right = left[0], right[0]
                left, right = next(expected, None), next(actual, None)
        except TypeError:
            found.complete = False  # keys that do not compare (mixed types): no examples
            break
        if _out_of_order(last_left, left) or _out_of_order(last_right, right):
            found.complete = False
            break
    return found


def _add(examples: list[tuple[Any, ...]], key: tuple[Any, ...], limit: int) -> None:
    if len(examples) < limit:
        examples.append(key)


def _full(found: Differences, limit: int) -> bool:
    return len(found.missing) >= limit and len(found.extra) >= limit and len(found.changed) >= limit


def _out_of_order(previous: tuple[Any, ...] | None, current: tuple[tuple[Any, ...], Any] | None) -> bool:
    return previous is not None and current is not None and current[0] < previous
