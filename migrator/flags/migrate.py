"""migrate_flags: a source flagd document and the plan's `flags` rules -> the target's document and report.

The steps, per selected flag: apply the `set` override, partially evaluate the targeting with the plan's
`context`, make a rename safe for `fractional` bucketing; then bring along only the `$evaluators` the
copied flags still use and validate the result against flagd's schema. Pure: no I/O.
"""

from __future__ import annotations

import copy
from typing import Any

from migrator.flags.bucketing import BucketingVersion, keep_bucketing
from migrator.flags.errors import FlagsError
from migrator.flags.evaluators import used_evaluators
from migrator.flags.outcome import FlagReport, FlagsOutcome
from migrator.flags.overrides import apply_override
from migrator.flags.schema import validate_document
from migrator.flags.selection import target_keys
from migrator.flags.targeting import settle_targeting
from migrator.plan.model import FlagsSection


def _flags_of(document: Any, source_name: str) -> dict[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("flags"), dict):
        raise FlagsError(
            f"{source_name}: not a flagd flag-definition document (an object whose `flags` is an object of "
            "flag key -> definition)"
        )
    for key, flag in document["flags"].items():
        if not isinstance(flag, dict):
            raise FlagsError(f"{source_name}: flag {key!r} is not an object", flag=key, path=f"flags.{key}")
    return document["flags"]


def migrate_flags(
    document: dict[str, Any],
    rules: FlagsSection,
    *,
    source_name: str,
    bucketing_version: BucketingVersion = "cbor",
) -> FlagsOutcome:
    """The target's flagd document for `rules`, and per source flag what happened to it.

    `bucketing_version` is how the source's flagd hashes `fractional` buckets ("cbor": flagd's current
    evaluators; "string": before the CBOR change); it decides whether a renamed flag can keep its buckets.
    Raises FlagsError when the plan asks for something that cannot be done faithfully.
    """
    source_flags = _flags_of(document, source_name)
    evaluators = document.get("$evaluators") or {}
    warnings = [f"{source_name}: {problem}" for problem in validate_document(document)]
    mapping = target_keys(list(source_flags), rules)

    reports: list[FlagReport] = []
    target_flags: dict[str, Any] = {}
    for key, source_flag in source_flags.items():
        if key not in mapping:
            reports.append(FlagReport(key=key, target_key=None, status="excluded"))
            continue
        report = FlagReport(key=key, target_key=mapping[key], status="overridden" if key in rules.set else "copied")
        flag = copy.deepcopy(source_flag)
        if key in rules.set:
            flag = apply_override(key, flag, rules.set[key])
            report.notes.append(f"override merged: {', '.join(sorted(rules.set[key]))}")
        flag = settle_targeting(key, flag, evaluators, rules, report)
        # After simplification: a fractional rule in a branch the target never takes moves nobody.
        if mapping[key] != key:
            flag = keep_bucketing(key, mapping[key], flag, evaluators, rules.bucketing, bucketing_version, report)
        target_flags[mapping[key]] = flag
        reports.append(report)

    used = used_evaluators(
        {key: flag["targeting"] for key, flag in target_flags.items() if "targeting" in flag}, evaluators
    )
    target: dict[str, Any] = {}
    for field, value in document.items():  # keep the source's field order ($schema, metadata, ...)
        if field == "flags":
            target["flags"] = target_flags
        elif field == "$evaluators":
            if used:
                target["$evaluators"] = {name: copy.deepcopy(evaluators[name]) for name in used}
        else:
            target[field] = copy.deepcopy(value)

    problems = validate_document(target)
    if problems:
        raise FlagsError(
            "the target flag document would not be valid against flagd's schema:\n  " + "\n  ".join(problems)
        )
    return FlagsOutcome(
        document=target, flags=reports, warnings=warnings, evaluators=used, bucketing_version=bucketing_version
    )
