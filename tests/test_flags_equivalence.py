"""Equivalence, proven by example: for generated targeting rules and evaluation contexts, the source flag
and the flag migrator writes for the target resolve to the same value, variant and error in flagd's own
evaluator (openfeature-flagd-core, evaluation time frozen), for every context in which the plan's fixed
attributes hold.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from migrator.flags import migrate_flags, validate_document
from migrator.plan.model import FlagsSection
from tests.flags_oracle import Oracle

FIXED = {"country": "US", "plan": {"level": 3}, "regions": ["us-east", "us-west"]}
EXAMPLES = 250

VARIANTS = {name: f"value-{name}" for name in ("a", "b", "c", "US", "true", "false", "1", "0", "3")}
ATTRIBUTES = [
    "country",
    "plan.level",
    "plan.name",
    "regions",
    "age",
    "email",
    "version",
    "tier",
    "beta",
    "tags",
    "absent",
]
SPECIAL = ["$flagd.flagKey", "$flagd.timestamp", "targetingKey", "country.length", "regions.1", "plan"]

strings = st.sampled_from(["US", "DE", "FR", "a", "b", "c", "", "1", "3", "gold", "x@acme.com", "1.2.3", "true"])
numbers = st.one_of(st.integers(-3, 20), st.sampled_from([0.5, 2.0, 1767225600]))
literals = st.one_of(strings, numbers, st.booleans(), st.none())
variables = st.builds(
    lambda name, default: {"var": name} if default is None else {"var": [name, default]},
    st.sampled_from(ATTRIBUTES + SPECIAL),
    st.one_of(st.none(), strings, st.integers(0, 5)),
)
versions = st.sampled_from(["1.2.3", "2.0.0", "1.10.0-beta.1", "0.9.9"])


def _compound(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Operations with the argument counts flagd's schema allows."""
    two = st.lists(children, min_size=2, max_size=2)
    some = st.lists(children, min_size=1, max_size=3)

    def op(name: str, arguments: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return arguments.map(lambda args: {name: args})

    return st.one_of(
        *(op(name, two) for name in ("==", "===", "!=", "!==", ">", ">=", "/", "%")),
        *(op(name, st.lists(children, min_size=2, max_size=3)) for name in ("<", "<=", "substr")),
        *(op(name, some) for name in ("and", "or", "if", "+", "-", "min", "max", "cat", "merge")),
        op("*", st.lists(children, min_size=2, max_size=3)),
        op("!", st.lists(children, min_size=1, max_size=1)),
        op("!!", st.lists(children, min_size=1, max_size=1)),
        st.tuples(children, st.lists(strings, max_size=3)).map(lambda t: {"in": [t[0], t[1]]}),
        st.tuples(children, strings).map(lambda t: {"in": [t[0], t[1]]}),
        st.lists(st.sampled_from(ATTRIBUTES), min_size=1, max_size=3).map(lambda names: {"missing": names}),
        st.tuples(st.integers(0, 3), st.lists(st.sampled_from(ATTRIBUTES), min_size=1, max_size=3)).map(
            lambda t: {"missing_some": [t[0], t[1]]}
        ),
        st.tuples(st.sampled_from(["starts_with", "ends_with"]), variables, strings).map(
            lambda t: {t[0]: [t[1], t[2]]}
        ),
        st.tuples(
            st.one_of(versions, st.just({"var": "version"})),
            st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "^", "~"]),
            versions,
        ).map(lambda t: {"sem_ver": list(t)}),
    )


plain_expressions = st.recursive(st.one_of(literals, variables), _compound, max_leaves=6)
shared = st.just({"$ref": "shared"})  # the document's one evaluator, itself a generated expression
expressions = st.recursive(st.one_of(literals, variables, shared), _compound, max_leaves=8)
variant_names = st.sampled_from([*VARIANTS, "nope"]).map(lambda name: name if name != "nope" else "missing-variant")
fractional = st.just({"fractional": [["a", 50], ["b", 50]]})
branches = st.one_of(variant_names, variant_names, fractional, st.none(), expressions)


@st.composite
def targetings(draw: st.DrawFn) -> dict[str, Any]:
    """An if-chain, as flags are mostly written, or any operation at the top."""
    if draw(st.integers(0, 4)) == 0:
        return draw(_compound(expressions))
    pairs = draw(st.lists(st.tuples(expressions, branches), min_size=1, max_size=4))
    arguments = [item for pair in pairs for item in pair]
    if draw(st.booleans()):
        arguments.append(draw(branches))
    return {"if": arguments}


contexts = st.fixed_dictionaries(
    {},
    optional={
        "age": st.integers(-1, 40),
        "email": st.sampled_from(["x@acme.com", "y@other.org", "", "a"]),
        "version": st.one_of(versions, st.just("v1")),
        "tier": strings,
        "beta": st.booleans(),
        "tags": st.lists(strings, max_size=2),
        "plan_name": st.sampled_from(["pro", "free"]),
    },
)


def _with_fixed(attributes: dict[str, Any]) -> dict[str, Any]:
    context = {key: value for key, value in attributes.items() if key != "plan_name"}
    context["country"] = FIXED["country"]
    context["plan"] = {"level": FIXED["plan"]["level"]}
    context["regions"] = list(FIXED["regions"])
    if "plan_name" in attributes:
        context["plan"]["name"] = attributes["plan_name"]
    return context


@settings(derandomize=True, max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    targeting=targetings(),
    evaluator=_compound(plain_expressions),
    dead_rules=st.sampled_from(["drop", "keep"]),
    default=st.sampled_from(["a", "b", None]),
    requests=st.lists(st.tuples(contexts, st.sampled_from(["user-1", "user-2", None])), min_size=1, max_size=5),
)
def test_simplified_flag_resolves_like_the_source(
    targeting: Any, evaluator: Any, dead_rules: Any, default: Any, requests: Any
) -> None:
    flag: dict[str, Any] = {"state": "ENABLED", "variants": VARIANTS, "targeting": targeting}
    if default is not None:
        flag["defaultVariant"] = default
    source = {"$evaluators": {"shared": evaluator}, "flags": {"f": flag}}
    assert validate_document(source) == [], "the generator made a rule flagd's schema rejects"

    outcome = migrate_flags(source, FlagsSection(context=FIXED, dead_rules=dead_rules), source_name="generated.json")

    result = outcome.document["flags"]["f"]
    event(
        "targeting folded to a constant"
        if "targeting" not in result
        else "targeting unchanged"
        if result["targeting"] == targeting
        else "targeting simplified"
    )
    event(f"rules removed: {min(outcome.rules_removed, 3)}")

    original, simplified = Oracle(source), Oracle(outcome.document)
    for attributes, targeting_key in requests:
        context = _with_fixed(attributes)
        expected = original.resolve("f", context, targeting_key)
        event(f"source resolves to {expected[0]}")
        assert simplified.resolve("f", context, targeting_key) == expected, (
            f"context {context}, targeting key {targeting_key}: simplified {result}"
        )
