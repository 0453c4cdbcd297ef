"""Commits and annotated tags rebuilt from their raw bytes.

Only what the rules change is changed: the tree, the parents (or a tag's object), the message after
scrubbing, and signatures, which could not verify any more, are dropped. Author, committer, dates,
encoding and any other header stay byte for byte, so a target id is a pure function of the source
object and the rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from migrator.codebase.rules import SCRUBBED

# Headers (with their continuation lines) that sign the original bytes.
SIGNATURE_HEADERS = (b"gpgsig", b"gpgsig-sha256", b"mergetag")
# Where a signature block starts at the end of a tag's message (PGP, SSH, X.509).
SIGNATURE_BLOCKS = (
    b"-----BEGIN PGP SIGNATURE-----",
    b"-----BEGIN SSH SIGNATURE-----",
    b"-----BEGIN SIGNED MESSAGE-----",
)


def split_object(data: bytes) -> tuple[list[bytes], bytes | None]:
    """(header lines, message) of a raw commit or tag; message None when there is no blank line."""
    end = data.find(b"\n\n")
    if end < 0:
        head = data[:-1] if data.endswith(b"\n") else data
        return head.split(b"\n"), None
    return data[:end].split(b"\n"), data[end + 2 :]


def _kept_headers(lines: list[bytes], replaced: tuple[bytes, ...]) -> list[bytes]:
    """The header lines, without the replaced ones and the signatures (with their continuations)."""
    kept = []
    skipping = False
    for line in lines:
        if line.startswith(b" "):
            if not skipping:
                kept.append(line)
            continue
        key = line.split(b" ", 1)[0]
        skipping = key in SIGNATURE_HEADERS
        if not skipping and key not in replaced:
            kept.append(line)
    return kept


def _join(headers: list[bytes], message: bytes | None) -> bytes:
    head = b"\n".join(headers)
    return head + b"\n" if message is None else head + b"\n\n" + message


def rebuild_commit(data: bytes, tree: bytes, parents: Sequence[bytes], message: bytes | None) -> bytes:
    lines, _ = split_object(data)
    headers = [b"tree " + tree.hex().encode()]
    headers += [b"parent " + parent.hex().encode() for parent in parents]
    headers += _kept_headers(lines, (b"tree", b"parent"))
    return _join(headers, message)


def rebuild_tag(data: bytes, target: bytes, message: bytes | None) -> bytes:
    lines, _ = split_object(data)
    headers = [b"object " + target.hex().encode(), *_kept_headers(lines, (b"object",))]
    return _join(headers, message)


def strip_tag_signature(message: bytes) -> bytes:
    """A signed tag's message without its signature block (which always comes last)."""
    cuts = [message.find(b"\n" + marker) + 1 for marker in SIGNATURE_BLOCKS if b"\n" + marker in message]
    if message.startswith(SIGNATURE_BLOCKS):
        cuts.append(0)
    return message[: min(cuts)] if cuts else message


class MessageScrubber:
    """Every match of the rules' message patterns becomes SCRUBBED (patterns applied to the bytes)."""

    def __init__(self, patterns: Sequence[str]):
        self.patterns = [re.compile(pattern.encode("utf-8")) for pattern in patterns]
        self.replacement = SCRUBBED.encode("utf-8")

    def scrub(self, message: bytes) -> bytes:
        for pattern in self.patterns:
            message = pattern.sub(lambda _: self.replacement, message)
        return message
