"""What the secrets scan finds, shared by the scanner (secrets.py) and the rewrite (rewrite.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SecretMatch:
    """One secret in one blob or message: where it is in the bytes, and its hash (never the secret)."""

    rule: str  # the pattern's id, e.g. "aws-access-key-id"
    start: int  # byte offsets of the secret itself within the scanned bytes
    end: int
    line: int  # 1-based
    sha256: str  # "sha256:<hex>" of the secret's bytes: what the allowlist names


@dataclass(frozen=True)
class Finding:
    """A secret about to be pushed: where it stood in the source, for the refusal and the dry run."""

    rule: str
    path: str  # the file's path, or "(commit message)" / "(tag message)"
    commit: str  # the source commit (or tag) it is in, hex
    line: int
    sha256: str
