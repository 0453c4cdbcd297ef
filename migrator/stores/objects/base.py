"""What the engine knows of an object store: list, look at, read and write objects, nothing more.

Two stores implement it: S3 through boto3 (`s3.py`) and a local folder (`local.py`). Keys are always
relative to the store's root (`s3://bucket/prefix/` or the folder), with `/` between folders, so the
same key names the same object on both sides of a copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

# The user-metadata key under which a copy's SHA-256 travels with it (S3: x-amz-meta-migrator-sha256;
# local folders: the folder's manifest), so that a later run skips it without reading it.
SHA256_METADATA_KEY = "migrator-sha256"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    # User metadata with lower-cased keys (servers return them in different cases), without ours.
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    # Cache-Control, Content-Encoding, Content-Disposition, Content-Language: carried over as they are.
    headers: dict[str, str] = field(default_factory=dict)
    sha256: str | None = None  # hex, when the store knows it without reading the bytes
    etag: str | None = None


class ObjectStore(Protocol):
    @property
    def location(self) -> str:
        """For messages and the audit trail: `s3://bucket/prefix (endpoint)` or the folder, no secret."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under the prefix, in key order; metadata may be absent (S3 lists no metadata)."""
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """The object with its metadata and headers, or None when there is none under that key."""
        ...

    def read(self, key: str, start: int = 0) -> Iterable[bytes]:
        """The object's bytes from `start`, in chunks: never the whole object in memory."""
        ...
