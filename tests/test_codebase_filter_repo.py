"""Differential test: on every scenario, git-filter-repo's histories and final trees equal migrator's.

git-filter-repo (a test dependency) rewrites a fresh clone with the same path exclusions, content
replacements and message scrubbing; for each ref migrator rewrites, the commits reachable from it must
have the same trees, numbers of parents and messages (so the same commits were pruned and the same
merges reduced). Where the semantics legitimately
differ the difference is asserted to be exactly that: content that also stood at an excluded path
(`from_excluded`) is dropped by migrator and kept by git-filter-repo; a tag of a tree is dropped by
migrator (there is no commit to map) and kept by git-filter-repo.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from migrator.codebase.rewrite import rewrite
from migrator.codebase.rules import SCRUBBED, RepoRules
from migrator.stores.git.objects import GitObjects
from tests.git_histories import SCENARIOS, random_history
from tests.prerequisites import missing_prerequisite


def filter_repo_arguments(rules: RepoRules, workdir: Path) -> list[str]:
    """The scenario's rules as git-filter-repo options. Its globs are fnmatch on the full path ('*'
    crosses '/'), so only the shapes the scenarios use are translated, each to its exact equivalent."""
    arguments: list[str] = []
    for pattern in rules.paths_exclude:
        body = pattern.rstrip("/")
        if pattern.endswith("/") and "/" in body:
            arguments += ["--path", body + "/"]  # an anchored folder
        elif pattern.endswith("/"):
            arguments += ["--path", body + "/"]  # the scenarios only have such folders at the root
        elif pattern.startswith("*.") and "/" not in pattern:
            arguments += ["--path-glob", pattern]  # '*' crossing '/' is the basename match here
        else:
            raise AssertionError(f"no git-filter-repo equivalent written for {pattern!r}")
    if arguments:
        arguments.append("--invert-paths")
    if rules.replacements:
        expressions = workdir / "replacements.txt"
        # git-filter-repo replaces in every file: the scenarios only have matches at the paths they name.
        expressions.write_text("".join(f"regex:{r.pattern}==>{r.replacement}\n" for r in rules.replacements))
        arguments += ["--replace-text", str(expressions)]
    if rules.message_scrub:
        messages = workdir / "messages.txt"
        messages.write_text("".join(f"regex:{pattern}==>{SCRUBBED}\n" for pattern in rules.message_scrub))
        arguments += ["--replace-message", str(messages)]
    return arguments


def git(*arguments: str, cwd: Path) -> str:
    return subprocess.run(["git", *arguments], cwd=cwd, check=True, capture_output=True, text=True).stdout


def history(repository: Path, tip: str) -> list[tuple[str, int, str]]:
    """(tree, number of distinct parents, message) of every commit reachable from `tip`, sorted.

    Distinct: where a merge keeps its parents but two of them now have the same image, git-filter-repo
    writes that parent twice; migrator names it once."""
    log = git("log", "-z", "--format=%T %p%x01%B", tip, cwd=repository)
    out = []
    for record in log.split("\0"):
        if record:
            ids, message = record.split("\x01", 1)
            tree, *parents = ids.split()
            out.append((tree, len(set(parents)), message))
    return sorted(out)


def files(repository: Path, commit: str) -> set[tuple[str, str]]:
    """(path, blob id) of every file of a commit's tree."""
    listing = git("ls-tree", "-r", "-z", commit, cwd=repository)
    out = set()
    for record in listing.split("\0"):
        if record:
            meta, path = record.split("\t", 1)
            out.add((path, meta.split()[2]))
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_final_trees_equal_git_filter_repo(tmp_path: Path, name: str) -> None:
    if shutil.which("git-filter-repo") is None:
        missing_prerequisite("git-filter-repo is not installed", "pip install git-filter-repo")
    s = SCENARIOS[name](tmp_path / "source")
    clone = tmp_path / "filtered"
    subprocess.run(["git", "clone", "-q", "--bare", "--no-local", str(s.path), str(clone)], check=True)
    subprocess.run(
        ["git", "filter-repo", "--force", "--quiet", *filter_repo_arguments(s.rules, tmp_path)],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    result = rewrite(GitObjects.open_or_init(s.path), s.refs, s.rules, None)
    listing = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=clone)
    theirs_refs = dict(line.split(" ", 1) for line in listing.splitlines())
    from_excluded = {(path, excluded) for path, _, excluded in result.from_excluded}
    excluded_blobs = set(result.commit_map.excluded_blobs)
    assert result.refs
    differed = False
    for ref, target in result.refs.items():
        if not result.from_excluded:
            # The whole history matches: which commits were pruned, merges reduced, messages scrubbed.
            assert history(s.path, target) == history(clone, theirs_refs[ref]), ref
            continue
        ours = files(s.path, target + "^{commit}")
        theirs = files(clone, theirs_refs[ref] + "^{commit}")
        if ours != theirs:
            # Only content that also stood at an excluded path may be missing from ours.
            extra = theirs - ours
            assert ours < theirs, f"{ref}: migrator kept what git-filter-repo did not: {ours - theirs}"
            assert all(blob in excluded_blobs for _, blob in extra), ref
            assert {path for path, _ in extra} <= {path for path, _ in from_excluded}, ref
            assert s.filter_repo_differs is not None
            differed = True
    # Only the scenario with content moved or copied out of an excluded folder may differ.
    assert differed == bool(result.from_excluded)
    for ref in result.dropped_refs:
        # Dropped by migrator: git-filter-repo removed it too, or it names no commit (a tag of a tree).
        if ref in theirs_refs:
            kind = git("cat-file", "-t", theirs_refs[ref] + "^{}", cwd=clone).strip()
            assert kind != "commit" or git("ls-tree", theirs_refs[ref] + "^{commit}", cwd=clone) == "", ref


@pytest.mark.parametrize("seed", range(16))
def test_random_histories_equal_git_filter_repo(tmp_path: Path, seed: int) -> None:
    if shutil.which("git-filter-repo") is None:
        missing_prerequisite("git-filter-repo is not installed", "pip install git-filter-repo")
    s = random_history(tmp_path / "source", seed)
    clone = tmp_path / "filtered"
    subprocess.run(["git", "clone", "-q", "--bare", "--no-local", str(s.path), str(clone)], check=True)
    subprocess.run(
        ["git", "filter-repo", "--force", "--quiet", *filter_repo_arguments(s.rules, tmp_path)],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    result = rewrite(GitObjects.open_or_init(s.path), s.refs, s.rules, None)
    assert not result.from_excluded
    listing = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=clone)
    theirs_refs = dict(line.split(" ", 1) for line in listing.splitlines())
    assert set(result.refs) | set(result.dropped_refs) == set(s.refs)
    for ref, target in result.refs.items():
        assert history(s.path, target) == history(clone, theirs_refs[ref]), ref
