"""Shared `$evaluators`: which ones a flag's targeting refers to, and refusing references to none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from migrator.flags.errors import FlagsError
from migrator.flags.schema import json_path


def references(rule: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Every `{"$ref": name}` in a rule, with its path inside the rule."""
    if isinstance(rule, dict):
        if len(rule) == 1 and isinstance(rule.get("$ref"), str):
            yield rule["$ref"], path
            return
        for key, value in rule.items():
            yield from references(value, (*path, key))
    elif isinstance(rule, list):
        for index, value in enumerate(rule):
            yield from references(value, (*path, index))


def used_evaluators(rules: dict[str, Any], evaluators: dict[str, Any]) -> list[str]:
    """The evaluators the given rules (flag key -> targeting) refer to, directly or through another
    evaluator, in the source's order. A reference to an evaluator that is not there is refused: flagd
    would leave `{"$ref": ...}` in the rule and fail every evaluation of the flag."""
    needed: set[str] = set()
    pending = [(key, f"flags.{key}.targeting", rule) for key, rule in rules.items()]
    while pending:
        flag, owner, rule = pending.pop()
        for name, path in references(rule):
            if name not in evaluators:
                where = json_path((owner, *path)) if path else owner
                raise FlagsError(
                    f"flag {flag!r}: {where} refers to evaluator {name!r}, which the source's $evaluators "
                    f"do not define ({', '.join(sorted(evaluators)) or 'none defined'})",
                    flag=flag,
                    path=where,
                    ref=name,
                )
            if name not in needed:
                needed.add(name)
                pending.append((flag, f"$evaluators.{name}", evaluators[name]))
    return [name for name in evaluators if name in needed]
