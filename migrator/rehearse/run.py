"""The whole rehearsal, in order: write the rehearsal's plan, sample its roots, dry-run it, run it
(or, with `interrupt`, run it uninterrupted into a second throwaway target, then run it in a child
process killed part-way and resumed), verify it, and collect every check."""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.engine.dry_run import dry_run
from migrator.engine.prepare import prepared
from migrator.engine.results import Check as TableCheck
from migrator.engine.results import PlanResult, RunResult, VerifyResult
from migrator.engine.run import run_plan
from migrator.engine.verify import verify_plan
from migrator.errors import DanglingRowsError, RunError, SafetyError, UsageError
from migrator.plan.load import LoadedPlan, load_plan
from migrator.rehearse.compare import compare, target_digest
from migrator.rehearse.interrupt import committed_units, interrupt_and_resume
from migrator.rehearse.result import Check, Rehearsal, TableCounts
from migrator.rehearse.sample import RootShape, sampled_condition
from migrator.rehearse.workspace import (
    Overrides,
    Workspace,
    in_the_users_plan,
    rehearsal_data,
    unset_target_variables,
    write_plan,
)
from migrator.stores.sql.qualified import sql_name


@dataclass(frozen=True)
class Options:
    sample: int | None = None
    seed: int = 0
    interrupt: bool = False
    overrides: Overrides = field(default_factory=Overrides)
    keep: Path | None = None  # keep the throwaway folder here


def rehearse(plan_file: Path, options: Options) -> Rehearsal:
    """Rehearse a plan. A plan error (also one found against the source's schema) is raised as a
    PlanError located in the user's plan file; a run that fails is a failed check."""
    started = time.monotonic()
    original = load_plan(plan_file, unset_target_variables(plan_file))
    folder = options.keep.resolve() if options.keep else Path(tempfile.mkdtemp(prefix="migrator-rehearse-"))
    if options.keep and folder.exists() and any(folder.iterdir()):
        raise UsageError(f"--keep {folder}: the folder exists and is not empty; give a new or empty one")
    try:
        result = _rehearse(original, folder, options)
    finally:
        if options.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    result.timings["total"] = round(time.monotonic() - started, 3)
    result.folder = str(folder) if options.keep else None
    result.ok = all(c.ok for c in result.checks)
    return result


def _rehearse(original: LoadedPlan, folder: Path, options: Options) -> Rehearsal:
    plan = original.plan
    result = Rehearsal(plan.name, str(original.file), False, options.sample, options.seed)
    timer = _Timer(result.timings)
    data = rehearsal_data(original, folder / "target", options.overrides)
    main = write_plan(folder / "target", data, original)
    if options.sample is not None and plan.copies_tables and plan.data.roots:
        with timer("sample"), in_the_users_plan(original):
            data["data"]["roots"] = sampled_roots(main.loaded, options.sample, options.seed)
        main = write_plan(main.folder, data, original)
    with timer("dry run"), in_the_users_plan(original):
        planned = dry_run(main.loaded)
    if planned.refusals:
        raise SafetyError("\n".join(planned.refusals))
    if options.interrupt:
        ran = _interrupted(original, main, data, folder, options, result, timer)
    else:
        with timer("run"):
            ran = _run(main.loaded, original, result)
    if ran is None:  # the run failed: its check says why, there is nothing to verify
        _counts(result, planned, None, None)
        return result
    # The uninterrupted run's digest is for the comparison below, not for the report: taken out of
    # the result before anything can return it.
    reference: dict[str, Any] | None = result.interrupt.pop("reference", None) if result.interrupt else None
    with timer("verify"):
        try:
            verified = verify_plan(main.loaded)
        except (RunError, UsageError) as error:  # a target the run left unfinished may not even be verifiable
            result.checks.append(Check("verify", "run", False, str(error)))
            _counts(result, planned, ran, None)
            return result
    result.checks[:0] = _verification_checks(verified)
    if reference is not None:
        with timer("compare"):
            for found in compare(target_digest(main.loaded, verified), reference["digest"]):
                result.checks.append(Check(f"interrupt/{found.part}/{found.name}", "interrupt", found.ok, found.detail))
    _counts(result, planned, ran, verified)
    return result


def _run(loaded: LoadedPlan, original: LoadedPlan, result: Rehearsal) -> RunResult | None:
    """The run, unverified (the rehearsal verifies after it); a failing run is a failed check."""
    try:
        with in_the_users_plan(original):
            ran = run_plan(loaded, verify=False)
    except RunError as error:
        detail = str(error)
        if isinstance(error, DanglingRowsError):
            line = original.line_of("data", "dangling")
            detail += f" (plan line to change: {original.source.file}:{line} data.dangling)"
        result.checks.append(Check("run", "run", False, detail))
        return None
    return ran


def _interrupted(
    original: LoadedPlan,
    main: Workspace,
    data: dict[str, Any],
    folder: Path,
    options: Options,
    result: Rehearsal,
    timer: _Timer,
) -> RunResult | None:
    """The uninterrupted reference run first (it says how many units there are), then the run killed
    after a unit chosen by the seed and resumed."""
    reference_data = rehearsal_data(original, folder / "uninterrupted", Overrides())
    reference_data["data"] = copy.deepcopy(data.get("data", {}))  # the same sampled roots
    reference = write_plan(folder / "uninterrupted", reference_data, original)
    with timer("uninterrupted run"):
        ran = _run(reference.loaded, original, result)
    if ran is None:
        return None
    with timer("uninterrupted verify"):
        verified = verify_plan(reference.loaded)
    units = committed_units(reference.loaded.state_dir)
    with timer("interrupted run"):
        stopped = interrupt_and_resume(main.plan_file, main.loaded.state_dir, units, options.seed)
    result.interrupt = stopped.to_dict()
    result.interrupt["reference"] = {"digest": target_digest(reference.loaded, verified)}
    # Part-way: killed by the signal with units left to do, then finished by the resumed run.
    done = stopped.killed and stopped.killed_at < stopped.units and stopped.resumed_exit == 0
    detail = (
        f"killed with SIGKILL after unit {stopped.killed_at} of {stopped.units} (K={stopped.kill_after}), "
        f"resumed: {stopped.resumed_status}"
        if done
        else stopped.message or f"the kill landed after unit {stopped.killed_at} of {stopped.units}: not part-way"
    )
    result.checks.append(Check("interrupt/killed-and-resumed", "interrupt", done, detail))
    return ran


def sampled_roots(loaded: LoadedPlan, rows: int, seed: int) -> dict[str, str]:
    """Every root's condition narrowed to `rows` rows chosen by `seed` (see sample.py)."""
    data = loaded.plan.data
    roots: dict[str, str] = {}
    with prepared(loaded) as prep:
        quote = prep.conn.dialect.identifier_preparer.quote
        for name, condition in data.roots.items():
            table = prep.source.schema.tables[name]
            key = table.primary_key or (table.unique_keys[0] if table.unique_keys else ())
            if not key:
                raise UsageError(f"--sample: the root table {name} has no primary or unique key to sample by")
            column = table.column(key[0])
            shape = RootShape(
                sql_name(prep.conn, name),
                tuple(quote(c) for c in key),
                len(key) == 1 and column is not None and column.kind == "integer",
            )
            roots[name] = sampled_condition(shape, condition, data.rule(name).where, rows, seed)
    return roots


def _verification_checks(verified: VerifyResult) -> list[Check]:
    """One check per table check (I1/I2/I3), per kind of object check, per flags check and per
    repository check, each failure with its message."""
    checks = [Check(_table_check_name(c), "tables", c.ok, _with_examples(c)) for c in verified.checks]
    if verified.objects is not None:
        kinds: dict[str, list[dict[str, Any]]] = {}
        for check in verified.objects.get("checks", []):
            kinds.setdefault(check["check"], []).append(check)
        for kind, found in kinds.items():
            failed = [f"{c['key']}: {c['detail']}" for c in found if not c["ok"]]
            detail = f"{len(found)} objects" if not failed else "; ".join(failed[:5])
            checks.append(Check(f"objects/{kind}", "objects", not failed, detail))
        if not kinds:
            checks.append(
                Check("objects/selection", "objects", bool(verified.objects.get("ok")), "no objects selected")
            )
    if verified.flags is not None:
        for check in verified.flags.get("checks", []):
            checks.append(Check(f"flags/{check['check']}", "flags", check["ok"], check["detail"]))
    if verified.codebase is not None:
        for repo in verified.codebase.get("repositories", []):
            for check in repo.get("checks", []):
                checks.append(
                    Check(f"codebase/{repo['name']}/{check['check']}", "codebase", check["ok"], check["detail"])
                )
    return checks


def _table_check_name(check: TableCheck) -> str:
    """tables/users/I2; an I1 check per relation: tables/comments/I1 comments.post_id -> posts.id."""
    name = f"tables/{check.table}/{check.check}"
    relation = check.detail.split(": ", 1)[0] if check.check == "I1" and "->" in check.detail else ""
    return f"{name} {relation}" if relation else name


def _with_examples(check: TableCheck) -> str:
    return check.detail + (f" e.g. {', '.join(check.examples)}" if check.examples else "")


def _counts(result: Rehearsal, planned: PlanResult, ran: RunResult | None, verified: VerifyResult | None) -> None:
    """Planned (the dry run's) against actual (the verified target's) counts, and the parts' figures."""
    for table in planned.tables:
        digest = verified.tables.get(table.table) if verified else None
        result.tables.append(
            TableCounts(
                table.table,
                table.kind,
                table.rows,
                digest.rows if digest else None,
                sum(d.rows for d in table.dangling),
            )
        )
    if planned.objects is not None:
        copied = (ran.objects or {}) if ran else {}
        result.objects = {
            "planned": planned.objects.get("objects"),
            "planned_bytes": planned.objects.get("bytes"),
            "copied": copied.get("objects"),
            "bytes": copied.get("bytes"),
        }
    if planned.flags is not None or (ran and ran.flags):
        flags = (ran.flags if ran else None) or planned.flags or {}
        result.flags = {k: flags.get(k) for k in ("copied", "overridden", "excluded", "rules_removed")}
    if ran and ran.codebase:
        for repo in ran.codebase.get("repositories", []):
            result.codebase.append({"name": repo["name"], "commits": repo.get("new_commits"), "refs": repo.get("refs")})


class _Timer:
    """Seconds per step, into the result's timings."""

    def __init__(self, timings: dict[str, float]):
        self.timings = timings
        self.step = ""
        self.started = 0.0

    def __call__(self, step: str) -> _Timer:
        self.step = step
        return self

    def __enter__(self) -> None:
        self.started = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.step] = round(time.monotonic() - self.started, 3)
