"""Result objects the library returns and the renderers (text, JSON) turn into output."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class DanglingCount:
    relation: str
    policy: str
    rows: int


@dataclass
class TablePlan:
    table: str
    kind: str  # root | scoped | referenced | all | skip | unlisted
    reason: str
    rows: int | None = None
    source_rows: int | None = None
    sql: str | None = None
    dangling: list[DanglingCount] = field(default_factory=list)
    transforms: dict[str, str] = field(default_factory=dict)
    target_rows: int | None = None  # rows already in the target table, if it exists


@dataclass
class PlanResult:
    plan: str
    source: str
    target: str
    tables: list[TablePlan]
    target_note: str
    refusals: list[str] = field(default_factory=list)  # what `run` would refuse (engine/preflight.py)
    # source objects a run would not recreate in the target (a view reading a skipped table, ...)
    left_out: list[str] = field(default_factory=list)
    objects: dict[str, Any] | None = None  # the artifacts part: selected, skipped, what the target holds
    flags: dict[str, Any] | None = None  # the flags part: per flag copied/excluded/overridden, rules removed
    codebase: dict[str, Any] | None = None  # the codebase part: per repository what a sync would push

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TableCopy:
    table: str
    rows: int
    chunks: int
    skipped_chunks: int
    seconds: float
    # how the checksum was computed: "chunks" (COPY text, per chunk) or "python" (canonical values)
    method: str = "python"
    checksum: str = ""  # the sum of the units' row hashes: the source side of verification


@dataclass
class RunResult:
    plan: str
    run_id: str
    status: str  # finished | already-finished
    tables: list[TableCopy]
    seconds: float
    target: str
    message: str = ""
    retries: list[str] = field(default_factory=list)
    verification: dict[str, Any] | None = None
    dangling: list[dict[str, Any]] = field(default_factory=list)
    skipped_tables: list[str] = field(default_factory=list)
    receipt: str | None = None
    objects: dict[str, Any] | None = None  # the artifacts part: copied, skipped, its verification
    flags: dict[str, Any] | None = None  # the flags part: written or skipped, its digest, its verification
    codebase: dict[str, Any] | None = None  # the codebase part: per repository what was pushed, its verification

    @property
    def verified_ok(self) -> bool:
        """False when any part's verification failed (None: not verified counts as no failure)."""
        tables = self.verification is None or self.verification["ok"]
        objects = self.objects is None or (self.objects.get("verification") or {}).get("ok", True)
        flags = self.flags is None or (self.flags.get("verification") or {}).get("ok", True)
        codebase = self.codebase is None or (self.codebase.get("verification") or {}).get("ok", True)
        return bool(tables and objects and flags and codebase)

    def to_dict(self) -> dict[str, Any]:
        # Only the tables are dataclasses: the parts' summaries are JSON-able dicts already, and with
        # thousands of objects (four checks each) asdict's deep copy of them took a second.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["tables"] = [asdict(table) for table in self.tables]
        return data


@dataclass
class Check:
    check: str  # I1 | I2 | I3
    table: str
    ok: bool
    detail: str
    examples: list[str] = field(default_factory=list)


@dataclass
class TableDigest:
    rows: int
    checksum: str
    method: str  # "python": blake2b of canonical values | "postgresql": md5 of the row's text, in the server
    # | "chunks": blake2b of each chunk's COPY text, in key order
    columns: list[str]
    key: list[str]


@dataclass
class VerifyResult:
    plan: str
    target: str
    ok: bool
    checks: list[Check]
    tables: dict[str, TableDigest]
    foreign_keys: list[dict[str, Any]]
    seconds: float = 0.0
    reference: str = ""  # what the target was compared with
    objects: dict[str, Any] | None = None  # the artifacts part's checks
    flags: dict[str, Any] | None = None  # the flags part's checks: present, content (digest), schema
    codebase: dict[str, Any] | None = None  # the codebase part's checks: tips, images, paths, blobs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> VerifyResult:
        return VerifyResult(
            plan=data["plan"],
            target=data["target"],
            ok=data["ok"],
            checks=[Check(**c) for c in data["checks"]],
            tables={name: TableDigest(**t) for name, t in data["tables"].items()},
            foreign_keys=data["foreign_keys"],
            seconds=data["seconds"],
            reference=data.get("reference", ""),
            objects=data.get("objects"),
            flags=data.get("flags"),
            codebase=data.get("codebase"),
        )

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]
