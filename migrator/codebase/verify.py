"""Proof of a mirror: the target's history is exactly the rewrite of the source's, and nothing excluded is in it.

Four checks per repository (SPEC §7a):
- tips: the rewrite is replayed from the source in memory and every target ref's tip is compared by
  commit id. A commit id covers its tree, parents, author, committer and message, and, through the
  parents, the whole history: equal tips mean an equal history, down to every byte.
- images: every commit the target holds is the image of a source commit (a foreign commit pushed to
  the target, or an unfiltered source commit, is not).
- paths: on a clone of the target, git's own `git log --name-only` with pathspecs made from the
  plan's exclusions prints nothing: a second opinion that does not share our path matching.
- blobs: no blob that ever stood at an excluded source path is reachable in the target, whatever
  path it stands at there (a copy or rename out of an excluded folder).

`verify --receipt` needs no source: the tips are compared with the receipt's, and the images with
the commit map exported beside it; the blobs check needs the source and is left to `verify`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.codebase.commit_map import CommitMap
from migrator.codebase.rewrite import Rewrite, rewrite
from migrator.codebase.rules import RepoRules
from migrator.codebase.secrets import SecretScanner
from migrator.codebase.wildmatch import git_pathspecs
from migrator.stores.git.history import changed_paths
from migrator.stores.git.objects import GitObjects
from migrator.stores.git.transport import Remote
from migrator.words import plural

EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def check(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"check": name, "ok": ok, "detail": detail}


def tips_check(
    expected: Mapping[str, str], held: Mapping[str, str], ignored: Iterable[str] = (), source: str = "the rewrite gives"
) -> dict[str, Any]:
    """Every expected ref at its expected id, and no other ref (but those the plan leaves alone)."""
    skip = set(ignored)
    wrong = [
        f"{ref}: target {held[ref][:12]}, expected {oid[:12]}"
        for ref, oid in sorted(expected.items())
        if ref in held and held[ref] != oid
    ]
    missing = sorted(set(expected) - set(held))
    extra = sorted(set(held) - set(expected) - skip)
    problems = wrong + [f"{ref}: missing in the target" for ref in missing]
    problems += [f"{ref}: in the target, not from the source" for ref in extra]
    if problems:
        return check("tips", False, "; ".join(problems[:10]))
    return check("tips", True, f"{plural(len(expected), 'ref')} at the commit ids {source}")


def images_check(clone: GitObjects, tips: Sequence[str], images: set[str], hide: Sequence[str] = ()) -> dict[str, Any]:
    """Every commit reachable from the target's tips is the image of a source commit."""
    held = clone.reachable_commits(tips, hide)
    strangers = sorted(set(held) - images)
    if strangers:
        shown = ", ".join(c[:12] for c in strangers[:5])
        strange = plural(len(strangers), "commit")
        return check("images", False, f"{strange} in the target not the image of a source commit: {shown}")
    return check("images", True, f"{plural(len(held), 'commit')}, each the image of a source commit")


def paths_check(
    clone: Path, exclude: Sequence[str], include: Sequence[str], tips: Sequence[str], hide: Sequence[str] = ()
) -> dict[str, Any]:
    """git log --name-only with git's own pathspecs: no excluded path in the history (and, with an
    include list, no path outside it)."""
    if not tips:
        return check("paths", True, "the target holds no commits")
    found = changed_paths(clone, list(tips), list(hide), git_pathspecs(exclude)) if exclude else []
    outside: list[str] = []
    if include:
        outside = changed_paths(clone, list(tips), list(hide), [":(top)", *_excluded_specs(git_pathspecs(include))])
    if found or outside:
        shown = ", ".join((found + outside)[:5])
        return check("paths", False, f"excluded paths in the target's history (git log): {shown}")
    what = "no excluded path" + (" and nothing outside the included paths" if include else "")
    return check("paths", True, f"git log --all --name-only with the plan's pathspecs: {what}")


def blobs_check(
    clone: GitObjects, tips: Sequence[str], excluded_blobs: set[str], hide: Sequence[str] = ()
) -> dict[str, Any]:
    """No blob that ever stood at an excluded source path is reachable in the target."""
    reachable = clone.reachable_blobs(tips, hide)
    leaked = sorted((excluded_blobs - {EMPTY_BLOB}) & reachable)
    if leaked:
        shown = ", ".join(b[:12] for b in leaked[:5])
        return check(
            "blobs", False, f"{len(leaked)} blobs that stood at excluded source paths are in the target: {shown}"
        )
    return check("blobs", True, f"{plural(len(reachable), 'blob')} reachable, none ever at an excluded source path")


def combine(target: str, checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"target": target, "ok": all(c["ok"] for c in checks), "checks": checks}


def _excluded_specs(specs: list[str]) -> list[str]:
    # Turn `:(glob)x` into `:(glob,exclude)x`: what is left after taking away the included paths.
    return [
        ":(glob,exclude)" + spec[len(":(glob)") :] if spec.startswith(":(glob)") else f":(exclude){spec}"
        for spec in specs
    ]


@dataclass(frozen=True)
class Expected:
    """What the target must hold: each ref's id, the commits that are images of source commits, and
    the blobs that ever stood at an excluded source path."""

    refs: dict[str, str]
    images: set[str]
    excluded_blobs: set[str]
    replayed: int  # source commits rewritten to find it (0: taken from the sync's own rewrite)


def replayed(objects: GitObjects, source_refs: Mapping[str, str], rules: RepoRules, base: CommitMap | None) -> Expected:
    """The rewrite of the source made again in memory (nothing written), from `base` when given."""
    replay = rewrite(objects, source_refs, rules, base, write=False, scan=SecretScanner(rules.secrets_allow).scan)
    return Expected(
        dict(replay.refs), replay.commit_map.targets(), set(replay.commit_map.excluded_blobs), len(replay.new_commits)
    )


def made_by(rewritten: Rewrite) -> Expected:
    """What the sync's own rewrite says the target must hold."""
    commit_map = rewritten.commit_map
    return Expected(dict(rewritten.refs), commit_map.targets(), set(commit_map.excluded_blobs), 0)


def verify_repository(
    expected: Expected,
    rules: RepoRules,
    target: Remote,
    local: Path,
    *,
    namespace: str = "refs/",
    hide: Iterable[str] = (),
    leave_alone: Iterable[str] = (),
) -> dict[str, Any]:
    """The four checks of one repository against what it must hold.

    The target's refs are fetched into the local repository `local`, under `namespace`: a new, empty
    repository for a clone that shares nothing with the source, or the sync's own repository, which
    holds every object the target should (the fetch then transfers only what is foreign). Either way
    the checks walk the history the target's own tips name: an object's id is the hash of its content,
    so a tip that is the expected id brings the expected history, whichever repository holds it.
    `hide`: target commits an earlier verification proved, whose histories are not walked again."""
    skip = set(leave_alone)
    held = {ref: oid for ref, oid in target.list_refs().items() if ref not in skip}
    checks = [tips_check(expected.refs, held)]
    repository = GitObjects.open_or_init(local)
    target.fetch_into(local, [f"+refs/*:{namespace}*"], prune=True)
    tips = sorted(set(held.values()))
    hidden = sorted(oid for oid in hide if repository.exists(bytes.fromhex(oid)))
    with ThreadPoolExecutor(max_workers=1) as background:  # git log runs beside the walks below
        paths = background.submit(paths_check, local, rules.paths_exclude, rules.paths_include, tips, hidden)
        checks.append(images_check(repository, tips, expected.images, hidden))
        checks.append(blobs_check(repository, tips, expected.excluded_blobs, hidden))
        checks.insert(2, paths.result())
    result = combine(target.shown, checks)
    result["replayed_commits"] = expected.replayed
    return result
