"""One repository's rules, resolved from the plan's `codebase` defaults and its own overrides.

The rewrite sees only this frozen value. Its digest names the rules in the commit map and the
receipt: a target commit id is a pure function of the source commit, this digest and ENGINE_VERSION,
so a change of the digest means the target history would differ and an incremental run is refused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from migrator.audit.canonical import canonical_bytes, sha256_hex

# Raised whenever a change to the rewrite would give different target commits for the same input:
# the digest changes with it, so a mirror made by an older engine is never extended by a newer one.
ENGINE_VERSION = "1"


@dataclass(frozen=True)
class Replacement:
    """Content replaced in the blobs at some paths: every match of `pattern` (a Python regular
    expression, applied to the bytes) becomes `replacement`."""

    paths: tuple[str, ...]  # wildmatch patterns on full paths
    pattern: str
    replacement: str


@dataclass(frozen=True)
class RepoRules:
    name: str  # under source.codebase
    target_name: str  # under target.codebase
    refs_include: tuple[str, ...] = ("refs/heads/*", "refs/tags/*")  # wildmatch on full ref names
    refs_exclude: tuple[str, ...] = ()
    paths_exclude: tuple[str, ...] = ()  # gitignore-style wildmatch on full paths
    paths_include: tuple[str, ...] = ()  # none: every path not excluded
    replacements: tuple[Replacement, ...] = ()
    message_scrub: tuple[str, ...] = ()  # regular expressions; each match becomes SCRUBBED
    submodules: Literal["fail", "drop", "keep"] = "fail"
    lfs: Literal["fail", "pointers-only"] = "fail"
    max_blob_size: int | None = None  # bytes; a larger blob at a kept path: see large_blobs
    large_blobs: Literal["fail", "drop"] = "fail"
    on_source_rewrite: Literal["fail", "follow"] = "fail"
    secrets: Literal["refuse", "redact"] = "refuse"
    secrets_allow: frozenset[str] = field(default_factory=frozenset)  # "sha256:<hex>" of allowed secrets

    def digest(self) -> str:
        """SHA-256 of everything that shapes the target commits, with the engine's version. Settings
        that only decide whether to refuse (an allowlist under `secrets: refuse`, a size limit under
        `large_blobs: fail`, `lfs`, `on_source_rewrite`) and which refs are mirrored leave it alone:
        changing them never makes an earlier sync's commits wrong, so no new baseline is needed."""
        shaping = {
            "engine": ENGINE_VERSION,
            "paths_exclude": list(self.paths_exclude),
            "paths_include": list(self.paths_include),
            "replacements": [asdict(r) for r in self.replacements],
            "message_scrub": list(self.message_scrub),
            "submodules": "drop" if self.submodules == "drop" else "keep",
            "max_blob_size": self.max_blob_size if self.large_blobs == "drop" else None,
            "secrets": self.secrets,
            "secrets_allow": sorted(self.secrets_allow) if self.secrets == "redact" else [],
        }
        return sha256_hex(canonical_bytes(shaping))


SCRUBBED = "[scrubbed]"
