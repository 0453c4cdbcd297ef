"""A local bare repository's objects through libgit2 (pygit2): raw reads and writes, walks, refs.

The rewrite works on raw object bytes and 20-byte binary ids (what tree entries hold): no per-object
Python wrapper, no hex conversion on the hot path. Hex strings appear only where ids leave the rewrite
(maps, refs, results). New objects are written through a sink (packs.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pygit2
from pygit2.enums import SortMode

# git's own object type numbers (as in pack files and libgit2).
COMMIT = 1
TREE = 2
BLOB = 3
TAG = 4
TYPE_NAMES = {COMMIT: b"commit", TREE: b"tree", BLOB: b"blob", TAG: b"tag"}

EMPTY_TREE = bytes.fromhex("4b825dc642cb6eb9a060e54bf8d69288fbee4904")
EMPTY_BLOB = bytes.fromhex("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
GITLINK_MODE = b"160000"
TREE_MODE = b"40000"
TREE_MODES = (TREE_MODE, b"040000")  # some old tools wrote the leading zero; git reads both


class MissingObject(KeyError):
    """An object the repository does not hold (an incomplete fetch, a target not fetched)."""

    def __init__(self, oid: bytes):
        self.oid = oid.hex()
        super().__init__(self.oid)

    def __str__(self) -> str:
        return f"object {self.oid} is not in the local repository"


def object_id(kind: int, data: bytes) -> bytes:
    """git's id of an object: SHA-1 of "<type> <size>\\0" and the bytes."""
    return hashlib.sha1(b"%s %d\x00" % (TYPE_NAMES[kind], len(data)) + data).digest()


def tree_entries(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """A raw tree's entries as (mode, name, 20-byte id), in the tree's (git's) order."""
    entries = []
    pos = 0
    end = len(data)
    find = data.find
    while pos < end:
        space = find(b" ", pos)
        nul = find(b"\x00", space)
        entries.append((data[pos:space], data[space + 1 : nul], data[nul + 1 : nul + 21]))
        pos = nul + 21
    return entries


# One raw tree entry: "<mode> <name>\0<20-byte id>" (a name never holds a NUL).
_ENTRY = re.compile(rb"[0-7]+ [^\x00]*\x00.{20}", re.DOTALL)


def raw_tree_entries(data: bytes) -> list[bytes]:
    """A raw tree's entries as their raw bytes, split at C speed: the rewrite's memo keys."""
    return _ENTRY.findall(data)


def split_entry(entry: bytes) -> tuple[bytes, bytes, bytes]:
    """(mode, name, 20-byte id) of one raw tree entry."""
    space = entry.index(b" ")
    return entry[:space], entry[space + 1 : -21], entry[-20:]


def tree_bytes(entries: Iterable[tuple[bytes, bytes, bytes]]) -> bytes:
    return b"".join(b"%s %s\x00%s" % entry for entry in entries)


def commit_headers(data: bytes) -> tuple[bytes, list[bytes]]:
    """(tree id, parent ids) from a raw commit, binary."""
    head = data.split(b"\n\n", 1)[0]
    tree = b""
    parents = []
    for line in head.split(b"\n"):
        if line.startswith(b"tree "):
            tree = bytes.fromhex(line[5:].decode())
        elif line.startswith(b"parent "):
            parents.append(bytes.fromhex(line[7:].decode()))
        elif not line.startswith((b"tree", b"parent")):
            break  # tree and parents come first
    return tree, parents


class GitObjects:
    """A local bare repository, read and written through libgit2."""

    def __init__(self, repository: pygit2.Repository):
        self.repository = repository
        self.path = Path(repository.path)
        self._odb = repository.odb

    @classmethod
    def open_or_init(cls, path: Path | str) -> GitObjects:
        path = Path(path)
        if (path / "HEAD").exists() or (path / ".git").exists():
            return cls(pygit2.Repository(str(path)))
        path.mkdir(parents=True, exist_ok=True)
        return cls(pygit2.init_repository(str(path), bare=True))

    @classmethod
    def scratch_beside(cls, path: Path | str, lender: Path | str) -> GitObjects:
        """A new bare repository at `path` that reads the objects of the repository `lender` as its
        own (git's alternates): a fetch into it transfers only what the lender lacks, and nothing is
        ever written into the lender. For work that must leave the lender as it was (a dry run)."""
        scratch = cls.open_or_init(path)
        lender_objects = Path(lender) / "objects"
        if lender_objects.is_dir():
            alternates = Path(path) / "objects" / "info" / "alternates"
            alternates.parent.mkdir(parents=True, exist_ok=True)
            alternates.write_text(str(lender_objects.resolve()) + "\n", encoding="utf-8")
            scratch = cls(pygit2.Repository(str(path)))  # opened again, to read the lender's objects
        return scratch

    # Objects -------------------------------------------------------------------------------------

    def read(self, oid: bytes) -> tuple[int, bytes]:
        """(type, raw bytes) of an object; MissingObject if absent."""
        try:
            kind, data = self._odb.read(pygit2.Oid(raw=oid))
        except KeyError:
            raise MissingObject(oid) from None
        return int(kind), data

    def read_header(self, oid: bytes) -> tuple[int, int]:
        """(type, size) without inflating the object where the store allows."""
        try:
            kind, size = self._odb.read_header(pygit2.Oid(raw=oid))
        except KeyError:
            raise MissingObject(oid) from None
        return int(kind), size

    def exists(self, oid: bytes) -> bool:
        return self._odb.exists(pygit2.Oid(raw=oid))

    def write(self, kind: int, data: bytes) -> bytes:
        return self._odb.write(kind, data).raw

    def peel_to_commit(self, oid: bytes) -> tuple[bytes | None, list[bytes]]:
        """Follow tags to what they finally name: (commit id or None, the tag ids passed through)."""
        tags: list[bytes] = []
        while True:
            kind, data = self.read(oid)
            if kind == COMMIT:
                return oid, tags
            if kind != TAG:
                return None, tags
            tags.append(oid)
            oid = bytes.fromhex(data[7:47].decode())  # "object <hex>" is the first line

    def _peeled(self, oid: bytes) -> tuple[int, bytes] | None:
        """What a chain of tags finally names, with its kind; None for a missing object."""
        while self.exists(oid):
            kind, data = self.read(oid)
            if kind != TAG:
                return kind, oid
            oid = bytes.fromhex(data[7:47].decode())
        return None

    # Walks ---------------------------------------------------------------------------------------

    def walk(self, tips: Iterable[bytes], hide: Iterable[bytes] = ()) -> Iterator[bytes]:
        """Commits reachable from `tips` and not from `hide`, parents before children."""
        walker = self.repository.walk(None, SortMode.TOPOLOGICAL | SortMode.REVERSE)
        pushed = False
        for tip in tips:
            walker.push(pygit2.Oid(raw=tip))
            pushed = True
        if not pushed:
            return
        for hidden in hide:
            if self.exists(hidden):
                walker.hide(pygit2.Oid(raw=hidden))
        for commit in walker:
            yield commit.id.raw

    def is_ancestor(self, ancestor: bytes, descendant: bytes) -> bool:
        """Is `ancestor` reachable from `descendant` (or equal to it)?"""
        if ancestor == descendant:
            return True
        for oid in (ancestor, descendant):
            if not self.exists(oid):
                raise MissingObject(oid)
        return bool(self.repository.descendant_of(pygit2.Oid(raw=descendant), pygit2.Oid(raw=ancestor)))

    def reachable_commits(self, tips: Iterable[str], hide: Iterable[str] = ()) -> set[str]:
        """Every commit reachable from the tips and not from `hide` (hex; tags are peeled; non-commit
        tips add nothing)."""
        commits = {self.peel_to_commit(bytes.fromhex(tip))[0] for tip in tips}
        hidden = {self.peel_to_commit(bytes.fromhex(oid))[0] for oid in hide}
        walked = self.walk((c for c in commits if c is not None), (h for h in hidden if h is not None))
        return {commit.hex() for commit in walked}

    def reachable_blobs(self, tips: Iterable[str], hide: Iterable[str] = ()) -> set[str]:
        """Every blob in the trees of the commits reachable from the tips and not from `hide` (hex),
        submodule commits left out; and a blob or tree a tip names itself (a ref, or a tag, may
        point at one directly)."""
        tips = list(tips)
        blobs: set[bytes] = set()
        seen_trees: set[bytes] = set()
        seen_entries: set[bytes] = set()  # raw entries: most recur unchanged in tree after tree
        stack = [commit_headers(self.read(bytes.fromhex(c))[1])[0] for c in self.reachable_commits(tips, hide)]
        for tip in tips:
            named = self._peeled(bytes.fromhex(tip))
            if named is not None and named[0] == BLOB:
                blobs.add(named[1])
            elif named is not None and named[0] == TREE:
                stack.append(named[1])
        while stack:
            tree = stack.pop()
            if tree in seen_trees:
                continue
            seen_trees.add(tree)
            fresh = [entry for entry in raw_tree_entries(self.read(tree)[1]) if entry not in seen_entries]
            seen_entries.update(fresh)
            for entry in fresh:
                mode, _, oid = split_entry(entry)
                if mode in TREE_MODES:
                    stack.append(oid)
                elif mode != GITLINK_MODE:
                    blobs.add(oid)
        return {blob.hex() for blob in blobs}

    # Refs ----------------------------------------------------------------------------------------

    def refs(self) -> dict[str, str]:
        """Every ref (full name -> the id it holds, hex); symbolic refs left out."""
        out = {}
        for name in self.repository.references:
            reference = self.repository.references[name]
            if reference.type == pygit2.enums.ReferenceType.DIRECT:
                out[name] = str(reference.target)
        return out

    def set_ref(self, name: str, oid: str) -> None:
        self.repository.references.create(name, pygit2.Oid(hex=oid), force=True)

    def delete_ref(self, name: str) -> None:
        if name in self.repository.references:
            self.repository.references.delete(name)
