"""A run is a set of parts: tables, objects, and later flags and code repositories (issue 13).

Each part is one kind of thing a plan copies, behind this one small Protocol: it says whether a plan
holds it, what a run would do (the dry run), does its work unit by checkpointed unit, and verifies
it. The run loop (engine/run.py), its retries, Ctrl-C, the audit trail, the receipt and the progress
display are written once, against this Protocol, and serve every part alike; the parts are listed,
explicitly, in engine/parts/registry.py.

Each part keeps its checkpoints where they commit atomically with its work: table chunks in the
target database's ledger, in the transaction that writes their rows; objects in the target itself
(an object carries its SHA-256, so a copy that holds it already is skipped) and, for a large object
under way, its finished parts in the state folder, written after the part is on the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from migrator.engine.executors.options import DaskOptions
    from migrator.engine.interrupt import StopFlag
    from migrator.engine.observer import Observer
    from migrator.engine.results import PlanResult, RunResult, VerifyResult
    from migrator.engine.trail import RunTrail
    from migrator.plan.load import LoadedPlan
    from migrator.plan.model import Plan


@dataclass
class RunContext:
    """What the run loop hands every part: the plan, how to report, when to stop, where to log."""

    loaded: LoadedPlan
    env: dict[str, str]
    observer: Observer
    stop: StopFlag
    trail: RunTrail
    workers: int = 1
    verify: bool = True
    count_dangling: bool = False
    start_over: bool = False
    # The run's id, once a part has started (or found) it: the parts after it run under the same id.
    run_id: str = ""
    # Where the tables' units run: None here (engine/parallel.py), or a Dask cluster (executors/dask.py).
    dask: DaskOptions | None = None
    # --workers given, rather than its default (the machine's cores): only then is a run that cannot
    # copy in parallel told so.
    workers_asked: bool = True


@dataclass
class PartRun:
    """One part's share of a run, for the run loop: the part writes its details into the run's
    result itself (its rows, its objects), and hands back what the loop combines."""

    status: str  # finished | resumed-and-finished | already-finished | copied-but-not-verified
    run_id: str
    target: str  # where it wrote, passwords hidden
    receipt: dict[str, Any] = field(default_factory=dict)  # the part's keys in the receipt
    finished: dict[str, Any] = field(default_factory=dict)  # the part's fields of the "run finished" event
    verified: bool | None = None  # None: not verified (--no-verify, or nothing was done)


class Part(Protocol):
    """One kind of thing a plan copies. Each method writes the part's own section into the one
    result of the command (the dry run's, the run's, the verification's), so that the text and JSON
    renderers, the receipt and `--format json` see every part in one document."""

    @property
    def name(self) -> str:
        """Its key in the results, the receipt and JSON output: `tables`, `objects`."""
        ...

    def present(self, plan: Plan) -> bool:
        """Whether this plan copies this kind of thing at all."""
        ...

    def check_connections(self, loaded: LoadedPlan) -> list[str]:
        """`validate --connect`: every store of the part answers and everything the plan names
        exists; one note per store. Raises what `run` would refuse."""
        ...

    def dry_run(self, loaded: LoadedPlan, result: PlanResult, workers: int) -> None:
        """What a run would do, computed without writing anything; what `run` would refuse goes to
        `result.refusals`."""
        ...

    def run(self, ctx: RunContext, result: RunResult) -> PartRun:
        """Copy every unit not yet done, then verify them (unless told not to). Raising
        TransientError hands the part back to the run loop, which calls it again after a backoff:
        it continues from its checkpoints."""
        ...

    def verify(
        self,
        loaded: LoadedPlan,
        result: VerifyResult,
        *,
        receipt: Path | None,
        workers: int | None,
        against_source: bool,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Check the target: against the receipt's record when one is given, without the source."""
        ...
