"""Result objects the library returns and the renderers (text, JSON) turn into output."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TableCopy:
    table: str
    rows: int
    chunks: int
    skipped_chunks: int
    seconds: float
    method: str = "python"  # how the checksum was computed: "text" (COPY lines) or "python" (canonical values)
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
