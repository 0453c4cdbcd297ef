"""The history rewrite: a repository's selected refs, filtered by its rules, deterministic and incremental.

Source commits are walked parents first from the selected tips, hiding every commit the previous map
already holds; each is rebuilt from its raw bytes with its filtered tree and mapped parents
(commits.py, trees.py). Nothing here depends on time, order of refs or the previous run's state beyond
its map, so a target id is a pure function of the source commit and the rules (RepoRules.digest(),
which includes the engine version) — a later run extends the old target history instead of
re-creating it, and verify can replay the rewrite in memory (`write=False`) and compare by hash.

Pruning follows git-filter-repo exactly (the differential test compares whole histories): a commit
that becomes empty through filtering takes its parent's image (a root that becomes empty has none); a
commit empty in the source is kept unless its parent was pruned. A merge loses parents without an
image and, among parents whose source was pruned, duplicates and ancestors of another parent (a side
that only touched excluded paths collapses); left with one parent and its tree, it is pruned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from migrator.codebase.commit_map import CommitMap
from migrator.codebase.commits import MessageScrubber, rebuild_commit, rebuild_tag, split_object, strip_tag_signature
from migrator.codebase.excluded import ExcludedContent
from migrator.codebase.findings import Finding, SecretMatch
from migrator.codebase.image_graph import ImageGraph
from migrator.codebase.refusals import ExcludedContentPushed, HistoryRefused, RulesChanged, SourceRewritten
from migrator.codebase.rules import RepoRules
from migrator.codebase.trees import Redactor, TreeFilter, redact_matches
from migrator.codebase.wildmatch import PathMatcher, ref_matches
from migrator.errors import PermanentError
from migrator.stores.git.objects import (
    COMMIT,
    EMPTY_TREE,
    TAG,
    GitObjects,
    MissingObject,
    commit_headers,
)
from migrator.stores.git.packs import MemorySink, PackSink

__all__ = ["ExcludedContentPushed", "HistoryRefused", "Rewrite", "RulesChanged", "SourceRewritten", "rewrite"]


@dataclass
class Rewrite:
    """What a rewrite made and noticed. Refusals (submodules, LFS, large blobs, secrets) are only
    listed here: the sync decides, the dry run shows them all."""

    refs: dict[str, str]  # selected source ref -> target object id (commit, or recreated tag)
    dropped_refs: list[str]  # selected refs without an image (all of it excluded; a tag of a tree or blob)
    commit_map: CommitMap  # the previous map and this run's commits
    source_tips: dict[str, str]  # selected ref -> the source object id it held
    new_commits: dict[str, str] = field(default_factory=dict)  # source -> its own image, rewritten now
    pruned_commits: list[str] = field(default_factory=list)  # rewritten now, no image of their own
    excluded_paths: set[str] = field(default_factory=set)  # directories end with "/"
    from_excluded: list[tuple[str, str, str]] = field(default_factory=list)  # kept path, commit, excluded path
    submodules: list[tuple[str, str]] = field(default_factory=list)  # path, source commit
    lfs_pointers: list[tuple[str, str]] = field(default_factory=list)  # path, source commit
    large_blobs: list[tuple[str, str, int]] = field(default_factory=list)  # path, source commit, size
    findings: list[Finding] = field(default_factory=list)  # not allowlisted, new in this rewrite
    new_blobs: int = 0  # target blobs not pushed by an earlier sync


def selects(rules: RepoRules, ref: str) -> bool:
    included = any(ref_matches(pattern, ref) for pattern in rules.refs_include)
    return included and not any(ref_matches(pattern, ref) for pattern in rules.refs_exclude)


def rewrite(
    objects: GitObjects,
    source_refs: Mapping[str, str],
    rules: RepoRules,
    previous: CommitMap | None,
    *,
    write: bool = True,
    scan: Callable[[bytes], list[SecretMatch]] | None = None,
    redact: Redactor | None = None,
) -> Rewrite:
    """Rewrite the selected refs of `source_refs` (already fetched into `objects`) under `rules`.

    With a `previous` map, the earlier syncs' target commits must be in `objects` too when new merges
    need their ancestry (the sync keeps its local repository, or fetches the target's refs into it)."""
    rewriter = _Rewriter(objects, rules, previous, write=write, scan=scan, redact=redact or redact_matches)
    try:
        return rewriter.run(source_refs)
    except MissingObject as missing:
        raise PermanentError(f"{rules.name}: {missing}: the source was not fetched completely") from None


class _Rewriter:
    def __init__(
        self,
        objects: GitObjects,
        rules: RepoRules,
        previous: CommitMap | None,
        *,
        write: bool,
        scan: Callable[[bytes], list[SecretMatch]] | None,
        redact: Redactor,
    ):
        self.objects = objects
        self.rules = rules
        self.digest = rules.digest()
        if previous is not None and previous.rules_digest != self.digest:
            raise RulesChanged(rules.name, previous.rules_digest, self.digest)
        self.previous = previous or CommitMap(rules_digest=self.digest)
        self.sink: PackSink | MemorySink = PackSink(objects) if write else MemorySink()
        self.scan = scan
        self.redact = redact
        self.scrubber = MessageScrubber(rules.message_scrub)
        # Images of source commits (binary ids; None: no image), the previous run's and this one's.
        self.images: dict[bytes, bytes | None] = {
            bytes.fromhex(s): None if t is None else bytes.fromhex(t) for s, t in self.previous.commits.items()
        }
        self.source_trees: dict[bytes, bytes] = {}
        self.image_trees: dict[bytes, bytes] = {}
        self.graph = ImageGraph(objects)
        self.findings: list[Finding] = []
        self.new_commits: dict[str, str] = {}
        self.pruned: list[str] = []
        self.pruned_sources: set[bytes] = {bytes.fromhex(c) for c in self.previous.pruned}
        self._sources_of: dict[bytes, bytes] | None = None  # earlier images -> a source commit

    # The run ---------------------------------------------------------------------------------------

    def run(self, source_refs: Mapping[str, str]) -> Rewrite:
        selected = {ref: source_refs[ref] for ref in sorted(source_refs) if selects(self.rules, ref)}
        peeled = {ref: self.objects.peel_to_commit(bytes.fromhex(oid)) for ref, oid in selected.items()}
        tips = {ref: commit for ref, (commit, _) in peeled.items() if commit is not None}
        self._check_source_rewrites(tips)

        hidden = [bytes.fromhex(c) for c in self.previous.tips.values()]
        order = [c for c in self.objects.walk(dict.fromkeys(tips.values()), hidden) if c not in self.images]
        raw = {commit: self.objects.read(commit)[1] for commit in order}

        excluded = self._excluded_content(raw)
        pushed_before = {bytes.fromhex(b) for b in self.previous.pushed_blobs}
        self.trees = TreeFilter(self.objects, self.sink, self.rules, excluded, pushed_before, self.scan, self.redact)
        for commit in order:
            self._rewrite_commit(commit, raw[commit])

        refs: dict[str, str] = {}
        dropped: list[str] = []
        for ref, (peeled_commit, tags) in peeled.items():
            image = self._ref_image(peeled_commit, tags)
            if image is None:
                dropped.append(ref)
            else:
                refs[ref] = image.hex()
        self.sink.close()  # the new objects become visible only now, whole
        return self._result(selected, tips, refs, dropped, excluded)

    def _check_source_rewrites(self, tips: dict[str, bytes]) -> None:
        for ref, new in tips.items():
            old_hex = self.previous.tips.get(ref)
            if old_hex is None or old_hex == new.hex():
                continue
            old = bytes.fromhex(old_hex)
            if self.objects.exists(old) and self.objects.is_ancestor(old, new):
                continue
            if self.rules.on_source_rewrite == "fail":
                raise SourceRewritten(self.rules.name, ref, old_hex, new.hex())

    def _excluded_content(self, raw: dict[bytes, bytes]) -> dict[bytes, str]:
        """The blobs that stood at excluded paths: the previous runs' and those in the new commits. One
        already pushed at a kept path refuses the run: the target already holds it."""
        collector = ExcludedContent(self.objects, PathMatcher(self.rules.paths_exclude))
        collector.add_commits(raw.values())
        excluded = {bytes.fromhex(b): path for b, path in self.previous.excluded_blobs.items()}
        newly = {blob.hex(): path for blob, path in collector.blobs.items() if blob not in excluded}
        leaked = {blob: path for blob, path in newly.items() if blob in self.previous.pushed_blobs}
        if leaked:
            raise ExcludedContentPushed(self.rules.name, leaked)
        for blob, path in collector.blobs.items():
            excluded.setdefault(blob, path)
        return excluded

    def _result(
        self,
        selected: dict[str, str],
        tips: dict[str, bytes],
        refs: dict[str, str],
        dropped: list[str],
        excluded: dict[bytes, str],
    ) -> Rewrite:
        observed = self.trees.observed
        commit_map = CommitMap(
            rules_digest=self.digest,
            commits={**self.previous.commits, **self._new_map_entries()},
            tips={ref: commit.hex() for ref, commit in tips.items()},
            excluded_blobs={blob.hex(): path for blob, path in excluded.items()},
            pushed_blobs=self.previous.pushed_blobs | {blob.hex() for blob in observed.kept_blobs},
            pruned=self.previous.pruned | set(self.pruned),
        )
        return Rewrite(
            refs=refs,
            dropped_refs=dropped,
            commit_map=commit_map,
            source_tips=selected,
            new_commits=self.new_commits,
            pruned_commits=self.pruned,
            excluded_paths=observed.excluded_paths,
            from_excluded=observed.from_excluded,
            submodules=observed.submodules,
            lfs_pointers=observed.lfs_pointers,
            large_blobs=observed.large_blobs,
            findings=observed.findings + self.findings,
            new_blobs=len(observed.new_blobs),
        )

    def _new_map_entries(self) -> dict[str, str | None]:
        entries: dict[str, str | None] = dict(self.new_commits)
        for source in self.pruned:
            image = self.images[bytes.fromhex(source)]
            entries[source] = None if image is None else image.hex()
        return entries

    # Commits ---------------------------------------------------------------------------------------

    def _rewrite_commit(self, commit: bytes, data: bytes) -> None:
        source_tree, source_parents = commit_headers(data)
        self.source_trees[commit] = source_tree
        self.trees.commit = commit.hex()
        tree = self.trees.root(source_tree)
        parents, new_first = self._mapped_parents(source_parents)
        if self._prunable(tree, source_tree, source_parents, parents, new_first):
            self.images[commit] = new_first or (parents[0] if parents else None)
            self.pruned_sources.add(commit)
            self.pruned.append(commit.hex())
            return

        _, message = split_object(data)
        if message is not None:
            message = self._message(message, "(commit message)", commit)
        rebuilt = rebuild_commit(data, tree, parents, message)
        image = commit if rebuilt == data else self.sink.write(COMMIT, rebuilt)
        self.images[commit] = image
        self.image_trees[image] = tree
        self.graph.add(image, parents)
        self.new_commits[commit.hex()] = image.hex()

    def _prunable(
        self,
        tree: bytes,
        source_tree: bytes,
        source_parents: list[bytes],
        parents: list[bytes],
        new_first: bytes | None,
    ) -> bool:
        """git-filter-repo's rule: a commit is pruned when filtering made it empty; one that was empty
        in the source is kept unless a parent of it was pruned; a merge that still has two parents is
        kept, one whose other parents turned out redundant is pruned if it changes nothing."""
        if len(parents) >= 2 and new_first is None:
            return False
        if len(parents) < 2:
            first_source_tree = self._source_tree(source_parents[0]) if source_parents else EMPTY_TREE
            if source_tree == first_source_tree:  # empty in the source
                parents_pruned = len(parents) < len(source_parents) or (
                    len(source_parents) == 1 and source_parents[0] in self.pruned_sources
                )
                return parents_pruned
        base = new_first or (parents[0] if parents else None)
        return tree == (self._image_tree(base) if base is not None else EMPTY_TREE)

    def _message(self, message: bytes, where: str, source: bytes) -> bytes:
        message = self.scrubber.scrub(message)
        if self.scan is None:
            return message
        matches = [m for m in self.scan(message) if m.sha256 not in self.rules.secrets_allow]
        self.findings += [Finding(m.rule, where, source.hex(), m.line, m.sha256) for m in matches]
        if matches and self.rules.secrets == "redact":
            message = self.redact(message, matches)
        return message

    def _mapped_parents(self, source_parents: list[bytes]) -> tuple[list[bytes], bytes | None]:
        """(parents, new first parent) as git-filter-repo trims them: parents without an image go; of
        the parents whose source was pruned (their image is an ancestor's), duplicates and those that
        are ancestors of another parent go, unless they already were in the source (a --no-ff merge).
        A merge that this would leave with one parent keeps its parents and names that one as the new
        first parent: it is pruned if it changes nothing against it."""
        kept: list[tuple[bytes, bytes]] = []  # (image, source parent)
        for parent in source_parents:
            if parent not in self.images:
                raise HistoryRefused(
                    f"{self.rules.name}: parent {parent.hex()} of a commit being rewritten was neither "
                    f"walked nor mapped (a shallow or incomplete fetch?)"
                )
            image = self.images[parent]
            if image is not None:
                kept.append((image, parent))
        every = [image for image, _ in kept]
        if len(kept) < 2:
            return every, None
        seen: set[bytes] = set()
        unique = []
        for image, parent in kept:
            if parent in self.pruned_sources and image in seen:
                continue
            seen.add(image)
            unique.append((image, parent))
        if len(unique) < 2:
            return _distinct(every), unique[0][0]
        redundant = set()
        for i, (image, parent) in enumerate(unique):
            if parent not in self.pruned_sources:
                continue
            for j, (other, other_parent) in enumerate(unique):
                if i == j or not self.graph.is_ancestor(image, other):
                    continue
                if self.objects.is_ancestor(parent, other_parent):
                    continue  # already so in the source: a --no-ff merge stays one
                redundant.add(i)
                break
        remaining = [image for i, (image, _) in enumerate(unique) if i not in redundant]
        if len(remaining) < 2:
            return _distinct(every), remaining[0]
        return remaining, None

    def _source_tree(self, commit: bytes) -> bytes:
        tree = self.source_trees.get(commit)
        if tree is None:
            tree = self.source_trees[commit] = commit_headers(self.objects.read(commit)[1])[0]
        return tree

    def _image_tree(self, image: bytes) -> bytes:
        """The tree of an image. One made by an earlier run is re-derived from a source commit that maps
        to it (the same rules give the same tree), without reading the target."""
        tree = self.image_trees.get(image)
        if tree is None:
            if self._sources_of is None:
                self._sources_of = {i: s for s, i in self.images.items() if i is not None}
            self.trees.recording = False
            try:
                tree = self.trees.root(self._source_tree(self._sources_of[image]))
            finally:
                self.trees.recording = True
            self.image_trees[image] = tree
        return tree

    # Refs ------------------------------------------------------------------------------------------

    def _ref_image(self, commit: bytes | None, tags: list[bytes]) -> bytes | None:
        """A ref's image: its commit's, through recreated tags (innermost first)."""
        if commit is None:
            return None
        image = self.images.get(commit)
        if image is None:
            return None
        for tag in reversed(tags):
            data = self.objects.read(tag)[1]
            _, message = split_object(data)
            if message is not None:
                message = self._message(strip_tag_signature(message), "(tag message)", tag)
            rebuilt = rebuild_tag(data, image, message)
            image = tag if rebuilt == data else self.sink.write(TAG, rebuilt)
        return image


def _distinct(images: list[bytes]) -> list[bytes]:
    """The parents in order, each once (a commit cannot name one parent twice)."""
    return list(dict.fromkeys(images))
