"""Filtered trees: a source tree's image under one repository's rules, memoized.

A tree's image depends on the tree and on where it stands (the rules are on full paths), so the memo
key is (tree id, path). Unchanged subtrees keep their id without being written; a directory the rules
exclude is dropped unread. Blobs are kept by reference unless a replacement or a redaction changes
them (memoized by blob and the replacements that apply). What the dry run and the refusals need to
know — excluded paths, content from excluded paths, submodules, LFS pointers, large blobs, secrets —
is noted the first time an entry (path, mode, id) is met, with the source commit being rewritten then:
the commit that introduced it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from migrator.codebase.findings import Finding, SecretMatch
from migrator.codebase.rules import RepoRules
from migrator.codebase.wildmatch import PathMatcher, PathRules
from migrator.stores.git.objects import BLOB, EMPTY_BLOB, GITLINK_MODE, TREE, TREE_MODES, raw_tree_entries, split_entry

if TYPE_CHECKING:
    from migrator.stores.git.objects import GitObjects
    from migrator.stores.git.packs import MemorySink, PackSink

Scanner = Callable[[bytes], list[SecretMatch]]
Redactor = Callable[[bytes, Sequence[SecretMatch]], bytes]

LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"
LFS_POINTER_MAX = 1024  # the LFS spec: a pointer file is under 1024 bytes
SYMLINK_MODE = b"120000"

# What a directory is to the path rules (cached per path).
_DESCEND, _EXCLUDED, _NOT_INCLUDED = 0, 1, 2


@dataclass
class Observed:
    """What the rewrite noticed, for the result (the dry run lists it; the sync decides on refusals)."""

    excluded_paths: set[str] = field(default_factory=set)
    from_excluded: list[tuple[str, str, str]] = field(default_factory=list)  # kept path, commit, excluded path
    submodules: list[tuple[str, str]] = field(default_factory=list)  # path, source commit
    lfs_pointers: list[tuple[str, str]] = field(default_factory=list)  # path, source commit
    large_blobs: list[tuple[str, str, int]] = field(default_factory=list)  # path, source commit, size
    findings: list[Finding] = field(default_factory=list)
    kept_blobs: set[bytes] = field(default_factory=set)  # source blobs kept at a kept path
    new_blobs: set[bytes] = field(default_factory=set)  # target blobs not pushed by an earlier sync


def redact_matches(data: bytes, matches: Sequence[SecretMatch]) -> bytes:
    """Each secret becomes b"REDACTED" (the rewrite's own, for when no redactor is given)."""
    out = []
    last = 0
    for match in sorted(matches, key=lambda m: m.start):
        if match.start < last:
            continue  # overlapping matches: the first one already covers it
        out += [data[last : match.start], b"REDACTED"]
        last = match.end
    out.append(data[last:])
    return b"".join(out)


class TreeFilter:
    def __init__(
        self,
        objects: GitObjects,
        sink: PackSink | MemorySink,
        rules: RepoRules,
        excluded_blobs: dict[bytes, str],
        pushed_before: set[bytes],
        scan: Scanner | None,
        redact: Redactor,
    ):
        self.objects = objects
        self.sink = sink
        self.rules = rules
        self.paths = PathRules(rules.paths_exclude, rules.paths_include)
        self.excluded_blobs = excluded_blobs
        self.pushed_before = pushed_before
        self.scan = scan
        self.redact = redact
        self.replacements = [
            (PathMatcher(r.paths), re.compile(r.pattern.encode()), r.replacement.encode()) for r in rules.replacements
        ]
        self.observed = Observed()
        self.commit = ""  # the source commit being rewritten (hex), for what is observed
        self.recording = True  # off while re-deriving trees an earlier sync already rewrote
        self._trees: dict[tuple[bytes, str], bytes | None] = {}
        self._entries: dict[str, dict[bytes, bytes]] = {}  # path -> raw entry -> its image
        self._blobs: dict[tuple[bytes, tuple[int, ...]], bytes | None] = {}
        self._dirs: dict[str, int] = {}
        self._files: dict[str, bool] = {}
        self._applying: dict[str, tuple[int, ...]] = {}
        self._empty_tree: bytes | None = None

    def root(self, tree: bytes) -> bytes:
        """The image of a commit's root tree (the empty tree if nothing is kept)."""
        image = self.filter(tree, "")
        if image is None:
            if self._empty_tree is None:
                self._empty_tree = self.sink.write(TREE, b"")
            return self._empty_tree
        return image

    def filter(self, tree: bytes, prefix: str) -> bytes | None:
        """The image of the tree standing at `prefix` ("" or "dir/"), None if nothing in it is kept."""
        key = (tree, prefix)
        try:
            return self._trees[key]
        except KeyError:
            pass
        data = self.objects.read(tree)[1]
        entries = raw_tree_entries(data)
        # Each raw entry's image at this path, memoized: between two versions of a tree most entries
        # are the same bytes, so the common case is one dict lookup per entry, done in C by map().
        cache = self._entries.get(prefix)
        if cache is None:
            cache = self._entries[prefix] = {}
        images = list(map(cache.get, entries))
        if None in images:
            for index, image in enumerate(images):
                if image is None:
                    images[index] = cache[entries[index]] = self._entry(entries[index], prefix)
        filtered = b"".join(images)  # type: ignore[arg-type]
        if not filtered:
            result = None
        elif filtered == data:
            result = tree  # unchanged: the same id, already in the repository
        else:
            result = self.sink.write(TREE, filtered)
        self._trees[key] = result
        return result

    def _entry(self, raw: bytes, prefix: str) -> bytes:
        """A raw entry's image (b"" when it is dropped)."""
        mode, name, oid = split_entry(raw)
        path = prefix + name.decode("utf-8", "surrogateescape")
        if mode in TREE_MODES:
            decision = self._dir_decision(path)
            if decision != _DESCEND:
                self._note_excluded(path + "/")
                return b""
            image = self.filter(oid, path + "/")
        else:
            image = self._file(mode, oid, path)
        if image is None:
            return b""
        return raw if image == oid else raw[:-20] + image

    def _file(self, mode: bytes, oid: bytes, path: str) -> bytes | None:
        if not self._keeps_file(path):
            self._note_excluded(path)
            return None
        if mode == GITLINK_MODE:
            if self.recording:
                self.observed.submodules.append((path, self.commit))
            return None if self.rules.submodules == "drop" else oid
        if path == ".gitmodules" and self.rules.submodules == "drop":
            return None
        if oid in self.excluded_blobs and oid != EMPTY_BLOB:
            if self.recording:
                self.observed.from_excluded.append((path, self.commit, self.excluded_blobs[oid]))
            return None
        if mode == SYMLINK_MODE:
            self._kept(oid, oid)
            return oid  # a link's target is a path, not content to filter
        return self._blob(oid, path)

    def _note_excluded(self, path: str) -> None:
        if self.recording:
            self.observed.excluded_paths.add(path)

    def _dir_decision(self, path: str) -> int:
        decision = self._dirs.get(path)
        if decision is None:
            if self.paths.excludes_dir(path):
                decision = _EXCLUDED
            elif not self.paths.might_keep_under(path):
                decision = _NOT_INCLUDED
            else:
                decision = _DESCEND
            self._dirs[path] = decision
        return decision

    def _keeps_file(self, path: str) -> bool:
        keeps = self._files.get(path)
        if keeps is None:
            keeps = self._files[path] = self.paths.keeps_file(path)
        return keeps

    def _blob(self, oid: bytes, path: str) -> bytes | None:
        applying = self._applying.get(path)
        if applying is None:
            applying = tuple(i for i, (paths, _, _) in enumerate(self.replacements) if paths.matches_file(path))
            self._applying[path] = applying
        key = (oid, applying)
        try:
            return self._blobs[key]
        except KeyError:
            pass
        image = self._process_blob(oid, path, applying)
        self._blobs[key] = image
        return image

    def _process_blob(self, oid: bytes, path: str, applying: tuple[int, ...]) -> bytes | None:
        first_time = oid not in self.pushed_before and self.recording
        limit = self.rules.max_blob_size
        _, size = self.objects.read_header(oid)
        if limit is not None and size > limit:
            if first_time:
                self.observed.large_blobs.append((path, self.commit, size))
            if self.rules.large_blobs == "drop":
                return None
        if not applying and self.scan is None and size >= LFS_POINTER_MAX:
            self._kept(oid, oid)
            return oid  # nothing to look for in it: kept by reference, unread
        data = self.objects.read(oid)[1]
        if data.startswith(LFS_POINTER_PREFIX) and size < LFS_POINTER_MAX:
            if first_time:
                self.observed.lfs_pointers.append((path, self.commit))
            self._kept(oid, oid)
            return oid
        original = data
        for index in applying:
            _, pattern, replacement = self.replacements[index]
            data = pattern.sub(replacement, data)
        if self.scan is not None:
            matches = [m for m in self.scan(data) if m.sha256 not in self.rules.secrets_allow]
            if matches and first_time:
                self.observed.findings += [Finding(m.rule, path, self.commit, m.line, m.sha256) for m in matches]
            if matches and self.rules.secrets == "redact":
                data = self.redact(data, matches)
        image = oid if data == original else self.sink.write(BLOB, data)
        self._kept(oid, image)
        return image

    def _kept(self, source: bytes, image: bytes) -> None:
        self.observed.kept_blobs.add(source)
        if source not in self.pushed_before:
            self.observed.new_blobs.add(image)
