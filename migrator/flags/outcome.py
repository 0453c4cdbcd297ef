"""What migrating a flag document produced: the target document and, per source flag, what happened."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FlagStatus = Literal["copied", "excluded", "overridden"]


@dataclass(frozen=True)
class Removal:
    """A rule taken out of (or, under `dead_rules: keep`, left in) a flag's targeting."""

    path: str  # JSON path inside the flag, e.g. "targeting.if[2]"
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class FlagReport:
    key: str  # the key in the source
    target_key: str | None  # the key in the target; None when excluded
    status: FlagStatus
    removed: list[Removal] = field(default_factory=list)  # rules removed as dead (`dead_rules: drop`)
    kept_dead: list[Removal] = field(default_factory=list)  # dead rules left in place (`dead_rules: keep`)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["removed"] = [r.to_dict() for r in self.removed]
        data["kept_dead"] = [r.to_dict() for r in self.kept_dead]
        return data


@dataclass
class FlagsOutcome:
    document: dict[str, Any]  # the target's flagd document, valid against flagd's schema
    flags: list[FlagReport]  # one per source flag, in the source's order
    warnings: list[str]  # source schema problems, bucketing notes
    evaluators: list[str]  # the $evaluators the copied flags use, which came along
    bucketing_version: str = "cbor"  # how the source's flagd hashes fractional buckets (for the receipt)

    @property
    def rules_removed(self) -> int:
        return sum(len(report.removed) for report in self.flags)

    def to_dict(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "flags": [report.to_dict() for report in self.flags],
            "warnings": list(self.warnings),
            "evaluators": list(self.evaluators),
            "bucketing_version": self.bucketing_version,
            "rules_removed": self.rules_removed,
        }
