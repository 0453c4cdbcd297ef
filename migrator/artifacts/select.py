"""Which objects an `artifacts` entry selects (SPEC §7), and why each other one is skipped.

An entry keeps a key when, in this order: the key starts with `prefix`; it matches one of `include` (no
include: every key); it matches none of `exclude`; and the object's user metadata matches every pair of
`metadata`. The first test a key fails is its reason: `prefix`, `include`, `exclude` or `metadata`.

Globs match the whole key, relative to the store's root (the same path on both sides of the copy), as
in .gitignore's full-path patterns: `*` and `?` stay within one folder, `**` crosses folders (`**/`
also matches no folder at all, so `**/*.json` holds `config.json`), `[abc]` is a class.

Metadata keys compare case-insensitively (servers return them in different cases); a value matches
when it equals the pattern or matches it as a glob (`fnmatch`'s `*`, `?`, `[...]`, case-sensitive).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from migrator.plan.model import ArtifactsEntry

REASONS = ("prefix", "include", "exclude", "metadata")


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_matches(pattern: str, key: str) -> bool:
    return glob_regex(pattern).match(key) is not None


def metadata_matches(wanted: Mapping[str, str], metadata: Mapping[str, str]) -> bool:
    have = {key.lower(): value for key, value in metadata.items()}
    for key, pattern in wanted.items():
        value = have.get(key.lower())
        if value is None or not (value == pattern or fnmatch.fnmatchcase(value, pattern)):
            return False
    return True


@dataclass(frozen=True)
class EntryFilter:
    entry: ArtifactsEntry

    def reason_by_key(self, key: str) -> str | None:
        """The reason the key alone rules the object out, or None when its metadata decides."""
        if not key.startswith(self.entry.prefix):
            return "prefix"
        if self.entry.include and not any(glob_matches(p, key) for p in self.entry.include):
            return "include"
        if any(glob_matches(p, key) for p in self.entry.exclude):
            return "exclude"
        return None

    @property
    def needs_metadata(self) -> bool:
        return bool(self.entry.metadata)

    def reason(self, key: str, metadata: Mapping[str, str]) -> str | None:
        """None when the entry selects the object; otherwise the first test it fails."""
        by_key = self.reason_by_key(key)
        if by_key is not None:
            return by_key
        if not metadata_matches(self.entry.metadata, metadata):
            return "metadata"
        return None
