"""The simplifier's rules, case by case: what it folds, what it leaves to flagd, and what it reports."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.flags.facts import FixedAttributes
from migrator.flags.simplify import Simplifier

FIXED = {"country": "US", "user": {"tier": "gold"}, "regions": ["us-east", "us-west"], "zero": 0, "none": None}


def _simplify(rule: Any, dead_rules: Any = "drop") -> tuple[Any, Simplifier]:
    facts = FixedAttributes(FIXED)
    simplifier = Simplifier(facts, dead_rules=dead_rules, flag="f", facts_text=facts.describe())
    part = simplifier.simplify(rule)
    return (part.value if part.known else part.rule), simplifier


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"in": [{"var": "country"}, ["DE", "FR"]]}, False),
        ({"==": [{"var": "user.tier"}, "gold"]}, True),
        ({"in": ["us-east", {"var": "regions"}]}, True),
        ({"var": "country.length"}, 2),
        ({"cat": [{"var": "country"}, "-", {"var": "user.tier"}]}, "US-gold"),
        ({"and": [{"==": [{"var": "country"}, "US"]}, {"var": "age"}]}, {"var": "age"}),
        ({"or": [{"var": "age"}, {"==": [{"var": "country"}, "DE"]}]}, {"or": [{"var": "age"}, False]}),
        ({"missing": ["country", "age"]}, {"missing": ["country", "age"]}),  # age: not fixed
        ({"missing": ["country", "none"]}, ["none"]),
        ({"var": ["user.name", "anon"]}, {"var": ["user.name", "anon"]}),  # user.name: not fixed
        ({"var": "user"}, {"var": "user"}),  # the user has more than its tier
    ],
)
def test_folds(rule: Any, expected: Any) -> None:
    assert _simplify(rule)[0] == expected


@pytest.mark.parametrize(
    "rule",
    [
        {"==": [{"var": "none"}, {"var": "zero"}]},  # null == 0: false in JavaScript, true in Python's
        {"==": [{"var": "regions"}, {"var": "regions"}]},  # one list, compared by reference
        {"%": [-7, 3]},
        {"/": [1, {"var": "zero"}]},
        {"cat": [True]},
        {"cat": [{"+": [0.1, 0.2]}]},  # "0.3" in Python's evaluator, "0.30000000000000004" in JavaScript
        {"fractional": [["a", 50], ["b", 50]]},
        {">": [{"var": "$flagd.timestamp"}, 1700000000]},
        {"==": [{"var": "targetingKey"}, "u1"]},
        {"some": [{"var": "regions"}, {"==": [{"var": ""}, "us-east"]}]},
    ],
)
def test_left_to_the_evaluator(rule: Any) -> None:
    result, _ = _simplify(rule)
    assert isinstance(result, dict)


def test_list_compared_by_reference_keeps_its_reads() -> None:
    assert _simplify({"==": [{"var": "regions"}, {"var": "regions"}]})[0] == {
        "==": [{"var": "regions"}, {"var": "regions"}]
    }


def test_dead_branches_are_reported_with_path_and_reason() -> None:
    rule = {"if": [{"in": [{"var": "country"}, ["DE", "FR"]]}, "eu", {"var": "beta"}, "beta", "us"]}
    result, simplifier = _simplify(rule)
    assert result == {"if": [{"var": "beta"}, "beta", "us"]}
    assert [(r.path, r.reason) for r in simplifier.removed] == [
        (
            "targeting.if[1]",
            'condition {"in":[{"var":"country"},["DE","FR"]]} is never true when country = \'US\', '
            "user.tier = 'gold', regions = ['us-east', 'us-west'], zero = 0, none = None",
        )
    ]


def test_an_always_true_condition_shadows_what_follows() -> None:
    rule = {"if": [{"var": "beta"}, "beta", {"==": [{"var": "country"}, "US"]}, "us", {"var": "vip"}, "vip", "other"]}
    result, simplifier = _simplify(rule)
    assert result == {"if": [{"var": "beta"}, "beta", "us"]}
    assert [r.path for r in simplifier.removed] == ["targeting.if[5]", "targeting.if[6]"]


def test_keep_leaves_dead_rules_as_they_were() -> None:
    rule = {"if": [{"in": [{"var": "country"}, ["DE", "FR"]]}, "eu", {"var": "beta"}, "beta", "us"]}
    result, simplifier = _simplify(rule, dead_rules="keep")
    assert result == rule
    assert [r.path for r in simplifier.kept_dead] == ["targeting.if[1]"] and simplifier.removed == []


def test_nested_ifs_report_nested_paths() -> None:
    rule = {"if": [{"var": "beta"}, {"if": [{"==": [{"var": "country"}, "DE"]}, "de", "rest"]}, "other"]}
    result, simplifier = _simplify(rule)
    assert result == {"if": [{"var": "beta"}, "rest", "other"]}
    assert [r.path for r in simplifier.removed] == ["targeting.if[1].if[1]"]
