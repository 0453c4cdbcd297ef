"""What is known about the evaluation data in the target: the plan's fixed attributes (`context`).

flagd evaluates targeting against the request's evaluation context, plus `targetingKey` and `$flagd`
(`flagKey`, `timestamp`), which it sets itself. A plan's `context` fixes attributes that hold for every
request in the target (`country: US`); everything else stays unknown. Nested objects in `context` fix
their leaves (`{user: {country: US}}` fixes `user.country`, not the whole `user`, whose other attributes
vary), and a dotted key is the same path (`user.country: US`).
"""

from __future__ import annotations

from typing import Any, Protocol

from migrator.flags.errors import FlagsError
from migrator.flags.jsonlogic import NotFoldable, lookup, walk

# Set by flagd on every evaluation, whatever the request says: never fixed, never folded.
RESERVED = ("targetingKey", "$flagd")


class Facts(Protocol):
    def read(self, key: Any) -> tuple[bool, Any]:
        """(True, value) when `{"var": key}` reads the same value (None when absent) in every request of
        the target, else (False, None)."""
        ...


class FixedAttributes:
    """The plan's `context`: the attributes it names are known, every other attribute is not."""

    def __init__(self, context: dict[str, Any]):
        self.leaves: dict[tuple[str, ...], Any] = {}
        self._flatten(context, ())

    def _flatten(self, value: dict[str, Any], prefix: tuple[str, ...]) -> None:
        for key, item in value.items():
            path = (*prefix, *str(key).split("."))
            if path[0] in RESERVED:
                raise FlagsError(
                    f"flags.context: {'.'.join(path)!r} cannot be fixed: flagd sets `targetingKey` and "
                    "`$flagd.*` itself on every evaluation",
                    path=f"flags.context.{key}",
                )
            if isinstance(item, dict) and item:
                self._flatten(item, path)
            else:
                self.leaves[path] = item

    def read(self, key: Any) -> tuple[bool, Any]:
        if not isinstance(key, str) or not key:
            return False, None  # the whole data, or a numeric index: not fixed
        parts = tuple(key.split("."))
        for leaf, value in self.leaves.items():
            if parts[: len(leaf)] == leaf:
                return True, walk(value, list(parts[len(leaf) :]))
        return False, None

    def describe(self) -> str:
        return ", ".join(f"{'.'.join(path)} = {value!r}" for path, value in self.leaves.items())


class AllKnown:
    """Every piece of the data is known (the JsonLogic suite's cases: data given in full)."""

    def __init__(self, data: Any):
        self.data = data

    def read(self, key: Any) -> tuple[bool, Any]:
        try:
            return True, lookup(self.data, key)
        except NotFoldable:
            return False, None
