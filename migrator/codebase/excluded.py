"""The content that ever stood at an excluded path: collected before any commit is rewritten.

A blob that stands at an excluded path in any commit of the selected history must not cross at any
other path either (a rename or a copy out of `region/eu/` carries the same bytes), including at a kept
path in an earlier commit. Only the exclude list counts: a path left out by an include list is not
secret, just not wanted. Trees are visited once per (tree, path), and only where an exclude pattern
could match below.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migrator.codebase.wildmatch import PathMatcher
from migrator.stores.git.objects import (
    GITLINK_MODE,
    TREE_MODES,
    commit_headers,
    raw_tree_entries,
    split_entry,
    tree_entries,
)

if TYPE_CHECKING:
    from migrator.stores.git.objects import GitObjects


class ExcludedContent:
    def __init__(self, objects: GitObjects, exclude: PathMatcher):
        self.objects = objects
        self.exclude = exclude
        self.blobs: dict[bytes, str] = {}  # blob -> the first excluded path it was seen at
        self._seen: set[tuple[bytes, str]] = set()
        self._seen_excluded: set[bytes] = set()
        self._entries: dict[str, set[bytes]] = {}  # path -> raw entries already visited there
        self._dirs: dict[str, tuple[bool, bool]] = {}  # path -> (excluded itself, may match below)

    def add_commits(self, raw_commits: Iterable[bytes]) -> None:
        if not self.exclude:
            return
        for data in raw_commits:
            tree, _ = commit_headers(data)
            self._visit(tree, "")

    def _visit(self, tree: bytes, prefix: str) -> None:
        key = (tree, prefix)
        if key in self._seen:
            return
        self._seen.add(key)
        # Only entries not met at this path before can add anything (most are the same bytes).
        seen = self._entries.get(prefix)
        if seen is None:
            seen = self._entries[prefix] = set()
        fresh = [entry for entry in raw_tree_entries(self.objects.read(tree)[1]) if entry not in seen]
        seen.update(fresh)
        for entry in fresh:
            mode, name, oid = split_entry(entry)
            path = prefix + name.decode("utf-8", "surrogateescape")
            if mode in TREE_MODES:
                excluded, below = self._dir(path)
                if excluded:
                    self._everything(oid, path + "/")
                elif below:
                    self._visit(oid, path + "/")
            elif mode != GITLINK_MODE and self.exclude.matches_file_itself(path):
                self.blobs.setdefault(oid, path)

    def _dir(self, path: str) -> tuple[bool, bool]:
        known = self._dirs.get(path)
        if known is None:
            known = self._dirs[path] = (
                self.exclude.matches_dir_itself(path),
                self.exclude.might_match_under(path),
            )
        return known

    def _everything(self, tree: bytes, prefix: str) -> None:
        """Every blob under an excluded directory (memoized by tree id alone: all of it is excluded)."""
        if tree in self._seen_excluded:
            return
        self._seen_excluded.add(tree)
        for mode, name, oid in tree_entries(self.objects.read(tree)[1]):
            if mode in TREE_MODES:
                self._everything(oid, prefix + name.decode("utf-8", "surrogateescape") + "/")
            elif mode != GITLINK_MODE:
                self.blobs.setdefault(oid, prefix + name.decode("utf-8", "surrogateescape"))
