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
    """The variant flagd looks up for a targeting result (booleans as "true"/"false"), or None when flagd's
    evaluators do not agree on one (floats print differently across languages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    return None


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
    report.removed += simplifier.removed
    report.kept_dead += simplifier.kept_dead
    report.notes += simplifier.notes
    if part.known or part.rule != targeting:
        still = {name for name, _ in references(part.rule)} if not part.known else set()
        for name in sorted({name for name, _ in references(targeting)} - still):
            report.notes.append(
                f"no longer refers to evaluator {name!r}: folded to its fixed value, or in a removed rule"
            )
    if not part.known:
        return {**flag, "targeting": part.rule}
    if part.value is None:
        report.notes.append("targeting always returns null in the target: removed, the default variant is served")
        return {field: value for field, value in flag.items() if field != "targeting"}
    variant = _variant_name(part.value)
    if variant is not None and variant in (flag.get("variants") or {}):
        report.notes.append(
            f"targeting always picks {variant!r} in the target: it becomes the default variant, targeting removed"
        )
        settled = {field: value for field, value in flag.items() if field != "targeting"}
        settled["defaultVariant"] = variant
        return settled
    report.notes.append(
        f"targeting always returns {compact(part.value)}, which names no variant: left as in the source"
    )
    return flag
