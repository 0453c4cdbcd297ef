"""What the engine knows of an object store: list, look at, read and write objects, nothing more.

Two stores implement it: S3 through boto3 (`s3.py`) and a local folder (`local.py`); `open.py` picks one
from a plan's URL. Keys are always relative to the store's root (`s3://bucket/prefix/` or the folder),
with `/` between folders, so the same key names the same object on both sides of a copy.

The writing side is deliberately S3's own vocabulary, one call per request: a single `put` for small
objects, and `create_upload` / `upload_part` / `list_parts` / `complete_upload` / `abort_upload` for
large ones. The copier (migrator/artifacts/copier.py) drives those calls itself, one part at a time, so
it can checkpoint every finished part and resume a killed upload where it stopped: a managed transfer
(boto3's `upload_fileobj`) aborts its upload on failure and keeps no record of its parts. A local folder
speaks the same vocabulary (parts written at their offsets into a partial file), so the copier has one
path for every direction.

Every call raises our errors only: TransientError (worth retrying), PermanentError, or StoreUnavailable
when the store refuses us at first contact (no such bucket or folder, access denied, nothing listening).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
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
    # The server's own SHA-256 checksum: of the whole object (hex), or of its parts ("BASE64-N", S3's
    # composite multipart checksum). `sha256` above prefers our stored one; verification checks both.
    checksum_sha256: str | None = None
    composite_sha256: str | None = None
    # True when `metadata`, `content_type` and `headers` are known (S3's listing has none of them).
    described: bool = True


@dataclass(frozen=True)
class Place:
    """Where a store's root is, for the overlap guard: two places overlap when they are of the same
    kind on the same authority (the endpoint and bucket; nothing for folders) and one root is a prefix
    of the other. Roots end in `/` (a folder's real path, or the bucket prefix)."""

    kind: str  # "s3" | "file"
    authority: str
    root: str

    def overlaps(self, other: Place) -> bool:
        if (self.kind, self.authority) != (other.kind, other.authority):
            return False
        return self.root.startswith(other.root) or other.root.startswith(self.root)


@dataclass(frozen=True)
class PartDone:
    """A finished part of a multipart upload, as the copier checkpoints it."""

    number: int  # from 1
    etag: str
    size: int
    sha256: str  # hex


@dataclass(frozen=True)
class Written:
    """What a store answered a write with: the new object's version (its ETag, as a later listing shows
    it) and, where the store computed one over the bytes it now holds, their SHA-256 (hex, whole object)."""

    etag: str | None
    checksum_sha256: str | None = None


class ObjectStore(Protocol):
    @property
    def location(self) -> str:
        """For messages and the audit trail: `s3://bucket/prefix (endpoint)` or the folder, no secret."""
        ...

    @property
    def place(self) -> Place: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under the prefix, in key order; metadata may be absent (`described` False)."""
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """The object with its metadata and headers, or None when there is none under that key."""
        ...

    def get(self, key: str, etag: str | None = None) -> tuple[ObjectInfo, bytes]:
        """An object small enough to hold (below the multipart threshold), whole, with its metadata and
        headers, in one request (S3: the GET answers what a HEAD would). With `etag`, only that version
        (a PermanentError otherwise, as `read`); a PermanentError when it no longer exists."""
        ...

    def read(self, key: str, start: int = 0, end: int | None = None, etag: str | None = None) -> Iterable[bytes]:
        """The object's bytes from `start` to `end` (exclusive), in chunks: never the whole object. With
        `etag`, only from that version: a PermanentError when the object has changed since (S3: If-Match),
        so the parts of one copy never come from two versions."""
        ...


class WritableObjectStore(ObjectStore, Protocol):
    """A copy's target. `info` carries the metadata, content type and headers to set; `sha256` is the
    object's full SHA-256 (hex), stored with it (S3: x-amz-meta-migrator-sha256; a folder: its manifest)."""

    def put(self, info: ObjectInfo, data: bytes, sha256: str) -> Written:
        """One request for an object small enough to hold (below the multipart threshold). The object is
        in place when it returns; what the store records beside it may wait for `commit`."""
        ...

    def commit(self) -> None:
        """Make durable what the writes so far recorded beside their objects (a folder's manifest lines,
        written in groups; S3: nothing, each request is)."""
        ...

    def create_upload(self, info: ObjectInfo, sha256: str | None, part_size: int) -> str:
        """Start a multipart upload; the upload id. `sha256` None: not known yet (see `finish_upload`)."""
        ...

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes, sha256: str) -> str:
        """Send one part (its SHA-256 travels with it, so the store rejects damaged bytes); its ETag."""
        ...

    def list_parts(self, key: str, upload_id: str) -> Sequence[PartDone] | None:
        """The parts the store holds for the upload; None when the upload no longer exists."""
        ...

    def complete_upload(
        self, info: ObjectInfo, upload_id: str, parts: Sequence[PartDone], sha256: str, sha256_in_metadata: bool
    ) -> Written:
        """Join the parts. `sha256_in_metadata` False: `create_upload` did not know the SHA-256, and the
        store must now record it with the object (S3: a server-side copy onto itself)."""
        ...

    def abort_upload(self, key: str, upload_id: str) -> None: ...

    def delete(self, key: str) -> None: ...

    def hash_object(self, key: str) -> str | None:
        """The object's SHA-256 as its bytes say, when the store can tell it cheaply (a folder reads the
        file; S3 returns None: reading it back is what verification avoids)."""
        ...
