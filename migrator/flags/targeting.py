"""A flag's targeting simplified for the target: partial evaluation with the plan's `context`.

When the whole targeting folds to one value, flagd would serve that variant to everyone: the flag then
gets it as its `defaultVariant` and no targeting (flagd's schema wants targeting to be a rule object, and
a flag without targeting says plainly what it does). A null result means "serve the default": the
targeting goes. A value that names no variant is an error in flagd either way: left as in the source.
"""

from __future__ import annotations

from typing import Any

from migrator.flags.evaluators import references, used_evaluators
from migrator.flags.facts import FixedAttributes
from migrator.flags.outcome import FlagReport
from migrator.flags.simplify import Simplifier, compact
from migrator.plan.model import FlagsSection


def _variant_name(value: Any) -> str | None:
    """The variant flagd looks up for a targeting result (booleans as "true"/"false"), or None where flagd's
    schema leaves the meaning open (numbers, lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else None


def settle_targeting(
    key: str, flag: dict[str, Any], evaluators: dict[str, Any], rules: FlagsSection, report: FlagReport
) -> dict[str, Any]:
    targeting = flag.get("targeting")
    if not isinstance(targeting, dict) or not targeting:
        return flag
    used_evaluators({key: targeting}, evaluators)  # a $ref to nothing is refused even in a dead branch
    facts = FixedAttributes(rules.context)
    if not facts.leaves:
        return flag
    simplifier = Simplifier(facts, evaluators, rules.dead_rules, key, facts.describe())
    part = simplifier.simplify(targeting)
    settled = _settled(flag, part.known, part.value, part.rule)
    if settled is None:
        # a result flagd's evaluators do not agree on, or that names no variant: the source's targeting,
        # whole (so nothing is reported removed either)
        report.notes.append(
            f"targeting always returns {compact(part.value)} in the target: left as in the source"
            if part.known
            else "simplified targeting would not be a rule object: left as in the source"
        )
        return flag
    report.removed += simplifier.removed
    report.kept_dead += simplifier.kept_dead
    report.notes += simplifier.notes
    still = {name for name, _ in references(settled.get("targeting"))}
    for name in sorted({name for name, _ in references(targeting)} - still):
        report.notes.append(f"no longer refers to evaluator {name!r}: folded to its fixed value, or in a removed rule")
    if "targeting" not in settled:
        report.notes.append(
            "targeting always returns null in the target: removed, the default variant is served"
            if part.value is None
            else f"targeting always picks {settled['defaultVariant']!r} in the target: it becomes the default "
            "variant, targeting removed"
        )
    return settled


def _settled(flag: dict[str, Any], known: bool, value: Any, rule: Any) -> dict[str, Any] | None:
    """The flag with its simplified targeting, or None when the source's must stay."""
    if not known:
        return {**flag, "targeting": rule} if isinstance(rule, dict) else None
    untargeted = {field: item for field, item in flag.items() if field != "targeting"}
    if value is None:
        return untargeted
    variant = _variant_name(value)
    if variant is None or variant not in (flag.get("variants") or {}):
        return None
    return {**untargeted, "defaultVariant": variant}
