"""The flags part: a flagd flag file (or an Unleash export) migrated for the target (SPEC §7).

The work is migrator/flags' (selection, overrides, the targeting simplified with the plan's
`context`) and engine/flag_build.py's (reading, converting, the digest); this is the face it shows
the run loop. The whole file is one checkpointed unit: it is written atomically (a local file:
temporary file, fsync, rename; S3: one PUT with its SHA-256), and a target that already holds exactly
the output is not written again. `STATE/flags/run.json` says which run the flags belong to, whether
it finished and the digest it wrote; the digest goes to the audit trail ("flags written") and the
receipt, so `verify --receipt` checks the target without the source.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.engine.flag_build import BuiltFlags, build_flags, digest_of, flag_files
from migrator.engine.flag_files import FlagFile
from migrator.engine.parts.base import PartRun, RunContext
from migrator.engine.parts.record import PartRecord
from migrator.errors import SafetyError, UsageError
from migrator.flags import validate_document
from migrator.flags.unleash import APPROXIMATE, NOT_CONVERTED

if TYPE_CHECKING:
    from migrator.engine.results import PlanResult, RunResult, VerifyResult
    from migrator.plan.load import LoadedPlan
    from migrator.plan.model import Plan


class FlagsPart:
    name = "flags"

    def present(self, plan: Plan) -> bool:
        return plan.copies_flags

    def check_connections(self, loaded: LoadedPlan) -> list[str]:
        built = build_flags(loaded)
        held = built.target.read()
        return [
            f"flags source {built.source.shown}: answers, {len(built.outcome.flags)} flags "
            f"({built.source_format}), {_copied(built)} to copy",
            f"flags target {built.target.shown}: answers, {'holds a file' if held is not None else 'no file yet'}",
        ]

    def dry_run(self, loaded: LoadedPlan, result: PlanResult, workers: int) -> None:
        built = build_flags(loaded)
        summary = built.summary()
        held = _held_digest(built.target)
        record = PartRecord(loaded.state_dir, "flags").read()
        summary["target_state"] = _target_state(held, built.digest, record)
        if summary["target_state"] == "other" and loaded.plan.target.existing == "fail":
            result.refusals.append(_not_ours(built.target))
        result.flags = summary
        if not result.source:  # a plan of flags only: its files head the dry run
            result.source, result.target, result.target_note = built.source.shown, built.target.shown, "flags only"

    def run(self, ctx: RunContext, result: RunResult) -> PartRun:
        loaded = ctx.loaded
        built = build_flags(loaded)
        record = PartRecord(loaded.state_dir, "flags")
        earlier = None if ctx.start_over else record.read()
        held = _held_digest(built.target)
        in_place = held == built.digest
        if in_place and earlier and earlier["status"] == "finished" and earlier["plan_sha256"] == loaded.sha256:
            ctx.run_id = ctx.run_id or earlier["run_id"]
            result.flags = {"status": "already-finished", "run": earlier["run_id"], "digest": built.digest}
            return PartRun("already-finished", ctx.run_id, built.target.shown)
        state = _target_state(held, built.digest, earlier or record.read())
        if state == "other" and loaded.plan.target.existing == "fail":
            raise SafetyError(_not_ours(built.target))
        ctx.observer.step("writing the feature flags")
        resumed = earlier is not None and earlier["status"] == "running" and earlier["plan_sha256"] == loaded.sha256
        run_id = ctx.run_id or (earlier["run_id"] if earlier is not None and resumed else uuid.uuid4().hex[:16])
        ctx.run_id = run_id
        ctx.trail.started(run_id, loaded.plan.name, loaded.sha256, built.source.shown, built.target.shown, resumed)
        ctx.trail.event(
            "flags started", source=built.source.shown, target=built.target.shown, source_format=built.source_format
        )
        record.write(run_id, loaded.sha256, "running", digest=built.digest)
        ctx.stop.check()
        counts = {"flags": _copied(built), "rules_removed": built.outcome.rules_removed}
        if in_place:
            ctx.trail.event("flags skipped", target=built.target.shown, digest=built.digest, **counts)
        else:
            built.target.write(built.output)
            ctx.trail.event("flags written", target=built.target.shown, digest=built.digest, **counts)
        verification = None
        if ctx.verify:
            ctx.observer.step("verifying the flags in the target")
            verification = check_target(built.target, built.digest, built.outcome.document)
            failures = [c for c in verification["checks"] if not c["ok"]]
            ctx.trail.event("flags verification", ok=verification["ok"], failures=failures)
        verified = verification["ok"] if verification else None
        if verified is not False:  # a failed check: the next run writes again
            record.write(run_id, loaded.sha256, "finished", digest=built.digest)
        summary = built.summary()
        summary.update(action="skipped" if in_place else "written", verification=verification)
        result.flags = summary
        receipt = {
            "flags": {
                "digest": built.digest,
                "target": built.target.shown,
                "source_format": built.source_format,
                **counts,
                "bucketing": built.bucketing(),
                "verified": verified,
            }
        }
        if built.imported is not None:  # what an auditor must know of a vendor import: what did not come over as it was
            receipt["flags"]["import"] = {
                "approximate": built.imported.keys_in(APPROXIMATE),
                "not_converted": built.imported.keys_in(NOT_CONVERTED),
            }
        status = "resumed-and-finished" if resumed else "finished"
        if verified is False:
            status = "copied-but-not-verified"
        return PartRun(
            status,
            run_id,
            built.target.shown,
            receipt=receipt,
            finished={"flags": {"digest": built.digest, **counts}},
            verified=verified,
        )

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
        if receipt is not None:
            _, target = flag_files(loaded)
            checked = check_target(target, _digest_from_receipt(receipt), None)
            reference = "the receipt's flags digest"
        else:
            built = build_flags(loaded)
            target = built.target
            checked = check_target(target, built.digest, built.outcome.document)
            reference = "the source's flags, migrated by the plan"
        result.flags = checked
        result.ok = result.ok and checked["ok"]
        if not result.target:
            result.target, result.reference = target.shown, reference


def check_target(target: FlagFile, digest: str, expected: dict[str, Any] | None) -> dict[str, Any]:
    """The target holds exactly the expected flags (canonical JSON, by digest) and passes flagd's
    schema. With the expected document at hand, a difference names the flags that differ."""
    checks: list[dict[str, Any]] = []
    data = target.read()
    document: Any = None
    if data is None:
        checks.append({"check": "present", "ok": False, "detail": "the target flag file does not exist"})
    else:
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            checks.append({"check": "present", "ok": False, "detail": f"not JSON ({exc})"})
    held = None
    if document is not None:
        held = digest_of(document)
        same = held == digest
        detail = f"SHA-256 {held} of its canonical JSON" if same else _difference(document, expected, held, digest)
        checks.append({"check": "content", "ok": same, "detail": detail})
        problems = validate_document(document)
        checks.append(
            {
                "check": "schema",
                "ok": not problems,
                "detail": "valid against flagd's schema" if not problems else "; ".join(problems[:5]),
            }
        )
    return {
        "target": target.shown,
        "ok": all(c["ok"] for c in checks),
        "digest": held,
        "expected_digest": digest,
        "checks": checks,
    }


def _difference(document: Any, expected: dict[str, Any] | None, held: str, digest: str) -> str:
    if expected is None or not isinstance(document, dict):
        return f"SHA-256 {held} of its canonical JSON, expected {digest}"
    mine, theirs = expected.get("flags") or {}, document.get("flags") or {}
    if not isinstance(theirs, dict):
        return "its `flags` is not an object"
    parts = []
    if missing := sorted(set(mine) - set(theirs)):
        parts.append(f"missing {', '.join(missing)}")
    if extra := sorted(set(theirs) - set(mine)):
        parts.append(f"not from the plan {', '.join(extra)}")
    if changed := sorted(k for k in set(mine) & set(theirs) if digest_of(mine[k]) != digest_of(theirs[k])):
        parts.append(f"changed {', '.join(changed)}")
    others = sorted(k for k in set(expected) | set(document) if k != "flags" and expected.get(k) != document.get(k))
    if others:
        parts.append(f"differs in {', '.join(others)}")
    return "flags " + "; ".join(parts) if parts else f"SHA-256 {held}, expected {digest}"


def _held_digest(target: FlagFile) -> str | None:
    """The digest of what the target holds; "" for a file that is not JSON; None for no file."""
    data = target.read()
    if data is None:
        return None
    try:
        return digest_of(json.loads(data))
    except (UnicodeDecodeError, ValueError):
        return ""


def _target_state(held: str | None, digest: str, record: dict[str, Any] | None) -> str:
    """missing | same (holds the output) | ours (an earlier run of this plan wrote it) | other."""
    if held is None:
        return "missing"
    if held == digest:
        return "same"
    if record is not None and held and record.get("digest") == held:
        return "ours"
    return "other"


def _not_ours(target: FlagFile) -> str:
    return (
        f"target.flags {target.shown} already holds flags this plan did not write; "
        "set target.existing: truncate to replace it, or point target.flags elsewhere"
    )


def _copied(built: BuiltFlags) -> int:
    return sum(1 for r in built.outcome.flags if r.status != "excluded")


def _digest_from_receipt(receipt: Path) -> str:
    try:
        body = json.loads(receipt.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{receipt}: not a migrator receipt ({exc})") from None
    flags = body.get("flags") if isinstance(body, dict) else None
    if not isinstance(flags, dict) or not isinstance(flags.get("digest"), str):
        raise UsageError(f"{receipt}: this receipt records no flags (it is from a run without the flags part)")
    return flags["digest"]
