"""The commit map: what the last sync made of each source commit, kept beside the receipt.

It is what makes the next sync incremental (the mapped commits are hidden from the walk), what verify
checks the target against, and the memory of what crossed: the blobs that stood at excluded paths (so
later commits cannot carry them either) and the blobs that were pushed (so a later sync can tell that
content already in the target has since turned up at an excluded path). Its text form is canonical
(sorted lines), so its SHA-256 names it in the receipt.

Text format, one record a line:
    migrator commit map 1
    rules <digest>
    tip <source commit hex> <ref>
    commit <source hex> <target hex | -> [pruned]   (pruned: the image is an ancestor's, or none)
    excluded-blob <source blob hex> <a path where it stood>
    pushed-blob <source blob hex>
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from migrator.audit.durable import write_atomically

HEADER = b"migrator commit map 1"


@dataclass
class CommitMap:
    rules_digest: str
    commits: dict[str, str | None] = field(default_factory=dict)  # source commit -> image (None: none)
    tips: dict[str, str] = field(default_factory=dict)  # selected ref -> source commit it stood at
    excluded_blobs: dict[str, str] = field(default_factory=dict)  # blob -> an excluded path it stood at
    pushed_blobs: set[str] = field(default_factory=set)  # source blobs kept at some kept path
    pruned: set[str] = field(default_factory=set)  # source commits without an image of their own

    def export_text(self) -> bytes:
        lines = [HEADER, b"rules " + self.rules_digest.encode()]
        lines += sorted(f"tip {commit} {ref}".encode() for ref, commit in self.tips.items())
        lines += sorted(
            f"commit {src} {dst or '-'}{' pruned' if src in self.pruned else ''}".encode()
            for src, dst in self.commits.items()
        )
        lines += sorted(b"excluded-blob %s %s" % (b.encode(), _path_bytes(p)) for b, p in self.excluded_blobs.items())
        lines += sorted(f"pushed-blob {b}".encode() for b in self.pushed_blobs)
        return b"\n".join(lines) + b"\n"

    def digest(self) -> str:
        return hashlib.sha256(self.export_text()).hexdigest()

    def save(self, path: Path) -> None:
        write_atomically(path, self.export_text())

    @classmethod
    def load(cls, path: Path) -> CommitMap | None:
        """The map saved at `path`, or None if there is none (a first sync)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: bytes, where: str = "commit map") -> CommitMap:
        lines = data.decode("utf-8", "surrogateescape").split("\n")
        if lines[0] != HEADER.decode() or not lines[1].startswith("rules "):
            raise ValueError(f"{where}: not a migrator commit map")
        result = cls(rules_digest=lines[1][len("rules ") :])
        for number, line in enumerate(lines[2:], start=3):
            if not line:
                continue
            kind, _, rest = line.partition(" ")
            if kind == "tip":
                commit, _, ref = rest.partition(" ")
                result.tips[ref] = commit
            elif kind == "commit":
                src, dst, *flags = rest.split(" ")
                result.commits[src] = None if dst == "-" else dst
                if flags == ["pruned"]:
                    result.pruned.add(src)
            elif kind == "excluded-blob":
                blob, _, path = rest.partition(" ")
                result.excluded_blobs[blob] = _path_text(path)
            elif kind == "pushed-blob":
                result.pushed_blobs.add(rest)
            else:
                raise ValueError(f"{where}:{number}: unknown record {kind!r}")
        return result

    def targets(self) -> set[str]:
        """Every target commit that is the image of some source commit."""
        return {target for target in self.commits.values() if target is not None}


def _path_bytes(path: str) -> bytes:
    """A path on one line: its bytes as git has them (non-UTF-8 names kept), backslash and newline escaped."""
    return path.encode("utf-8", "surrogateescape").replace(b"\\", b"\\\\").replace(b"\n", b"\\n")


def _path_text(text: str) -> str:
    return re.sub(r"\\(\\|n)", lambda m: "\n" if m.group(1) == "n" else "\\", text)
