"""JsonLogic's official test suite (tests/data/jsonlogic/tests.json): with the test's data given in full,
the simplifier folds every rule to the expected constant, and flagd's own evaluator (the oracle) agrees
with the suite and with the folded literal.

Cases whose rule uses an operation outside the ones migrator folds (map, filter, reduce, all, some, none,
and `?:`) are skipped: they are copied as they are, never folded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from migrator.flags.facts import AllKnown
from migrator.flags.simplify import Simplifier, representable
from tests.flags_oracle import jsonlogic

SUITE = Path(__file__).parent / "data" / "jsonlogic" / "tests.json"
NOT_FOLDED = {"map", "filter", "reduce", "all", "some", "none", "?:"}


def _cases() -> list[Any]:
    cases, heading = [], ""
    for index, entry in enumerate(json.loads(SUITE.read_text(encoding="utf-8"))):
        if isinstance(entry, str):
            heading = entry
            continue
        rule, data, expected = entry
        cases.append(pytest.param(rule, data, expected, id=f"{index}-{heading[:30]}"))
    return cases


def _operators(rule: Any) -> set[str]:
    if isinstance(rule, list):
        return set().union(*(_operators(item) for item in rule))
    if isinstance(rule, dict) and len(rule) == 1:
        ((operator, value),) = rule.items()
        return {operator} | _operators(value)
    return set()


def _same(a: Any, b: Any) -> bool:
    """JSON equality that tells true from 1 (Python's == does not)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b)
    return bool(a == b)


CASES = _cases()


def test_suite_size() -> None:
    skipped = [c for c in CASES if _operators(c.values[0]) & NOT_FOLDED]
    assert (len(CASES), len(skipped)) == (277, 40)  # 237 cases folded; docs/design-decisions.md says so


@pytest.mark.parametrize(("rule", "data", "expected"), CASES)
def test_folds_to_expected_constant(rule: Any, data: Any, expected: Any) -> None:
    outside = _operators(rule) & NOT_FOLDED
    if outside:
        pytest.skip(f"uses {', '.join(sorted(outside))}: copied as is, never folded")
    assert _same(jsonlogic(rule, data), expected), "the oracle disagrees with the suite"
    part = Simplifier(AllKnown(data)).simplify(rule)
    assert part.known, f"not folded: {json.dumps(part.rule)}"
    assert _same(part.value, expected)
    assert representable(part.value)
    assert _same(jsonlogic(part.value, data), expected), "the folded literal evaluates differently"
