"""Renaming a flag whose `fractional` buckets hash its key, and keeping those buckets when the plan asks.

flagd's `fractional` assigns a user to a bucket by hashing a *bucketing value*: the first argument when
it is an expression (`{"fractional": [{"var": "email"}, ["a", 50], ["b", 50]]}`), or, in the shorthand
form without one, the flag key with the targeting key. Two generations of flagd evaluators hash it:

- "string" (flagd before its CBOR change): the shorthand hashes the string flagKey + targetingKey, an
  expression's value is hashed as a string. `{"cat": [OLD_KEY, {"var": "targetingKey"}]}` as the first
  argument gives every user exactly the bucket the shorthand gave them under the old key.
- "cbor" (flagd's accepted ADR "Harden hashing consistency", and openfeature-flagd-core 2.x): values are
  CBOR-encoded before hashing and the shorthand hashes the *array* [flagKey, targetingKey]. An array as
  the first argument means "no bucketing value" (it is read as a variant), so no expression reproduces
  the shorthand under another key: a renamed shorthand rule cannot keep its buckets and is refused.

Either way, an explicit bucketing expression that reads `$flagd.flagKey` keeps its buckets when that
read is replaced by the old key as a literal: the expression's value, hence the hash, is unchanged.
A bucketing expression that does not read the flag key does not move anyone: such flags rename freely.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from migrator.flags.errors import FlagsError
from migrator.flags.outcome import FlagReport
from migrator.flags.schema import json_path

BucketingVersion = Literal["cbor", "string"]

_FLAG_KEY = "$flagd.flagKey"


def _var_name(rule: dict[str, Any]) -> Any:
    """The name a `var` reads, or None when it is computed (then it might be anything)."""
    argument = rule["var"]
    if isinstance(argument, list):
        argument = argument[0] if argument else ""
    return argument if isinstance(argument, (str, int, float)) else None


def _reads_flag_key(rule: Any) -> bool:
    """Whether evaluating `rule` may read `$flagd.flagKey` (a computed `var` name counts: it might)."""
    if isinstance(rule, list):
        return any(_reads_flag_key(item) for item in rule)
    if isinstance(rule, dict) and len(rule) == 1:
        if "var" in rule:
            name = _var_name(rule)
            return name is None or name == _FLAG_KEY or _reads_flag_key(rule["var"])
        return any(_reads_flag_key(value) for value in rule.values())
    return False


def _fractional_args(rule: dict[str, Any]) -> list[Any]:
    args = rule["fractional"]
    return args if isinstance(args, list) else [args]


def _is_shorthand(args: list[Any]) -> bool:
    return not args or isinstance(args[0], list)


def key_dependent_fractionals(rule: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of the `fractional` rules whose buckets depend on the flag key."""
    found: list[tuple[Any, ...]] = []
    if isinstance(rule, list):
        for index, item in enumerate(rule):
            found += key_dependent_fractionals(item, (*path, index))
    elif isinstance(rule, dict) and len(rule) == 1:
        ((operator, value),) = rule.items()
        if operator == "fractional":
            args = _fractional_args(rule)
            if _is_shorthand(args) or _reads_flag_key(args[0]):
                found.append((*path, "fractional"))
        found += key_dependent_fractionals(value, (*path, operator))
    return found


def _with_old_key(rule: Any, old_key: str) -> Any:
    """`rule` with every read of `$flagd.flagKey` replaced by the old key (a literal string)."""
    if isinstance(rule, list):
        return [_with_old_key(item, old_key) for item in rule]
    if isinstance(rule, dict) and len(rule) == 1:
        if "var" in rule and _var_name(rule) == _FLAG_KEY:
            return old_key
        return {operator: _with_old_key(value, old_key) for operator, value in rule.items()}
    return rule


def _rewrite(rule: Any, old_key: str, version: BucketingVersion, flag: str, path: tuple[Any, ...]) -> Any:
    if isinstance(rule, list):
        return [_rewrite(item, old_key, version, flag, (*path, i)) for i, item in enumerate(rule)]
    if not (isinstance(rule, dict) and len(rule) == 1):
        return rule
    ((operator, value),) = rule.items()
    if operator != "fractional":
        return {operator: _rewrite(value, old_key, version, flag, (*path, operator))}
    args = [_rewrite(arg, old_key, version, flag, (*path, operator, i)) for i, arg in enumerate(_fractional_args(rule))]
    where = json_path((f"flags.{flag}.targeting", *path, operator))
    if _is_shorthand(args):
        if version == "cbor":
            raise FlagsError(
                f"flag {flag!r}: {where} buckets users by [flag key, targeting key] (flagd's CBOR bucketing), "
                "and no bucketing expression reproduces that under a new key; keep the key, or give the rule "
                "an explicit bucketing expression in the source first (users move once, there)",
                flag=flag,
                path=where,
            )
        return {"fractional": [{"cat": [old_key, {"var": "targetingKey"}]}, *args]}
    first = args[0]
    if _reads_flag_key(first) and _with_old_key(first, old_key) == first:
        raise FlagsError(
            f"flag {flag!r}: {where} computes a variable name in its bucketing expression; migrator cannot "
            "tell whether it reads the flag key, so it cannot keep the buckets under a new key",
            flag=flag,
            path=where,
        )
    return {"fractional": [_with_old_key(first, old_key), *args[1:]]}


def _inline(rule: Any, evaluators: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """`rule` with every `{"$ref": name}` replaced by the evaluator, as flagd itself does on load."""
    if isinstance(rule, list):
        return [_inline(item, evaluators, seen) for item in rule]
    if isinstance(rule, dict):
        if len(rule) == 1 and isinstance(rule.get("$ref"), str) and rule["$ref"] in evaluators:
            name = rule["$ref"]
            return rule if name in seen else _inline(copy.deepcopy(evaluators[name]), evaluators, (*seen, name))
        return {key: _inline(value, evaluators, seen) for key, value in rule.items()}
    return rule


def keep_bucketing(
    old_key: str,
    new_key: str,
    flag: dict[str, Any],
    evaluators: dict[str, Any],
    bucketing: Literal["refuse", "keep-old-key"],
    version: BucketingVersion,
    report: FlagReport,
) -> dict[str, Any]:
    """The flag as it may go under `new_key`: unchanged when no bucket depends on the key; with its
    `fractional` rules rewritten to bucket by `old_key` under `bucketing: keep-old-key`; else refused."""
    targeting = flag.get("targeting")
    if not targeting:
        return flag
    inlined = _inline(targeting, evaluators)
    dependent = key_dependent_fractionals(inlined)
    if _reads_flag_key(_without_fractionals(inlined)):
        report.notes.append(
            f"targeting reads $flagd.flagKey outside fractional: it now yields {new_key!r}, not {old_key!r}"
        )
    if not dependent:
        return flag
    where = json_path((f"flags.{old_key}.targeting", *dependent[0]))
    if bucketing == "refuse":
        raise FlagsError(
            f"flag {old_key!r} is renamed to {new_key!r}, but {where} buckets users by the flag key: renaming "
            "would move users between buckets. Keep the key, or set `bucketing: keep-old-key` to rewrite the "
            "rule so it keeps bucketing by the old key",
            flag=old_key,
            path=where,
        )
    in_evaluators = key_dependent_fractionals(targeting) != dependent
    rewritten = _rewrite(inlined if in_evaluators else targeting, old_key, version, old_key, ())
    if in_evaluators:
        report.notes.append("evaluators inlined into the targeting: their fractional buckets by this flag's key")
    report.notes.append(f"fractional rewritten to keep bucketing by the old key {old_key!r} ({version} bucketing)")
    return {**flag, "targeting": rewritten}


def _without_fractionals(rule: Any) -> Any:
    if isinstance(rule, list):
        return [_without_fractionals(item) for item in rule]
    if isinstance(rule, dict) and len(rule) == 1:
        if "fractional" in rule:
            return None
        return {key: _without_fractionals(value) for key, value in rule.items()}
    return rule
