"""The codebase part: git repositories mirrored into the target organisation, filtered (SPEC §7a).

The work is migrator/codebase's (the rewrite, the secrets scan, the sync of one repository and its
verification); this is the face it shows the run loop. Each repository is one unit with its own
checkpoints in `STATE/codebase/NAME/` (its fetched source and rewritten history, its commit map, its
mark); `STATE/codebase/run.json` says which run the repositories belong to and whether it finished.

A run is a sync: a later run brings the target up to date with the source as it moved on, rewriting
only the new commits. Each repository's commit map is exported beside the receipt
(`STATE/receipts/RUN.codebase.NAME.map`, never pushed into the target), and the receipt holds its
SHA-256 with every ref's source and target tips and the rules' digest: `verify --receipt` checks the
target's tips and commits against them without the source.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.audit.durable import write_atomically
from migrator.audit.receipt import receipts_dir
from migrator.codebase.commit_map import CommitMap
from migrator.codebase.locations import repository_location
from migrator.codebase.resolve import rules_for, side_location
from migrator.codebase.rewrite import Rewrite, rewrite
from migrator.codebase.rules import RepoRules
from migrator.codebase.secrets import SecretScanner
from migrator.codebase.sync import (
    Existing,
    Mark,
    UnitEvents,
    UnitFiles,
    UnitOutcome,
    VerifiedBase,
    VerifyUnit,
    fetch_source,
    plan_updates,
    refusals,
    sync_repository,
)
from migrator.codebase.verify import (
    combine,
    images_check,
    made_by,
    paths_check,
    replayed,
    tips_check,
    verify_repository,
)
from migrator.engine.parts.base import PartRun, RunContext
from migrator.engine.parts.record import PartRecord
from migrator.errors import SafetyError, UsageError
from migrator.stores.git.objects import GitObjects
from migrator.stores.git.transport import GitAuth, Remote

if TYPE_CHECKING:
    from migrator.engine.results import PlanResult, RunResult, VerifyResult
    from migrator.plan.load import LoadedPlan
    from migrator.plan.model import GitSettings, Plan

MAP_SUFFIX = ".map"
TARGET_NAMESPACE = "refs/migrator/target/"  # the target's refs, as the run's verification fetched them
MIRRORED = ("refs/heads/", "refs/tags/")  # the namespaces sync.FETCH_REFSPECS fetches


@dataclass(frozen=True)
class Unit:
    rules: RepoRules
    source: Remote
    target: Remote
    files: UnitFiles


def units_of(loaded: LoadedPlan) -> list[Unit]:
    plan = loaded.plan
    assert plan.source.codebase is not None and plan.target.codebase is not None  # the loader demands both
    source_auth, target_auth = _auth(plan.source.git), _auth(plan.target.git)
    return [
        Unit(
            rules,
            Remote(repository_location(plan.source.codebase, rules.name, loaded.base_dir), source_auth),
            Remote(repository_location(plan.target.codebase, rules.target_name, loaded.base_dir), target_auth),
            UnitFiles.of(loaded.state_dir, rules.name),
        )
        for rules in rules_for(plan)
    ]


def _auth(settings: GitSettings | None) -> GitAuth | None:
    if settings is None:
        return None
    return GitAuth(username=settings.username, password=settings.password, token=settings.token)


class CodebasePart:
    name = "codebase"

    def present(self, plan: Plan) -> bool:
        return plan.copies_codebase

    def check_connections(self, loaded: LoadedPlan) -> list[str]:
        notes = []
        for unit in units_of(loaded):
            if not unit.source.exists():
                raise UsageError(f"codebase source {unit.source.shown}: no such repository")
            notes.append(f"codebase source {unit.source.shown}: answers, {len(unit.source.list_refs())} refs")
            if unit.target.exists():
                notes.append(f"codebase target {unit.target.shown}: answers, {len(unit.target.list_refs())} refs")
            elif unit.target.folder is not None:
                notes.append(f"codebase target {unit.target.shown}: not there yet, a run creates it (bare)")
            else:
                raise UsageError(
                    f"codebase target {unit.target.shown}: no such repository; create it on the server first "
                    "(migrator creates missing repositories only in a folder)"
                )
        return notes

    def dry_run(self, loaded: LoadedPlan, result: PlanResult, workers: int) -> None:
        repositories = []
        for unit in units_of(loaded):
            summary, refused = _dry_run_unit(unit, loaded.plan.target.existing)
            repositories.append(summary)
            result.refusals += refused
        result.codebase = {"repositories": repositories}
        if not result.source:  # a plan of repositories only: its codebases head the dry run
            result.source = side_location(str(loaded.plan.source.codebase), loaded.base_dir)
            result.target, result.target_note = _shown_target(loaded), "codebase only"

    def run(self, ctx: RunContext, result: RunResult) -> PartRun:
        loaded = ctx.loaded
        units = units_of(loaded)
        record = PartRecord(loaded.state_dir, "codebase")
        earlier = None if ctx.start_over else record.read()
        if ctx.start_over:
            for unit in units:  # a new baseline: the history is rewritten from scratch
                unit.files.commit_map.unlink(missing_ok=True)
                # What we pushed stays ours: the new baseline replaces those refs, each under a lease.
                Mark(pushed=Mark.read(unit.files.mark).pushed).write(unit.files.mark, "restarted")
        for unit in units:
            if _unpushed_map_of_other_rules(unit):
                unit.files.commit_map.unlink()
        same_plan = earlier is not None and earlier["plan_sha256"] == loaded.sha256
        if (
            same_plan
            and earlier is not None
            and earlier["status"] == "finished"
            and _all_in_place(units, loaded.plan.target.existing)
        ):
            ctx.run_id = ctx.run_id or earlier["run_id"]
            result.codebase = {"status": "already-finished", "run": earlier["run_id"]}
            return PartRun("already-finished", ctx.run_id, _shown_target(loaded))
        resumed = same_plan and earlier is not None and earlier["status"] == "running"
        run_id = ctx.run_id or (earlier["run_id"] if earlier is not None and resumed else uuid.uuid4().hex[:16])
        ctx.run_id = run_id
        target_shown = _shown_target(loaded)
        ctx.trail.started(
            run_id, loaded.plan.name, loaded.sha256, str(loaded.plan.source.codebase), target_shown, resumed
        )
        record.write(run_id, loaded.sha256, "running")
        events = _Events(ctx)
        outcomes: list[UnitOutcome] = []
        for unit in units:
            verify = _run_verification(unit, loaded.plan.target.existing) if ctx.verify else None
            outcomes.append(
                sync_repository(
                    unit.rules,
                    unit.source,
                    unit.target,
                    unit.files,
                    existing=loaded.plan.target.existing,
                    events=events,
                    verify=verify,
                    run_id=run_id,
                )
            )
            ctx.stop.check()
        verified: bool | None = all(o.verification["ok"] for o in outcomes if o.verification) if ctx.verify else None
        if verified is not False:
            record.write(run_id, loaded.sha256, "finished")
        receipt_repos = {}
        for outcome in outcomes:
            map_file = _export_map(loaded.state_dir, run_id, outcome)
            receipt_repos[outcome.name] = {
                "target_name": outcome.target_name,
                "source": outcome.source,
                "target": outcome.target,
                "rules_digest": outcome.rules_digest,
                "refs": outcome.refs,
                "commit_map": map_file.name,
                "commit_map_sha256": outcome.map_sha256,
                "verified": outcome.verification["ok"] if outcome.verification else None,
            }
        result.codebase = {
            "repositories": [o.summary() for o in outcomes],
            "verification": {"ok": verified} if verified is not None else None,
        }
        totals = {
            "repositories": len(outcomes),
            "new_commits": sum(o.new_commits for o in outcomes),
            "updated_refs": sum(len(o.updated_refs) for o in outcomes),
        }
        status = "resumed-and-finished" if resumed else "finished"
        if verified is False:
            status = "copied-but-not-verified"
        return PartRun(
            status,
            run_id,
            target_shown,
            receipt={"codebase": {"repositories": receipt_repos, "verified": verified}},
            finished={"codebase": totals},
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
        recorded = _receipt_repositories(receipt) if receipt is not None else None
        repositories = []
        for unit in units_of(loaded):
            with tempfile.TemporaryDirectory(prefix="migrator-verify-") as scratch:
                if recorded is None:
                    objects, source_refs = _fetch_aside(unit, Path(scratch) / "source.git")
                    leave = _left_alone(unit, loaded.plan.target.existing)
                    expected = replayed(objects, source_refs, unit.rules, None)
                    clone = Path(scratch) / "target.git"
                    checked = verify_repository(expected, unit.rules, unit.target, clone, leave_alone=leave)
                else:
                    assert receipt is not None  # recorded comes from it
                    existing = loaded.plan.target.existing
                    checked = _verify_against_receipt(unit, recorded, receipt, Path(scratch), existing)
            checked["name"] = unit.rules.name
            repositories.append(checked)
        ok = all(r["ok"] for r in repositories)
        result.codebase = {"repositories": repositories, "ok": ok}
        result.ok = result.ok and ok
        if not result.target:
            result.target = _shown_target(loaded)
            result.reference = (
                "the receipt's refs and commit maps" if receipt is not None else "the source, rewritten again"
            )


def _dry_run_unit(unit: Unit, existing: Existing) -> tuple[dict[str, Any], list[str]]:
    """What a sync of this repository would do, computed in memory: nothing is pushed, nothing is
    written to the state folder."""
    with tempfile.TemporaryDirectory(prefix="migrator-plan-") as scratch:
        return _dry_run_fetched(unit, existing, *_fetch_aside(unit, Path(scratch)))


def _fetch_aside(unit: Unit, scratch: Path) -> tuple[GitObjects, dict[str, str]]:
    """The source fetched into a scratch repository that borrows the unit's objects: the state
    folder is left as it was (the dry run and `verify` write nothing), and an earlier sync's
    target commits, which an incremental rewrite reads, are at hand."""
    return fetch_source(unit.source, scratch, GitObjects.scratch_beside(scratch, unit.files.work))


def _dry_run_fetched(
    unit: Unit, existing: Existing, objects: GitObjects, source_refs: dict[str, str]
) -> tuple[dict[str, Any], list[str]]:
    rules = unit.rules
    previous = None if _unpushed_map_of_other_rules(unit) else CommitMap.load(unit.files.commit_map)
    summary: dict[str, Any] = {"name": rules.name, "source": unit.source.shown, "target": unit.target.shown}
    try:
        replay = rewrite(
            objects, source_refs, rules, previous, write=False, scan=SecretScanner(rules.secrets_allow).scan
        )
    except SafetyError as exc:
        summary["refused"] = str(exc)
        return summary, [str(exc)]
    there = unit.target.exists()
    held = unit.target.list_refs() if there else {}
    pushed = Mark.read(unit.files.mark).pushed if there else {}  # a folder target that is gone: made anew
    summary.update(
        new_commits=len(replay.new_commits),
        pruned_commits=len(replay.pruned_commits),
        refs={ref: oid for ref, oid in sorted(replay.refs.items())},
        refs_to_update=sorted(ref for ref, oid in replay.refs.items() if held.get(ref) != oid),
        refs_to_delete=sorted(ref for ref in pushed if ref not in replay.refs and ref in held),
        dropped_refs=sorted(replay.dropped_refs),
        excluded_paths=sorted(replay.excluded_paths),
        from_excluded=[{"path": p, "commit": c, "excluded_path": e} for p, c, e in replay.from_excluded],
        submodules=[{"path": p, "commit": c} for p, c in replay.submodules],
        lfs_pointers=[{"path": p, "commit": c} for p, c in replay.lfs_pointers],
        large_blobs=[{"path": p, "commit": c, "size": s} for p, c, s in replay.large_blobs],
        secrets=[
            {"rule": f.rule, "path": f.path, "commit": f.commit, "line": f.line, "sha256": f.sha256}
            for f in replay.findings
        ],
        rules_digest=rules.digest(),
    )
    refused = refusals(replay, rules)
    try:
        # The push's own leases and checks, so that the dry run refuses what the run would: refs the
        # plan did not push, and refs someone moved since the last sync.
        plan_updates(replay.refs, held, pushed, existing, unit.target.shown)
    except SafetyError as exc:
        refused.append(str(exc))
    return summary, refused


def _unpushed_map_of_other_rules(unit: Unit) -> bool:
    """A commit map left by a sync of other rules that never pushed (its push rejected, say by the
    target's hook, and the rules then fixed): no target commit depends on it, so the next sync starts
    from the source rather than refusing the rules change. Had a push landed unrecorded (a kill before
    the mark), the target's refs are then ones this plan did not push, and the push refuses them."""
    if Mark.read(unit.files.mark).pushed:
        return False
    previous = CommitMap.load(unit.files.commit_map)
    return previous is not None and previous.rules_digest != unit.rules.digest()


def _run_verification(unit: Unit, existing: str) -> VerifyUnit:
    """The check a run makes after pushing one repository: the target against the rewrite just made,
    on the sync's own repository (the target's refs fetched beside the source's), from what the last
    verification proved. `migrator verify` is the one that replays the rewrite, on a fresh clone."""

    def verify(
        objects: GitObjects, source_refs: Mapping[str, str], rewritten: Rewrite, base: VerifiedBase
    ) -> dict[str, Any]:
        return verify_repository(
            made_by(rewritten),
            unit.rules,
            unit.target,
            unit.files.work,
            namespace=TARGET_NAMESPACE,
            hide=base.refs.values(),
            leave_alone=_left_alone(unit, existing),
        )

    return verify


def _left_alone(unit: Unit, existing: str) -> list[str]:
    """Refs of the target that are not the plan's business: with `existing: merge`, those it did not push."""
    if existing != "merge":
        return []
    pushed = Mark.read(unit.files.mark).pushed
    return [ref for ref in unit.target.list_refs() if ref not in pushed] if unit.target.exists() else []


def _all_in_place(units: list[Unit], existing: Existing) -> bool:
    """Nothing to do: every source as the last verified sync fetched it and every target as it left
    it (with `existing: merge`, the refs it leaves alone may be anything)."""
    for unit in units:
        mark = Mark.read(unit.files.mark)
        if mark.step != "verified" or mark.rules_digest != unit.rules.digest():
            return False
        if not unit.target.exists():
            return False
        source = {ref: oid for ref, oid in unit.source.list_refs().items() if ref.startswith(MIRRORED)}
        held = unit.target.list_refs()
        if existing == "merge":
            held = {ref: oid for ref, oid in held.items() if ref in mark.pushed}
        if source != mark.source_refs or held != mark.pushed:
            return False
    return True


def _export_map(state_dir: Path, run_id: str, outcome: UnitOutcome) -> Path:
    folder = receipts_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.codebase.{outcome.name.replace('/', '__')}{MAP_SUFFIX}"
    write_atomically(path, outcome.commit_map.export_text())
    return path


def _receipt_repositories(receipt: Path) -> dict[str, Any]:
    try:
        body = json.loads(receipt.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{receipt}: not a migrator receipt ({exc})") from None
    codebase = body.get("codebase") if isinstance(body, dict) else None
    if not isinstance(codebase, dict) or not isinstance(codebase.get("repositories"), dict):
        raise UsageError(
            f"{receipt}: this receipt records no repositories (it is from a run without the codebase part)"
        )
    return codebase["repositories"]


def _verify_against_receipt(
    unit: Unit, recorded: dict[str, Any], receipt: Path, scratch: Path, existing: Existing
) -> dict[str, Any]:
    """Without the source: the target's tips are the receipt's, its commits are in the exported map,
    and git finds no excluded path in its history. With `existing: merge`, refs the receipt does not
    name are not the plan's business."""
    entry = recorded.get(unit.rules.name)
    if not isinstance(entry, dict):
        raise UsageError(f"{receipt}: records no repository {unit.rules.name}")
    map_path = receipt.parent / str(entry.get("commit_map"))
    try:
        data = map_path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{map_path}: the receipt's commit map cannot be read ({exc.strerror})") from None
    try:
        commit_map = CommitMap.parse(data, str(map_path))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if commit_map.digest() != entry.get("commit_map_sha256"):
        raise UsageError(f"{map_path}: the commit map does not match the SHA-256 its receipt records: it was changed")
    expected = {ref: tips["target"] for ref, tips in entry.get("refs", {}).items()}
    held = unit.target.list_refs()
    if existing == "merge":
        held = {ref: oid for ref, oid in held.items() if ref in expected}
    checks = [tips_check(expected, held, source="the receipt records")]
    clone = GitObjects.open_or_init(scratch)
    unit.target.fetch_into(scratch, ["+refs/*:refs/*"], prune=True)
    tips = sorted(set(held.values()))
    images = commit_map.targets()
    checks.append(images_check(clone, tips, images))
    checks.append(paths_check(scratch, unit.rules.paths_exclude, unit.rules.paths_include, tips))
    return combine(unit.target.shown, checks)


def _shown_target(loaded: LoadedPlan) -> str:
    """The target's codebase as messages show it: a folder resolved, a URL as written (the loader
    refuses a URL that holds a password)."""
    return side_location(str(loaded.plan.target.codebase), loaded.base_dir)


class _Events(UnitEvents):
    """A sync's steps, as progress and audit events; Ctrl-C is honoured between steps."""

    def __init__(self, ctx: RunContext):
        self._ctx = ctx

    def starting(self, repository: str, step: str) -> None:
        self._ctx.observer.step(f"{repository}: {step}")

    def done(self, repository: str, step: str, facts: Mapping[str, Any]) -> None:
        self._ctx.trail.event(f"repository {step}", repository=repository, **facts)

    def check_stop(self) -> None:
        self._ctx.stop.check()
