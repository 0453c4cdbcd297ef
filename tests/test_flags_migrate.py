"""migrate_flags: selection, overrides, evaluators, dead rules, and renames against `fractional` bucketing
(flagd's own evaluator, openfeature-flagd-core, says which bucket each user lands in)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from migrator.flags import FlagsError, migrate_flags
from migrator.plan.model import FlagsSection
from tests.flags_oracle import Oracle

USERS = [f"user-{n}" for n in range(300)]


def _flag(targeting: Any = None, **fields: Any) -> dict[str, Any]:
    flag: dict[str, Any] = {
        "state": "ENABLED",
        "variants": {"red": "red", "green": "green", "blue": "blue"},
        "defaultVariant": "red",
    }
    if targeting is not None:
        flag["targeting"] = targeting
    return {**flag, **fields}


def _source() -> dict[str, Any]:
    return {
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "metadata": {"flagSetId": "global", "version": "7"},
        "$evaluators": {
            "is-eu": {"in": [{"var": "country"}, ["DE", "FR"]]},
            "is-staff": {"ends_with": [{"var": "email"}, "@acme.com"]},
            "staff-or-eu": {"or": [{"$ref": "is-staff"}, {"$ref": "is-eu"}]},
            "unused": {"==": [{"var": "tier"}, "gold"]},
        },
        "flags": {
            "feed.region": _flag({"if": [{"$ref": "is-eu"}, "blue", "green"]}),
            "feed.ranking": _flag({"if": [{"$ref": "staff-or-eu"}, "blue", None]}),
            "recsys.model": _flag(metadata={"owner": "ml"}),
            "experiments.colour": _flag({"fractional": [["red", 50], ["blue", 50]]}),
        },
    }


def _migrate(**rules: Any) -> Any:
    return migrate_flags(_source(), FlagsSection(**rules), source_name="global.flagd.json")


def _statuses(outcome: Any) -> dict[str, tuple[str | None, str]]:
    return {report.key: (report.target_key, report.status) for report in outcome.flags}


# -- selection ----------------------------------------------------------------------------------------


def test_include_and_exclude_by_key_glob() -> None:
    outcome = _migrate(include=["feed.*", "recsys.*", "experiments.*"], exclude=["experiments.*"])
    assert _statuses(outcome) == {
        "feed.region": ("feed.region", "copied"),
        "feed.ranking": ("feed.ranking", "copied"),
        "recsys.model": ("recsys.model", "copied"),
        "experiments.colour": (None, "excluded"),
    }
    assert list(outcome.document["flags"]) == ["feed.region", "feed.ranking", "recsys.model"]
    assert outcome.document["metadata"] == {"flagSetId": "global", "version": "7"}


def test_no_include_copies_every_flag() -> None:
    assert all(status == "copied" for _, status in _statuses(_migrate()).values())


def test_prefix_and_rename() -> None:
    outcome = _migrate(include=["feed.*", "recsys.*"], rename={"recsys.model": "recsys.model-us"}, prefix="us.")
    assert list(outcome.document["flags"]) == ["us.feed.region", "us.feed.ranking", "us.recsys.model-us"]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            {"include": ["feed.*"], "set": {"recsys.model": {"state": "DISABLED"}}},
            "flags.set: flag 'recsys.model' is excluded",
        ),
        ({"set": {"nope": {"state": "DISABLED"}}}, "flags.set: flag 'nope' is not in the source"),
        ({"rename": {"nope": "x"}}, "flags.rename: flag 'nope' is not in the source"),
        ({"rename": {"feed.region": "feed.ranking"}}, "would both become 'feed.ranking'"),
        ({"set": {"recsys.model": {"defaultvariant": "blue"}}}, "'defaultvariant' is not a part of a flag"),
        ({"context": {"targetingKey": "u1"}}, "'targetingKey' cannot be fixed"),
    ],
)
def test_plan_mistakes_are_refused(rules: dict[str, Any], message: str) -> None:
    with pytest.raises(FlagsError, match=message.replace(".", r"\.").replace("(", r"\(")) as caught:
        _migrate(**rules)
    assert caught.value.exit_code == 2


def test_not_a_flag_document() -> None:
    with pytest.raises(FlagsError, match=r"global\.flagd\.json: not a flagd flag-definition document"):
        migrate_flags({"features": []}, FlagsSection(), source_name="global.flagd.json")


# -- overrides ----------------------------------------------------------------------------------------


def test_set_deep_merges_into_the_flag() -> None:
    override = {
        "defaultVariant": "blue",
        "variants": {"green": "#0f0", "purple": "purple"},
        "metadata": {"region": "us"},
    }
    outcome = _migrate(include=["recsys.*"], set={"recsys.model": override})
    flag = outcome.document["flags"]["recsys.model"]
    assert flag["defaultVariant"] == "blue"
    assert flag["variants"] == {"red": "red", "green": "#0f0", "blue": "blue", "purple": "purple"}
    assert flag["metadata"] == {"owner": "ml", "region": "us"}
    assert _statuses(outcome)["recsys.model"] == ("recsys.model", "overridden")
    assert outcome.flags[2].notes == ["override merged: defaultVariant, metadata, variants"]


def test_set_adds_metadata_to_a_flag_that_has_none() -> None:
    """A nested override merged into a field the flag lacks (it once failed: the merge read the
    flag's missing field instead of the merged one)."""
    outcome = _migrate(include=["feed.region"], set={"feed.region": {"metadata": {"owner": "us-team"}}})
    assert outcome.document["flags"]["feed.region"]["metadata"] == {"owner": "us-team"}


def test_set_replaces_targeting_and_null_removes() -> None:
    outcome = _migrate(
        include=["feed.*"],
        set={
            "feed.region": {"targeting": {"if": [{"==": [{"var": "tier"}, "gold"]}, "blue", None]}},
            "feed.ranking": {"targeting": None, "metadata": {"owner": None}},
        },
    )
    flags = outcome.document["flags"]
    assert flags["feed.region"]["targeting"] == {"if": [{"==": [{"var": "tier"}, "gold"]}, "blue", None]}
    assert "targeting" not in flags["feed.ranking"]
    assert outcome.evaluators == []  # neither flag refers to an evaluator any more
    assert "$evaluators" not in outcome.document


# -- evaluators ---------------------------------------------------------------------------------------


def test_only_the_evaluators_copied_flags_use_come_along() -> None:
    outcome = _migrate(include=["feed.ranking"])
    # staff-or-eu refers to is-staff and is-eu: both come along; unused and feed.region's use do not matter
    assert outcome.evaluators == ["is-eu", "is-staff", "staff-or-eu"]
    assert list(outcome.document["$evaluators"]) == ["is-eu", "is-staff", "staff-or-eu"]
    assert _migrate(include=["recsys.*"]).evaluators == []


def test_a_ref_to_a_missing_evaluator_is_refused() -> None:
    source = _source()
    source["flags"]["feed.region"]["targeting"] = {"if": [{"$ref": "is-eu"}, "blue", {"$ref": "is-us"}, "green", None]}
    with pytest.raises(
        FlagsError, match=r"flag 'feed.region': flags\.feed\.region\.targeting\.if\[2\] refers to evaluator 'is-us'"
    ):
        migrate_flags(source, FlagsSection(), source_name="global.flagd.json")
    # ... also when the plan's context would drop the branch that holds it
    with pytest.raises(FlagsError, match="'is-us'"):
        migrate_flags(source, FlagsSection(context={"country": "DE"}), source_name="global.flagd.json")
    # ... but not in a flag that is not copied
    migrate_flags(source, FlagsSection(exclude=["feed.region"]), source_name="global.flagd.json")


# -- simplification ---------------------------------------------------------------------------------------


def test_dead_rules_drop_keep_fail() -> None:
    dropped = _migrate(include=["feed.*"], context={"country": "US"})
    region = dropped.flags[0]
    assert dropped.document["flags"]["feed.region"] == {**_flag(), "defaultVariant": "green"}
    assert [(r.path, r.reason) for r in region.removed] == [
        ("targeting.if[1]", 'condition {"$ref":"is-eu"} is never true when country = \'US\'')
    ]
    # feed.ranking keeps is-staff (unknown), and with it the shared evaluators it needs
    assert dropped.document["flags"]["feed.ranking"]["targeting"] == {"if": [{"$ref": "staff-or-eu"}, "blue", None]}
    assert dropped.evaluators == ["is-eu", "is-staff", "staff-or-eu"]

    kept = _migrate(include=["feed.*"], context={"country": "US"}, dead_rules="keep")
    assert kept.document["flags"]["feed.region"] == _source()["flags"]["feed.region"]
    assert kept.flags[0].kept_dead == region.removed and kept.flags[0].removed == []

    with pytest.raises(FlagsError, match=r"flag 'feed.region': targeting\.if\[1\] can never be chosen"):
        _migrate(include=["feed.*"], context={"country": "US"}, dead_rules="fail")


def test_simplified_flags_resolve_like_the_source_for_us_users() -> None:
    outcome = _migrate(context={"country": "US"})
    original, target = Oracle(_source()), Oracle(outcome.document)
    for email in ("a@acme.com", "b@example.org", None):
        attributes = {"country": "US"} | ({"email": email} if email else {})
        for key in ("feed.region", "feed.ranking", "experiments.colour"):
            assert target.resolve(key, attributes, "user-7") == original.resolve(key, attributes, "user-7")


# -- renames and fractional bucketing ------------------------------------------------------------------


def _buckets(document: dict[str, Any], key: str, attributes: dict[str, Any] | None = None) -> list[Any]:
    oracle = Oracle(document)
    return [oracle.resolve(key, {"email": f"{user}@x.org", **(attributes or {})}, user) for user in USERS]


def test_renaming_a_fractional_flag_moves_users_so_it_is_refused() -> None:
    source = _source()
    renamed = copy.deepcopy(source)
    renamed["flags"]["us.experiments.colour"] = renamed["flags"].pop("experiments.colour")
    # why the refusal: under the new key a good share of users get another variant
    moved = sum(
        a != b
        for a, b in zip(_buckets(source, "experiments.colour"), _buckets(renamed, "us.experiments.colour"), strict=True)
    )
    assert moved > len(USERS) // 4
    with pytest.raises(
        FlagsError,
        match=r"flag 'experiments.colour' is renamed to 'us.experiments.colour', but "
        r"flags\.experiments\.colour\.targeting\.fractional buckets users by the flag key",
    ):
        _migrate(include=["experiments.*"], prefix="us.")


def test_shorthand_fractional_cannot_keep_cbor_buckets_under_a_new_key() -> None:
    with pytest.raises(FlagsError, match=r"buckets users by \[flag key, targeting key\] \(flagd's CBOR bucketing\)"):
        _migrate(include=["experiments.*"], prefix="us.", bucketing="keep-old-key")


def test_shorthand_fractional_rewritten_for_string_bucketing() -> None:
    outcome = migrate_flags(
        _source(),
        FlagsSection(include=["experiments.*"], prefix="us.", bucketing="keep-old-key"),
        source_name="global.flagd.json",
        bucketing_version="string",
    )
    # flagd's string bucketing hashes flagKey + targetingKey for the shorthand: the same string, same bucket
    assert outcome.document["flags"]["us.experiments.colour"]["targeting"] == {
        "fractional": [{"cat": ["experiments.colour", {"var": "targetingKey"}]}, ["red", 50], ["blue", 50]]
    }


def test_keep_old_key_rewrite_keeps_every_user_in_their_bucket() -> None:
    seeded = {
        "fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "email"}]}, ["red", 34], ["green", 33], ["blue", 33]]
    }
    source = _source()
    source["flags"]["experiments.colour"]["targeting"] = seeded
    source["$evaluators"]["rollout"] = copy.deepcopy(seeded)
    source["flags"]["experiments.shared"] = _flag({"if": [{"$ref": "is-staff"}, "green", {"$ref": "rollout"}]})
    rules = FlagsSection(
        include=["experiments.*"], rename={"experiments.colour": "colour"}, prefix="us.", bucketing="keep-old-key"
    )
    outcome = migrate_flags(source, rules, source_name="global.flagd.json")

    flags = outcome.document["flags"]
    assert flags["us.colour"]["targeting"]["fractional"][0] == {"cat": ["experiments.colour", {"var": "email"}]}
    # the evaluator buckets by the flag that uses it: inlined into that flag, then rewritten
    assert flags["us.experiments.shared"]["targeting"]["if"][2]["fractional"][0] == {
        "cat": ["experiments.shared", {"var": "email"}]
    }
    assert "rollout" not in outcome.evaluators
    assert _buckets(outcome.document, "us.colour") == _buckets(source, "experiments.colour")
    assert _buckets(outcome.document, "us.experiments.shared") == _buckets(source, "experiments.shared")
    assert any("keep bucketing by the old key" in note for note in outcome.flags[3].notes)


def test_bucketing_that_does_not_read_the_key_renames_freely() -> None:
    source = _source()
    source["flags"]["experiments.colour"]["targeting"] = {"fractional": [{"var": "email"}, ["red", 50], ["blue", 50]]}
    outcome = migrate_flags(source, FlagsSection(include=["experiments.*"], prefix="us."), source_name="s.json")
    assert outcome.document["flags"]["us.experiments.colour"] == source["flags"]["experiments.colour"]
    assert _buckets(outcome.document, "us.experiments.colour") == _buckets(source, "experiments.colour")


def test_a_bare_flag_key_seed_becomes_a_rule() -> None:
    source = _source()
    source["flags"]["experiments.colour"]["targeting"] = {
        "fractional": [{"var": "$flagd.flagKey"}, ["red", 50], ["blue", 50]]
    }
    rules = FlagsSection(include=["experiments.*"], prefix="us.", bucketing="keep-old-key")
    outcome = migrate_flags(source, rules, source_name="s.json")
    assert outcome.document["flags"]["us.experiments.colour"]["targeting"]["fractional"][0] == {
        "cat": ["experiments.colour"]
    }
    assert _buckets(outcome.document, "us.experiments.colour") == _buckets(source, "experiments.colour")
