"""A flag's targeting after partial evaluation with the plan's `context` (placeholder: unchanged)."""

from __future__ import annotations

from typing import Any

from migrator.flags.outcome import FlagReport
from migrator.plan.model import FlagsSection


def settle_targeting(
    key: str, flag: dict[str, Any], evaluators: dict[str, Any], rules: FlagsSection, report: FlagReport
) -> dict[str, Any]:
    return flag
