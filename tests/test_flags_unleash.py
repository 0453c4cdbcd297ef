"""The Unleash import (migrator/flags/unleash.py), checked against Unleash's own client specification
tests (tests/data/unleash-client-specification, Apache-2.0) with flagd's own evaluator as the oracle:
every test whose feature converts exactly must get Unleash's expected answer from the converted flags.

Tests of features that convert approximately (gradual rollouts between 0 and 100 %, dates on flagd's
clock) or not at all (regular expressions, CIDR, case-insensitive operators, dependencies, variants,
the delta API) are counted, and the counts are pinned, so that a change of the converter that moves a
test from one class to another is seen.
"""

from __future__ import annotations

import copy
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from openfeature.contrib.tools.flagd import core as flagd_core  # the test extra's oracle: flagd's own evaluator
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import OpenFeatureError

from migrator.flags.unleash import (
    APPROXIMATE,
    EXACT,
    NOT_CONVERTED,
    convert_unleash,
    looks_like_unleash,
    unleash_context,
)

SPEC_DIR = Path(__file__).parent / "data" / "unleash-client-specification"
SPEC_FILES = sorted(SPEC_DIR.glob("[0-9]*.json"))

# What the converter does with the 22 specification files today (tests and variantTests together).
EXPECTED_COUNTS = {EXACT: 125, APPROXIMATE: 24, NOT_CONVERTED: 130}


@pytest.fixture(autouse=True)
def _quiet_flagd_core() -> Any:
    # flagd-core logs at ERROR for a missing bucketing key; the answer, not the log, is what we check.
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def _answer(core: Any, flag: str, context: dict[str, Any]) -> bool:
    """What the flagd oracle answers, with `false` as the application's default (Unleash's answer for
    an unknown or disabled feature)."""
    targeting_key, attributes = unleash_context(context)
    try:
        return bool(core.resolve_boolean_value(flag, False, EvaluationContext(targeting_key, attributes)).value)
    except OpenFeatureError:
        return False  # flag not found: the caller's default


def _classified(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """Every test of a specification file with its class: (class, test, the oracle or None)."""
    state = spec["state"]
    tests = spec.get("tests", [])
    variant_tests = spec.get("variantTests", [])
    if not looks_like_unleash(state):  # the delta API's event stream: not a feature export
        return [(NOT_CONVERTED, test, None) for test in tests + variant_tests]
    converted = convert_unleash(state)
    core = flagd_core.FlagdCore()
    core.set_flags(copy.deepcopy(converted.document))  # the store rewrites what it is given
    classified = []
    for test in tests:
        feature = converted.features.get(test["toggleName"])
        classified.append((feature.conversion if feature else EXACT, test, core))
    # Variants are not carried over (a flagd flag answers one value): no variant test converts.
    classified += [(NOT_CONVERTED, test, None) for test in variant_tests]
    return classified


@pytest.mark.parametrize("spec_file", SPEC_FILES, ids=lambda p: p.stem)
def test_exact_conversions_answer_as_unleash(spec_file: Path) -> None:
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    wrong = []
    for conversion, test, core in _classified(spec):
        if conversion != EXACT:
            continue
        answer = _answer(core, test["toggleName"], test["context"])
        if answer != test["expectedResult"]:
            wrong.append(f"{test['description']}: flagd says {answer}, Unleash {test['expectedResult']}")
    assert not wrong, "\n".join(wrong)


def test_the_counts_of_converted_tests() -> None:
    counts: Counter[str] = Counter()
    for spec_file in SPEC_FILES:
        counts.update(conversion for conversion, _, _ in _classified(json.loads(spec_file.read_text("utf-8"))))
    assert dict(counts) == EXPECTED_COUNTS


def test_converted_documents_pass_flagds_schema() -> None:
    from migrator.flags import validate_document

    for spec_file in SPEC_FILES:
        state = json.loads(spec_file.read_text(encoding="utf-8"))["state"]
        if looks_like_unleash(state):
            assert validate_document(convert_unleash(state).document) == [], spec_file.name


def test_a_gradual_rollout_is_approximate_and_says_why() -> None:
    export = {
        "version": 1,
        "features": [
            {
                "name": "checkout.new",
                "enabled": True,
                "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "25", "stickiness": "userId"}}],
            }
        ],
    }
    converted = convert_unleash(export)
    feature = converted.features["checkout.new"]
    assert feature.conversion == APPROXIMATE
    assert "buckets move" in feature.notes[0]
    core = flagd_core.FlagdCore()
    core.set_flags(copy.deepcopy(converted.document))
    answers = [_answer(core, "checkout.new", {"userId": f"user-{i}"}) for i in range(2000)]
    assert 0.2 < sum(answers) / len(answers) < 0.3  # the same share of users is on
    assert _answer(core, "checkout.new", {}) is False  # no user id: off, as in Unleash


def test_what_cannot_be_converted_is_left_out_with_the_reason() -> None:
    export = {
        "version": 1,
        "features": [
            {
                "name": "beta",
                "enabled": True,
                "strategies": [
                    {
                        "name": "default",
                        "constraints": [{"contextName": "email", "operator": "REGEX", "value": ".*@acme.com"}],
                    }
                ],
            },
            {"name": "child", "enabled": True, "strategies": [], "dependencies": [{"feature": "beta"}]},
        ],
    }
    converted = convert_unleash(export)
    assert converted.document["flags"] == {}
    assert converted.to_dict()["not_converted"] == 2
    assert "REGEX" in converted.features["beta"].notes[-1]
    assert "depends on other features (beta)" in converted.features["child"].notes[-1]


def test_flagd_documents_are_not_taken_for_unleash() -> None:
    assert not looks_like_unleash({"flags": {}})
    assert looks_like_unleash({"version": 1, "features": []})


def test_the_admin_export_of_one_environment_converts_like_the_client_shape() -> None:
    export = {
        "features": [
            {"name": "checkout.new", "type": "release", "project": "shop"},
            {"name": "checkout.old", "archived": True},
            {"name": "beta", "project": "shop"},
        ],
        "featureStrategies": [
            {
                "name": "default",
                "featureName": "checkout.new",
                "environment": "production",
                "constraints": [{"contextName": "country", "operator": "IN", "values": ["US"]}],
                "segments": [],
            },
            {"name": "default", "featureName": "checkout.new", "environment": "production", "disabled": True},
            {"name": "default", "featureName": "beta", "environment": "production", "segments": [1]},
        ],
        "featureEnvironments": [
            {"featureName": "checkout.new", "environment": "production", "enabled": True, "name": "production"},
            {"featureName": "beta", "environment": "production", "enabled": True, "name": "production"},
        ],
        "segments": [{"id": 1, "name": "insiders"}],  # the admin export names segments, without constraints
        "tagTypes": [],
    }
    converted = convert_unleash(export)
    assert set(converted.document["flags"]) == {"checkout.new"}
    flag = converted.document["flags"]["checkout.new"]
    assert flag["targeting"] == {"if": [{"in": [{"var": "country"}, ["US"]]}, "on", "off"]}
    assert flag["metadata"] == {"type": "release", "project": "shop"}
    assert "segment 1's constraints are not in the export" in converted.features["beta"].notes[-1]


def test_an_admin_export_of_several_environments_is_refused() -> None:
    from migrator.errors import UsageError

    export = {
        "features": [{"name": "a"}],
        "featureStrategies": [
            {"name": "default", "featureName": "a", "environment": "production"},
            {"name": "default", "featureName": "a", "environment": "development"},
        ],
    }
    with pytest.raises(UsageError, match=r"several environments \(development, production\)"):
        convert_unleash(export)
