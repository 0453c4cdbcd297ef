"""What the artifacts part hands back: the plan pass, the copy, the verification. Plain dataclasses
with `to_dict()` (JSON-able), for the dry-run text, the receipt and `--json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from migrator.stores.objects.base import ObjectInfo, WritableObjectStore, Written

SAMPLE = 5  # keys shown per tally


@dataclass
class Tally:
    objects: int = 0
    bytes: int = 0
    sample: list[str] = field(default_factory=list)

    def add(self, key: str, size: int) -> None:
        self.objects += 1
        self.bytes += size
        if len(self.sample) < SAMPLE:
            self.sample.append(key)


@dataclass
class EntryPlan:
    """One `artifacts` entry: what it selects, and what it skips per reason (select.REASONS)."""

    prefix: str
    include: list[str]
    exclude: list[str]
    metadata: dict[str, str]
    selected: Tally = field(default_factory=Tally)
    skipped: dict[str, Tally] = field(default_factory=dict)


@dataclass
class ObjectsPlan:
    source: str
    target: str
    existing: str  # target.existing: fail | truncate | merge
    entries: list[EntryPlan]
    objects: int  # selected by any entry (an object two entries select counts once)
    bytes: int
    # What the target holds of the selection: skip (same SHA-256), replace (different), missing, and
    # unknown (the source's SHA-256 is known only by reading it: compared during the copy); extra: under
    # the target's root but not selected.
    target_state: dict[str, Tally]
    refusals: list[str]
    source_changes: list[str]  # objects deleted or changed in the source since an earlier run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ObjectsCopy:
    objects: int
    bytes: int
    copied: int
    skipped: int
    replaced: int
    deleted: int  # extras deleted from the target (`existing: truncate`)
    seconds: float
    manifest: list[dict[str, Any]]  # {key, size, sha256, metadata}, sorted by key
    manifest_sha256: str
    source_changes: list[str]
    resumed: list[dict[str, Any]]  # {key, parts_reused, parts_sent}: uploads continued from a checkpoint
    retries: int = 0
    # For the run's own verification, not reported: per key, what the target answered each write with,
    # and the target objects the plan pass found equal to the source's (skipped).
    written: dict[str, Written] = field(default_factory=dict)
    found: dict[str, ObjectInfo] = field(default_factory=dict)
    target: WritableObjectStore | None = None  # the store the copy wrote to (its client made already)

    def to_dict(self) -> dict[str, Any]:
        # Shallow, by hand: asdict would deep-copy the manifest (a line per object) and the write answers.
        hidden = ("written", "found", "target")
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}


@dataclass
class Check:
    check: str  # present | size | sha256 | metadata | extra
    key: str
    ok: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "key": self.key, "ok": self.ok, "detail": self.detail}


@dataclass
class ObjectsVerification:
    ok: bool
    checks: list[Check]
    seconds: float

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def to_dict(self) -> dict[str, Any]:
        # By hand: asdict's deep copy of thousands of checks (four per object) took a fifth of a run.
        return {"ok": self.ok, "checks": [check.to_dict() for check in self.checks], "seconds": self.seconds}
