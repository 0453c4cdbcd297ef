"""One repository, one unit of the run: fetch, rewrite, scan, push, verify (SPEC §7a).

Each step ends with the unit's mark, `STATE/codebase/NAME/unit.json`, written atomically after the
commit map it names; so a run killed between any two steps starts again from what is on disk and,
since the rewrite is deterministic, arrives at the same target commits:
- the source is fetched into the unit's own bare repository, `STATE/codebase/NAME/repo.git`, under
  `refs/migrator/source/` (fetching again is harmless);
- the rewrite extends the commit map of the last sync (new source commits only), and the map is
  saved whole, atomically, before the mark says "rewritten";
- the push is one atomic `git push` with a lease on every ref: the lease expects what the last sync
  pushed (the mark's `pushed`), so a target changed underneath is refused by the server, never
  overwritten; a ref the target already holds at the new id is left out, which is what makes a push
  killed after the server took it, but before the mark was written, converge;
- verification replays the rewrite from the source in memory and checks the target (verify.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from migrator.audit.durable import write_atomically
from migrator.clock import utc_now
from migrator.codebase.commit_map import CommitMap
from migrator.codebase.rewrite import Rewrite, rewrite
from migrator.codebase.rules import RepoRules
from migrator.codebase.secrets import SecretScanner
from migrator.errors import SafetyError
from migrator.stores.git.objects import GitObjects
from migrator.stores.git.transport import RefUpdate, Remote

SOURCE_NAMESPACE = "refs/migrator/source/"
# Branches and tags: what a mirror of a codebase is made of. Other namespaces (GitHub's refs/pull/*,
# notes, stashes) are not fetched, so the refs rules can only select among these.
FETCH_REFSPECS = [f"+refs/heads/*:{SOURCE_NAMESPACE}heads/*", f"+refs/tags/*:{SOURCE_NAMESPACE}tags/*"]
STEPS = ("fetched", "rewritten", "pushed", "verified")
Existing = Literal["fail", "truncate", "merge"]


@dataclass(frozen=True)
class UnitFiles:
    """A repository's files in the state folder."""

    folder: Path

    @classmethod
    def of(cls, state_dir: Path, name: str) -> UnitFiles:
        # A repository name may hold slashes (`team/app`): one folder per name, slashes kept as folders.
        return cls(state_dir / "codebase" / name)

    @property
    def work(self) -> Path:
        return self.folder / "repo.git"

    @property
    def commit_map(self) -> Path:
        return self.folder / "commit-map.txt"

    @property
    def mark(self) -> Path:
        return self.folder / "unit.json"


@dataclass
class Mark:
    """How far the unit got, and what the target held after our last push (the leases' expectation)."""

    step: str = ""
    rules_digest: str = ""
    map_sha256: str = ""
    source_refs: dict[str, str] = field(default_factory=dict)  # every branch and tag fetched, source ids
    refs: dict[str, str] = field(default_factory=dict)  # target ref -> id the rewrite gives it
    pushed: dict[str, str] = field(default_factory=dict)  # target ref -> id the target holds from us
    verified: dict[str, str] = field(default_factory=dict)  # target refs as the last verification found them
    # The commits the run `counted_run` rewrote so far: an attempt after a retry or a kill finds them in
    # the commit map already, and must still report them as this run's.
    counted_run: str = ""
    counted_new: int = 0
    counted_pruned: int = 0

    @classmethod
    def read(cls, path: Path) -> Mark:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls(
            step=str(data.get("step", "")),
            rules_digest=str(data.get("rules_digest", "")),
            map_sha256=str(data.get("map_sha256", "")),
            source_refs=dict(data.get("source_refs") or {}),
            refs=dict(data.get("refs") or {}),
            pushed=dict(data.get("pushed") or {}),
            verified=dict(data.get("verified") or {}),
            counted_run=str(data.get("counted_run", "")),
            counted_new=int(data.get("counted_new") or 0),
            counted_pruned=int(data.get("counted_pruned") or 0),
        )

    def write(self, path: Path, step: str) -> None:
        self.step = step
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "step": step,
            "rules_digest": self.rules_digest,
            "map_sha256": self.map_sha256,
            "source_refs": self.source_refs,
            "refs": self.refs,
            "pushed": self.pushed,
            "verified": self.verified,
            "counted_run": self.counted_run,
            "counted_new": self.counted_new,
            "counted_pruned": self.counted_pruned,
            "at": utc_now(),
        }
        write_atomically(path, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8"))


@dataclass
class UnitOutcome:
    """What one repository's sync did: the run's result, the audit trail and the receipt take it."""

    name: str
    target_name: str
    source: str
    target: str
    rules_digest: str
    map_sha256: str
    refs: dict[str, dict[str, str]]  # target ref -> {"source": id, "target": id}
    deleted_refs: list[str]
    new_commits: int
    pruned_commits: int
    updated_refs: list[str]
    commit_map: CommitMap
    verification: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per step: fetch, rewrite, push, verify
    # Kept paths left out because their content also stood at an excluded path: (path, commit, there).
    kept_out: list[tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target_name": self.target_name,
            "source": self.source,
            "target": self.target,
            "new_commits": self.new_commits,
            "pruned_commits": self.pruned_commits,
            "updated_refs": self.updated_refs,
            "deleted_refs": self.deleted_refs,
            "refs": len(self.refs),
            "rules_digest": self.rules_digest,
            "map_sha256": self.map_sha256,
            "verification": self.verification,
            "seconds": self.seconds,
            "kept_out": [{"path": p, "commit": c, "excluded_path": e} for p, c, e in self.kept_out],
        }


@dataclass(frozen=True)
class VerifiedBase:
    """The commit map and target refs the last verification of these rules proved (None, {}: none did)."""

    commit_map: CommitMap | None
    refs: dict[str, str]


class VerifyUnit(Protocol):
    def __call__(
        self, objects: GitObjects, source_refs: Mapping[str, str], rewritten: Rewrite, base: VerifiedBase
    ) -> dict[str, Any]: ...


class UnitEvents:
    """What a sync tells the run: a step about to start, a step done (its facts go to the audit trail).
    The default says nothing; the run loop's reports progress and writes audit events."""

    def starting(self, repository: str, step: str) -> None:
        pass

    def done(self, repository: str, step: str, facts: Mapping[str, Any]) -> None:
        pass

    def check_stop(self) -> None:
        pass


def fetch_source(source: Remote, work: Path, objects: GitObjects | None = None) -> tuple[GitObjects, dict[str, str]]:
    """The source's branches and tags in the repository `work` (the unit's own, or a scratch one
    given as `objects`); the refs under their source names."""
    objects = objects or GitObjects.open_or_init(work)
    source.fetch_into(work, FETCH_REFSPECS, prune=True)
    fetched = objects.refs()
    return objects, {
        "refs/" + name[len(SOURCE_NAMESPACE) :]: oid
        for name, oid in fetched.items()
        if name.startswith(SOURCE_NAMESPACE)
    }


def refusals(rewritten: Rewrite, rules: RepoRules) -> list[str]:
    """What the rewrite found that the rules say must stop the push, one line each. Secrets are named
    by path, source commit and hash: the secret itself is never printed."""
    lines = []
    if rules.submodules == "fail":
        lines += [
            f"{rules.name}: submodule at {path} (source commit {commit[:12]}); "
            "set codebase.submodules: drop or keep, or exclude the path"
            for path, commit in rewritten.submodules
        ]
    if rules.lfs == "fail":
        lines += [
            f"{rules.name}: Git LFS pointer at {path} (source commit {commit[:12]}); "
            "set codebase.lfs: pointers-only to mirror the pointers without their objects, or exclude the path"
            for path, commit in rewritten.lfs_pointers
        ]
    if rules.large_blobs == "fail":
        lines += [
            f"{rules.name}: {path} is {size:,} bytes in source commit {commit[:12]}, above max_blob_size "
            f"{rules.max_blob_size:,}; exclude the path, raise the limit or set large_blobs: drop"
            for path, commit, size in rewritten.large_blobs
        ]
    if rules.secrets == "refuse":
        lines += [
            f"{rules.name}: secret ({finding.rule}) in {finding.path} line {finding.line}, source commit "
            f"{finding.commit[:12]}, {finding.sha256}; remove it from the source history, exclude the path, "
            f"set secrets: redact, or allow this hash under codebase.secrets.allow if it is not a secret"
            for finding in rewritten.findings
        ]
    return lines


def plan_updates(
    new_refs: Mapping[str, str], held: Mapping[str, str], pushed: Mapping[str, str], existing: Existing, name: str
) -> list[RefUpdate]:
    """The ref updates of one push, each with the lease it needs.

    A ref the target holds at the new id needs nothing. Otherwise the lease expects what our last push
    left there (nothing, for a ref we never pushed), so if the target changed since, the server refuses
    the whole push. Refs the target holds that we never pushed are not ours: `existing: fail` refuses
    them all, `merge` leaves them alone but refuses to overwrite one, `truncate` replaces or deletes
    them (the lease then expects exactly what we saw). Refs we pushed whose source is gone (a deleted
    branch) are deleted, under the same lease."""
    foreign = sorted(set(held) - set(pushed))
    colliding = [ref for ref in foreign if ref in new_refs and held[ref] != new_refs[ref]]
    if existing == "fail" and [ref for ref in foreign if held[ref] != new_refs.get(ref)]:
        raise SafetyError(
            f"target repository {name} already holds refs this plan did not push ({_some(foreign)}); "
            "set target.existing: truncate to replace them, merge to keep them beside the mirror, "
            "or name an empty repository as the target"
        )
    if existing == "merge" and colliding:
        raise SafetyError(
            f"target repository {name} holds {_some(colliding)}, which this plan did not push and would "
            "overwrite; set target.existing: truncate to replace them, or exclude them with codebase.refs"
        )
    # Refs we pushed that the target no longer holds as we left them; one already at its new id is a
    # push that landed before the mark was written (a kill between the two), not a change.
    changed = sorted(ref for ref in pushed if held.get(ref) not in (pushed[ref], new_refs.get(ref)))
    if changed and existing != "truncate":
        raise SafetyError(
            f"target repository {name} changed since the last sync: {_some(changed)} is not where this "
            "plan left it; find out who pushed there, then set target.existing: truncate to replace it"
        )
    updates: list[RefUpdate] = []
    for ref, new in sorted(new_refs.items()):
        current = held.get(ref)
        if current != new:
            expected = current if ref in foreign or ref in changed else pushed.get(ref)
            updates.append(RefUpdate(ref, new, expected))
    for ref in sorted(set(pushed) - set(new_refs)):
        if ref in held:
            updates.append(RefUpdate(ref, None, held[ref] if ref in changed else pushed[ref]))
    if existing == "truncate":
        updates += [RefUpdate(ref, None, held[ref]) for ref in foreign if ref not in new_refs]
    return updates


def _default_branch(refs: Mapping[str, str]) -> str | None:
    """The branch a new target repository's HEAD names, so that a clone of it checks something out:
    main or master when mirrored, else the first branch."""
    branches = sorted(ref for ref in refs if ref.startswith("refs/heads/"))
    for usual in ("refs/heads/main", "refs/heads/master"):
        if usual in branches:
            return usual
    return branches[0] if branches else None


def _some(refs: list[str]) -> str:
    return ", ".join(refs[:5]) + (f" and {len(refs) - 5} more" if len(refs) > 5 else "")


def sync_repository(
    rules: RepoRules,
    source: Remote,
    target: Remote,
    files: UnitFiles,
    *,
    existing: Existing,
    events: UnitEvents,
    verify: VerifyUnit | None,
    run_id: str = "",
) -> UnitOutcome:
    """Bring one target repository up to date with its source, under the rules; see the module's doc."""
    mark = Mark.read(files.mark)
    digest = rules.digest()
    # What the last verification proved, if it was of these rules: this run's checks start from there.
    base = VerifiedBase(None, {})

    clock = _StepClock()
    events.starting(rules.name, "fetch")
    objects, source_refs = fetch_source(source, files.work)
    clock.lap("fetch")
    verified_before = mark.step == "verified" and mark.rules_digest == digest
    mark.rules_digest = digest
    mark.source_refs = dict(source_refs)
    mark.write(files.mark, "fetched")
    events.done(rules.name, "fetched", {"refs": len(source_refs)})
    events.check_stop()

    events.starting(rules.name, "rewrite")
    previous = CommitMap.load(files.commit_map)
    if verified_before and previous is not None:
        base = VerifiedBase(previous, dict(mark.verified))
    rewritten = rewrite(objects, source_refs, rules, previous, write=True, scan=SecretScanner(rules.secrets_allow).scan)
    if problems := refusals(rewritten, rules):
        raise SafetyError("\n".join(problems))
    rewritten.commit_map.save(files.commit_map)
    mark.map_sha256 = rewritten.commit_map.digest()
    mark.refs = dict(rewritten.refs)
    if mark.counted_run != run_id or not run_id:
        mark.counted_run, mark.counted_new, mark.counted_pruned = run_id, 0, 0
    mark.counted_new += len(rewritten.new_commits)
    mark.counted_pruned += len(rewritten.pruned_commits)
    mark.write(files.mark, "rewritten")
    clock.lap("rewrite")
    events.done(
        rules.name,
        "rewritten",
        {
            "new_commits": mark.counted_new,
            "pruned_commits": mark.counted_pruned,
            "commit_map_sha256": mark.map_sha256,
            "rules_digest": digest,
        },
    )
    events.check_stop()

    events.starting(rules.name, "push")
    if not target.exists():
        # A folder target that is gone (deleted, or never made) holds nothing of ours any more:
        # it is made again and every ref pushed, as to a first sync.
        target.create_bare(head=_default_branch(rewritten.refs))
        mark.pushed, base = {}, VerifiedBase(None, {})  # and its verification starts from nothing
    held = target.list_refs()
    updates = plan_updates(rewritten.refs, held, mark.pushed, existing, target.shown)
    target.push_from(files.work, updates)
    mark.pushed = dict(rewritten.refs)
    mark.write(files.mark, "pushed")
    clock.lap("push")
    events.done(
        rules.name,
        "pushed",
        {
            "updated": [u.ref for u in updates if u.new is not None],
            "deleted": [u.ref for u in updates if u.new is None],
        },
    )
    events.check_stop()

    outcome = UnitOutcome(
        name=rules.name,
        target_name=rules.target_name,
        source=source.shown,
        target=target.shown,
        rules_digest=digest,
        map_sha256=mark.map_sha256,
        refs={ref: {"source": source_refs.get(ref, ""), "target": oid} for ref, oid in sorted(rewritten.refs.items())},
        deleted_refs=[u.ref for u in updates if u.new is None],
        new_commits=mark.counted_new,
        pruned_commits=mark.counted_pruned,
        updated_refs=[u.ref for u in updates if u.new is not None],
        commit_map=rewritten.commit_map,
        seconds=clock.laps,
        kept_out=list(rewritten.from_excluded),
    )
    if verify is not None:
        events.starting(rules.name, "verify")
        outcome.verification = verify(objects, source_refs, rewritten, base)
        clock.lap("verify")
        if outcome.verification["ok"]:
            mark.verified = dict(rewritten.refs)
            mark.write(files.mark, "verified")
        events.done(rules.name, "verified", {"ok": outcome.verification["ok"]})
    return outcome


class _StepClock:
    """Seconds per step, for the run's result (the benchmark reads them) and the curious."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.laps[step] = round(now - self._last, 3)
        self._last = now
