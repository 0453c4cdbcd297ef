"""The artifacts part's checkpoints, under `<state_dir>/objects/`.

An object is one unit, and its "done" mark is the target itself: a target object whose stored SHA-256
(`migrator-sha256` on S3, the folder's manifest locally) equals the source's is done, and a later run
skips it without reading it. What the target cannot hold lives here, each file written atomically
(temporary file, fsync, rename):

    uploads/<id>.json   a multipart upload under way: its upload id, part size, the source object as it
                        was when the upload began (size, ETag, SHA-256) and every finished part (number,
                        ETag, size, SHA-256). Rewritten after each part, so a kill -9 loses at most the
                        part in flight; the next run continues the same upload and never re-sends a part
                        recorded here. Deleted when the upload completes or is abandoned.
    parts/<id>.json     the part SHA-256s of a completed multipart copy: verification recomputes S3's
                        composite checksum ("BASE64-N") from them.
    hashes.jsonl        source SHA-256s computed by reading, keyed by (key, size, ETag), so a source that
                        stores no SHA-256 is read once, not once per run.
    copied.jsonl        what earlier runs copied (key, size, SHA-256): a selected object that has since
                        changed in the source, or disappeared from it, is reported.

`<id>` is the SHA-256 of the key (keys may hold any character a file name cannot).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from migrator.audit.durable import write_atomically
from migrator.stores.objects.base import ObjectInfo, PartDone


@dataclass
class UploadRecord:
    key: str
    target: str  # the target's location: a record for another target is not continued
    upload_id: str
    part_size: int
    source_size: int
    source_etag: str | None
    source_sha256: str | None  # as known when the upload began
    sha256_in_metadata: bool  # the SHA-256 was given when the upload was created
    parts: list[PartDone] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> UploadRecord:
        data: dict[str, Any] = json.loads(text)
        data["parts"] = [PartDone(**part) for part in data.get("parts", [])]
        return cls(**data)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ObjectsState:
    def __init__(self, state_dir: Path):
        self.root = state_dir / "objects"
        self._lock = threading.Lock()
        self._hashes: dict[tuple[str, int, str], str] | None = None
        self._held: dict[str, list[dict[str, Any]]] | None = None  # lines waiting for `flush` (hold_lines)

    # --- multipart uploads under way ---------------------------------------------------------------------

    def upload(self, key: str) -> UploadRecord | None:
        path = self.root / "uploads" / f"{_digest(key)}.json"
        try:
            return UploadRecord.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError):
            return None  # unreadable (it cannot be, written atomically): start that object over

    def uploads(self) -> Iterator[UploadRecord]:
        folder = self.root / "uploads"
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                record = self.upload_at(path)
                if record is not None:
                    yield record

    def upload_at(self, path: Path) -> UploadRecord | None:
        try:
            return UploadRecord.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def save_upload(self, record: UploadRecord) -> None:
        _write_atomically(self.root / "uploads" / f"{_digest(record.key)}.json", record.to_json())

    def drop_upload(self, key: str) -> None:
        (self.root / "uploads" / f"{_digest(key)}.json").unlink(missing_ok=True)

    # --- completed multipart copies ------------------------------------------------------------------------

    def save_parts(self, key: str, sha256: str, parts: list[PartDone]) -> None:
        text = json.dumps({"key": key, "sha256": sha256, "parts": [part.sha256 for part in parts]})
        _write_atomically(self.root / "parts" / f"{_digest(key)}.json", text)

    def part_hashes(self, key: str, sha256: str) -> list[str] | None:
        """The part SHA-256s of the completed copy of `key` with that full SHA-256, if we made it."""
        try:
            data = json.loads((self.root / "parts" / f"{_digest(key)}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return list(data["parts"]) if data.get("key") == key and data.get("sha256") == sha256 else None

    # --- source hashes and earlier copies ------------------------------------------------------------------

    def known_hash(self, info: ObjectInfo) -> str | None:
        with self._lock:
            if self._hashes is None:
                self._hashes = {}
                for line in _read_lines(self.root / "hashes.jsonl"):
                    self._hashes[(line["key"], line["size"], line["etag"])] = line["sha256"]
            return self._hashes.get((info.key, info.size, info.etag or ""))

    def remember_hash(self, info: ObjectInfo, sha256: str) -> None:
        if not info.etag:
            return  # without an ETag a changed object could not be told apart
        line = {"key": info.key, "size": info.size, "etag": info.etag, "sha256": sha256}
        with self._lock:
            self._add_line("hashes.jsonl", line)
            if self._hashes is not None:
                self._hashes[(info.key, info.size, info.etag)] = sha256

    def copied(self) -> dict[str, dict[str, Any]]:
        """Key -> the last copy an earlier run made of it."""
        return {line["key"]: line for line in _read_lines(self.root / "copied.jsonl")}

    def record_copied(self, key: str, size: int, sha256: str) -> None:
        with self._lock:
            self._add_line("copied.jsonl", {"key": key, "size": size, "sha256": sha256})

    # --- held lines ------------------------------------------------------------------------------------

    def hold_lines(self) -> None:
        """From now on `hashes.jsonl` and `copied.jsonl` lines wait for `flush`: a copy of thousands of
        small objects writes them in groups, not two appends per object under one lock. Both files are
        a cache and a report: a kill loses held lines, never a copy (the target says what is there)."""
        with self._lock:
            self._held = {}

    def flush(self) -> None:
        with self._lock:
            held, self._held = self._held, ({} if self._held is not None else None)
        for name, lines in (held or {}).items():
            _append(self.root / name, lines)

    def _add_line(self, name: str, line: dict[str, Any]) -> None:
        """Called holding the lock."""
        if self._held is None:
            _append(self.root / name, [line])
        else:
            self._held.setdefault(name, []).append(line)


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    for line in text.splitlines():
        try:
            yield json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill: only a cache entry or a report line is lost


def _append(path: Path, lines: list[dict[str, Any]]) -> None:
    # A kill mid-append may have left a line without its newline: `\n` first keeps ours whole.
    text = "".join(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines)
    data = ("\n" + text).encode("utf-8")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except FileNotFoundError:  # the first line of a new state folder (not a mkdir per line: two per object)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text.encode("utf-8"))
