"""A plan's flag-definition file, on either side: a local path or one S3 object (SPEC §2 `flags`).

A local target is written atomically (a temporary file beside it, fsync, rename: a reader sees the old
file or the new one, never half); an S3 target with one PUT carrying the body's SHA-256, which the
server checks, so a damaged upload is refused rather than stored. Reading the whole file at once is
fine: a flag file is kilobytes, at most a few megabytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from migrator.audit.canonical import sha256_hex
from migrator.audit.durable import write_atomically
from migrator.errors import PermanentError, StoreUnavailable, UsageError
from migrator.plan.model import S3Settings

CONTENT_TYPE = "application/json"


class FlagFile:
    """One side's flag file. `shown` names it in messages and the audit trail (no secret in it);
    `identity` is what the isolation guard compares: two sides with one identity are one file."""

    def __init__(self, location: str, s3: S3Settings | None, base_dir: Path):
        self.location = location
        if location.startswith("s3://"):
            bucket, _, key = location[5:].partition("/")
            if not bucket or not key or key.endswith("/"):
                raise UsageError(f"{location}: a flag file on S3 is one object: s3://BUCKET/KEY")
            from migrator.stores.objects.open import open_store

            folder, _, self._key = key.rpartition("/")
            self._store = open_store(f"s3://{bucket}/{folder}", s3, base_dir)
            self._path: Path | None = None
            endpoint = (s3.endpoint_url if s3 else None) or "AWS"
            self.shown = f"s3://{bucket}/{key} ({endpoint})"
            self.identity = f"s3:{self._store.place.authority}/{key}"
        else:
            if location.startswith("file://"):
                parts = urlsplit(location)
                if parts.netloc not in ("", "localhost"):
                    raise UsageError(f"{location}: a file URL names a local path: file:///PATH")
                location = unquote(parts.path)
            path = Path(location).expanduser()
            self._path = path if path.is_absolute() else base_dir / path
            self.shown = os.path.normpath(self._path.absolute())
            self.identity = f"file:{os.path.realpath(self._path)}"

    def read(self) -> bytes | None:
        """The file's bytes, or None when there is no file (yet)."""
        if self._path is not None:
            try:
                return self._path.read_bytes()
            except FileNotFoundError:
                return None
            except IsADirectoryError:
                raise UsageError(f"{self.shown}: is a folder; name the flag file itself") from None
            except OSError as exc:
                raise StoreUnavailable(f"{self.shown}: cannot be read ({exc.strerror})") from None
        if self._store.head(self._key) is None:
            return None
        return b"".join(self._store.read(self._key))

    def write(self, data: bytes) -> None:
        if self._path is not None:
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(self._path, data)
            except OSError as exc:
                raise PermanentError(f"{self.shown}: cannot be written ({exc.strerror})") from None
            return
        from migrator.stores.objects.base import ObjectInfo

        info = ObjectInfo(key=self._key, size=len(data), content_type=CONTENT_TYPE)
        self._store.put(info, data, sha256_hex(data))
