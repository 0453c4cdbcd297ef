"""The objects part: model artifacts and other blobs, from one object store to another (SPEC §7).

The work is migrator/artifacts' (selection, streamed copy, multipart resume, verification); this is
the face it shows the run loop. Its checkpoints: every object carries its SHA-256 in the target, so
an object already there is skipped without reading it; a large object's finished parts are kept in
the state folder; and `STATE/objects/run.json` says which run the objects belong to and whether it
finished, for plans without tables (with tables, the target database's ledger names the run).

The run's manifest (every object's key, size, SHA-256 and metadata) is written beside the receipt,
`STATE/receipts/RUN.objects.json`, and the receipt holds its SHA-256: `verify --receipt` checks the
target against it without the source, and a changed manifest no longer matches the signed digest.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.audit.canonical import canonical_bytes, sha256_hex
from migrator.audit.durable import write_atomically
from migrator.audit.receipt import MANIFEST_SUFFIX, receipts_dir
from migrator.engine.parts.base import PartRun, RunContext
from migrator.engine.parts.record import PartRecord
from migrator.errors import SafetyError, UsageError

if TYPE_CHECKING:
    from migrator.engine.results import PlanResult, RunResult, VerifyResult
    from migrator.plan.load import LoadedPlan
    from migrator.plan.model import Plan

OBJECT_WORKERS = 16  # objects copied at once by default: an object store answers many requests in parallel, and
# each waits on the server far longer than on us (16 rather than 8: a fifth faster uploads of small objects)
_UNIT = "objects"


def object_workers(workers: int, *, asked: bool) -> int:
    """Objects copied at once: `--workers N` (N > 1) when given; else OBJECT_WORKERS, not the machine's
    cores, which the run's --workers defaults to: two objects at once on a 2-core machine made a
    download of 2,000 small objects a tenth slower than sixteen (the threads wait on the server)."""
    return workers if asked and workers > 1 else OBJECT_WORKERS


class ObjectsPart:
    name = "objects"

    def present(self, plan: Plan) -> bool:
        return plan.copies_objects

    def check_connections(self, loaded: LoadedPlan) -> list[str]:
        from migrator.artifacts import plan_objects

        planned = plan_objects(loaded.plan, loaded.base_dir, loaded.state_dir)
        if planned.refusals:
            raise SafetyError("\n".join(planned.refusals))
        return [
            f"objects source {planned.source}: answers, {planned.objects:,} objects selected",
            f"objects target {planned.target}: answers",
        ]

    def dry_run(self, loaded: LoadedPlan, result: PlanResult, workers: int) -> None:
        from migrator.artifacts import plan_objects

        planned = plan_objects(loaded.plan, loaded.base_dir, loaded.state_dir)
        result.objects = planned.to_dict()
        result.refusals += planned.refusals
        if not result.source:  # a plan of objects only: its stores head the dry run
            result.source, result.target, result.target_note = planned.source, planned.target, "objects only"

    def run(self, ctx: RunContext, result: RunResult) -> PartRun:
        from migrator.artifacts import copy_objects, verify_copy
        from migrator.artifacts.copy_processes import default_processes

        loaded = ctx.loaded
        plan = loaded.plan
        source, target = _location(loaded, "source"), _location(loaded, "target")
        record = PartRecord(loaded.state_dir, "objects")
        earlier = None if ctx.start_over else record.read()
        if earlier and earlier["status"] == "finished" and earlier["plan_sha256"] == loaded.sha256:
            if _still_in_place(loaded):
                ctx.run_id = ctx.run_id or earlier["run_id"]
                result.objects = {"status": "already-finished", "run": earlier["run_id"]}
                return PartRun("already-finished", ctx.run_id, target)
            earlier = None  # the target lost objects since (deleted, changed): a new run puts them back
        resumed = earlier is not None and earlier["status"] == "running" and earlier["plan_sha256"] == loaded.sha256
        run_id = ctx.run_id or (earlier["run_id"] if earlier is not None and resumed else uuid.uuid4().hex[:16])
        ctx.run_id = run_id
        ctx.trail.started(run_id, plan.name, loaded.sha256, source, target, resumed=resumed)
        ctx.trail.event("objects started", source=source, target=target)
        record.write(run_id, loaded.sha256, "running")
        workers = object_workers(ctx.workers, asked=ctx.workers_asked)
        copied = copy_objects(
            plan, loaded.base_dir, loaded.state_dir, workers=workers, events=_Events(ctx), processes=default_processes()
        )
        ctx.stop.check()
        verification = None
        if ctx.verify:
            ctx.observer.step("verifying the objects in the target")
            verification = verify_copy(plan, loaded.base_dir, loaded.state_dir, copied)
            ctx.trail.event(
                "objects verification",
                ok=verification.ok,
                checks=len(verification.checks),
                failures=[c.to_dict() for c in verification.failures],
            )
        manifest_file, manifest_sha256 = _write_manifest(loaded.state_dir, run_id, copied.manifest)
        summary = {k: v for k, v in copied.to_dict().items() if k != "manifest"}
        summary["manifest_file"] = str(manifest_file)
        summary["verification"] = verification.to_dict() if verification else None
        result.objects = summary
        verified = verification.ok if verification else None
        if verified is not False:
            record.write(run_id, loaded.sha256, "finished")  # a failed verification: the next run verifies again
        totals = {"objects": copied.objects, "bytes": copied.bytes, "manifest_sha256": manifest_sha256}
        receipt = {"objects": {**totals, "manifest": manifest_file.name, "verified": verified}}
        status = "resumed-and-finished" if resumed else "finished"
        if verified is False:
            status = "copied-but-not-verified"
        return PartRun(status, run_id, target, receipt=receipt, finished={"objects": totals}, verified=verified)

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
        from migrator.artifacts import verify_objects

        manifest = _manifest_from_receipt(receipt) if receipt is not None else None
        checked = verify_objects(loaded.plan, loaded.base_dir, loaded.state_dir, manifest=manifest)
        result.objects = checked.to_dict()
        result.ok = result.ok and checked.ok
        if not result.target:
            result.target = _location(loaded, "target")
            result.reference = "the receipt's manifest" if receipt is not None else "the source's objects"


def _still_in_place(loaded: LoadedPlan) -> bool:
    """Whether the target still holds exactly what a finished run put there. The run record lives in
    the state folder, not with the objects: a target deleted or changed since must not be answered
    "finished". The plan pass answers it from listings and the SHA-256s the copies carry, without
    reading an object."""
    from migrator.artifacts import plan_objects

    planned = plan_objects(loaded.plan, loaded.base_dir, loaded.state_dir)
    held = planned.target_state
    in_place = held.get("skip")
    return (
        in_place is not None
        and in_place.objects == planned.objects
        and not (held.get("extra") and held["extra"].objects and loaded.plan.target.existing != "merge")
        and not planned.source_changes
    )


class _Events:
    """The artifacts copier's reports, turned into audit events, progress and Ctrl-C checks."""

    def __init__(self, ctx: RunContext):
        self._ctx = ctx
        self._started = False
        self._done: list[tuple[str, dict[str, Any]]] = []  # audit events not yet written

    def started(self, objects: int, size: int) -> None:
        self._ctx.observer.table_started(_UNIT, lambda: objects, 0, unit=_UNIT)
        self._started = True

    def object_done(self, key: str, size: int, sha256: str, action: str) -> None:
        event = "object skipped" if action == "skipped" else "object copied"
        self._done.append((event, {"key": key, "size": size, "sha256": sha256, "action": action}))
        if self._started:
            self._ctx.observer.rows_copied(_UNIT, 1)

    def flush(self) -> None:
        # The objects are in the target already, each committed; their events follow in one append.
        done, self._done = self._done, []
        self._ctx.trail.events(done)

    def retried(self, what: str, error: str) -> None:
        self._ctx.trail.event("retry", what=what, error=error)
        self._ctx.observer.step(f"retrying {what}: {error}")

    def check_stop(self) -> None:
        self._ctx.stop.check()


def _write_manifest(state_dir: Path, run_id: str, manifest: list[dict[str, Any]]) -> tuple[Path, str]:
    """The manifest file and the SHA-256 of its bytes, which the receipt holds."""
    folder = receipts_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}{MANIFEST_SUFFIX}"
    data = canonical_bytes(manifest)
    write_atomically(path, data)
    return path, sha256_hex(data)


def _manifest_from_receipt(receipt: Path) -> list[dict[str, Any]] | None:
    """The manifest named by the receipt, checked against the SHA-256 the receipt holds. A receipt
    from a plan without objects gives None: the objects are then checked against the source."""
    try:
        body = json.loads(receipt.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{receipt}: not a migrator receipt ({exc})") from None
    objects = body.get("objects") if isinstance(body, dict) else None
    if not isinstance(objects, dict) or "manifest" not in objects:
        raise UsageError(f"{receipt}: this receipt records no objects (it is from a run without the objects part)")
    path = receipt.parent / str(objects["manifest"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: the receipt's object manifest cannot be read ({exc.strerror})") from None
    if sha256_hex(data) != objects.get("manifest_sha256"):
        raise UsageError(f"{path}: the object manifest does not match the SHA-256 its receipt records: it was changed")
    manifest = json.loads(data)
    if not isinstance(manifest, list):
        raise UsageError(f"{path}: not an object manifest")
    return manifest


def _location(loaded: LoadedPlan, side: str) -> str:
    """A side's object location as messages and the audit trail show it: the folder resolved, or
    `s3://bucket/prefix` with its endpoint (credentials are never part of it)."""
    from migrator.stores.objects.open import open_store

    settings = loaded.plan.source if side == "source" else loaded.plan.target
    assert settings.objects is not None  # the loader demands both sides' objects
    return open_store(settings.objects, settings.s3, loaded.base_dir).location
