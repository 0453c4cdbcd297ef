"""Copy one object, streamed, with its SHA-256 computed on the way; large objects part by part, resumable.

Below `MULTIPART_THRESHOLD` an object is one read and one put (held in memory: at most the threshold).
Above it, it goes in parts of `PART_SIZE`: each part is read from the source (a ranged GET, or a seek),
hashed, sent with its own SHA-256 and checkpointed, so memory stays at one part per worker whatever the
object's size.

Why drive the multipart calls ourselves instead of boto3's transfer manager: the manager aborts its
upload on failure and keeps no record of the parts it sent, so a killed run would start every large
object from zero; and its managed copy drops user metadata above its threshold. Here, after every
part, the upload id and the finished parts (number, ETag, size, SHA-256) are written atomically to
`<state_dir>/objects/uploads/` (ledger.py). The next run continues the same upload: it re-reads the
finished parts from the source only to rebuild the full-object SHA-256 (hashlib's state cannot be
saved), checks each against its recorded SHA-256 (a source changed under a finished part is caught
here), and never re-sends one. A part the store holds but the ledger does not (the kill fell between
the part's upload and its checkpoint) is adopted when the store's SHA-256 of it matches.

The full SHA-256 is stored with the copy as user metadata `migrator-sha256`, but S3 fixes metadata when
the upload is created. When the source's SHA-256 is known beforehand (its own `migrator-sha256`, the
server's full-object checksum, a local manifest, a local file hashed in the plan pass, or the hash
cache), it is set then, and the streamed hash must equal it; a local file is read once ahead to know
it. Only an S3 source that stores no SHA-256 and was never read before stays unknown: rather than read
it twice over the network, the upload is completed and then copied onto itself server-side with the
metadata replaced (S3 store, CopyObject).

A source object whose size, ETag or SHA-256 differs from the one an interrupted upload began with is
reported as changed, and its upload started over; one that changes while being copied stops the run
with a message naming it (a rerun copies the new version): every read asks for the version listed by
its ETag (S3: If-Match), so a copy never mixes bytes of two versions.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from migrator.artifacts.ledger import ObjectsState, UploadRecord
from migrator.artifacts.retry import OnRetry, with_retries
from migrator.artifacts.survey import Planned
from migrator.errors import PermanentError
from migrator.stores.objects.base import ObjectInfo, ObjectStore, PartDone, WritableObjectStore, Written

MIB = 1024 * 1024
MULTIPART_THRESHOLD = 8 * MIB  # objects above this size go in parts
PART_SIZE = 8 * MIB  # S3 takes parts of 5 MiB and more (but the last); at most 10,000 parts
MAX_PARTS = 10_000
PARTS_AT_ONCE = 4  # parts of one object in flight (rclone sends 4 per file, the AWS CLI 10 requests at once)
PART_SLOTS = 8  # parts in memory at once across all objects: what bounds memory, whatever the objects' sizes


class _SourceChanged(Exception):
    """A part of the source reads differently from the part already sent (see `_move_parts`)."""


@dataclass
class Outcome:
    key: str
    size: int
    sha256: str
    action: str  # copied | skipped | replaced
    metadata: dict[str, str]
    source_changes: list[str] = field(default_factory=list)
    resumed: dict[str, Any] | None = None  # {key, parts_reused, parts_sent}
    written: Written | None = None  # what the target answered the write with (None: skipped)
    found: ObjectInfo | None = None  # skipped: the target's object, as the plan pass found it


class ObjectCopier:
    def __init__(
        self,
        source: ObjectStore,
        target: WritableObjectStore,
        state: ObjectsState,
        check_stop: Callable[[], None],
        on_retry: OnRetry,
    ):
        self.source = source
        self.target = target
        self.state = state
        self.check_stop = check_stop
        self.on_retry = on_retry
        self._slots = threading.Semaphore(PART_SLOTS)
        self._pool_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Stop the threads that move parts (after the last object)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _parts_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=PART_SLOTS, thread_name_prefix="objects-part")
            return self._pool

    def copy(self, item: Planned) -> Outcome:
        self.check_stop()
        info = item.source
        if not info.described and info.size > MULTIPART_THRESHOLD:
            info = self._describe(info)  # its metadata goes into the upload's creation, before any part
        outcome = Outcome(info.key, info.size, item.sha256 or "", "copied", dict(info.metadata))
        if item.state == "skip" and item.sha256:
            self._forget_upload(info.key)  # a kill after completing it, before dropping its record
            outcome.action, outcome.found = "skipped", item.target
            return outcome
        sha256 = item.sha256
        if item.state == "unknown":
            sha256 = self._hash_source(info)
            if item.target is not None and item.target.sha256 == sha256:
                outcome.sha256, outcome.action, outcome.found = sha256, "skipped", item.target
                return outcome
        if info.size > MULTIPART_THRESHOLD:
            if sha256 is None and self.source.place.kind == "file":
                sha256 = self._hash_source(info)  # a local read is cheaper than S3's self-copy for metadata
            outcome.sha256 = self._copy_in_parts(info, sha256, outcome)
        else:
            info, outcome.sha256, outcome.written = self._copy_whole(info, sha256)
            outcome.metadata = dict(info.metadata)
        if item.sha256 is None:
            self.state.remember_hash(info, outcome.sha256)
        outcome.action = "replaced" if item.target is not None else "copied"
        self.state.record_copied(info.key, info.size, outcome.sha256)
        return outcome

    # --- small objects -------------------------------------------------------------------------------------

    def _copy_whole(self, info: ObjectInfo, sha256: str | None) -> tuple[ObjectInfo, str, Written]:
        """One read, one put. An object the plan pass did not HEAD (`described` False: nothing needed its
        metadata before the copy) gets it from the read itself: S3's GET answers with the metadata, the
        headers and the stored SHA-256 a HEAD would, and they are set explicitly on the target."""
        if info.described:
            data = self._read(info, 0, info.size)
        else:
            info, data = self._get(info)
            sha256 = sha256 or info.sha256
        computed = hashlib.sha256(data).hexdigest()
        if sha256 and computed != sha256:
            raise self._changed(info, "its bytes no longer have the SHA-256 listed for it")
        if info.checksum_sha256 and computed != info.checksum_sha256:
            raise self._changed(info, "its bytes do not have the SHA-256 the source's server gives for them")
        written = self._retry(f"put {info.key}", lambda: self.target.put(info, data, computed))
        return info, computed, written

    # --- large objects -------------------------------------------------------------------------------------

    def _copy_in_parts(self, info: ObjectInfo, sha256: str | None, outcome: Outcome) -> str:
        record = self._continuable_upload(info, sha256, outcome)
        on_store: dict[int, PartDone] = {}
        if record is not None:
            upload_id = record.upload_id
            listed = self._retry(f"list the parts of {info.key}", lambda: self.target.list_parts(info.key, upload_id))
            if listed is None:
                gone = f"{info.key}: its interrupted upload is gone from the target: started over"
                outcome.source_changes.append(gone)
                self.state.drop_upload(info.key)
                record = None
            else:
                on_store = {part.number: part for part in listed}
        if record is None:
            part_size = max(PART_SIZE, -(-info.size // MAX_PARTS))
            upload_id = self._retry(
                f"start the upload of {info.key}", lambda: self.target.create_upload(info, sha256, part_size)
            )
            record = UploadRecord(
                key=info.key,
                target=self.target.location,
                upload_id=upload_id,
                part_size=part_size,
                source_size=info.size,
                source_etag=info.etag,
                source_sha256=sha256,
                sha256_in_metadata=sha256 is not None,
            )
            self.state.save_upload(record)
        else:
            outcome.resumed = {"key": info.key, "parts_reused": 0, "parts_sent": 0}

        finished = {part.number: part for part in record.parts}
        whole = hashlib.sha256()
        tally = {"reused": 0, "sent": 0}
        checkpoint = threading.Lock()

        def move(number: int) -> tuple[bytes, str | None]:
            """Part `number`: read and hashed, then sent unless a finished or held copy of it is there.
            Its bytes, for the object's SHA-256, and what changed in the source (or None)."""
            self.check_stop()
            start = (number - 1) * record.part_size
            data = self._read(info, start, min(info.size, start + record.part_size))
            part_sha = hashlib.sha256(data).hexdigest()
            done = finished.get(number)
            if done is not None:
                if (done.sha256, done.size) != (part_sha, len(data)):
                    return data, f"part {number}, already sent, now reads differently"
                with checkpoint:
                    tally["reused"] += 1
                return data, None
            held = on_store.get(number)
            if held is not None and (held.sha256, held.size) == (part_sha, len(data)):
                part = PartDone(number, held.etag, len(data), part_sha)  # sent, then killed before its checkpoint
                counted = "reused"
            else:
                etag = self._send_part(info.key, record.upload_id, number, data, part_sha)
                part = PartDone(number, etag, len(data), part_sha)
                counted = "sent"
            with checkpoint:
                record.parts = [p for p in record.parts if p.number != number] + [part]
                self.state.save_upload(record)  # the checkpoint: this part is never sent again
                tally[counted] += 1
            return data, None

        count = max(1, -(-info.size // record.part_size))
        self._move_parts(count, move, whole, info, record)
        if outcome.resumed is not None:
            outcome.resumed.update(parts_reused=tally["reused"], parts_sent=tally["sent"])

        full = whole.hexdigest()
        if sha256 and full != sha256:
            self._abandon(record)
            raise self._changed(info, "its bytes no longer have the SHA-256 listed for it")
        parts = sorted(record.parts, key=lambda part: part.number)
        outcome.written = self._retry(
            f"complete the upload of {info.key}",
            lambda: self.target.complete_upload(info, record.upload_id, parts, full, record.sha256_in_metadata),
        )
        self.state.save_parts(info.key, full, parts)
        self.state.drop_upload(info.key)
        return full

    def _move_parts(
        self,
        count: int,
        move: Callable[[int], tuple[bytes, str | None]],
        whole: Any,
        info: ObjectInfo,
        record: UploadRecord,
    ) -> None:
        """Parts 1..count moved by the parts pool, up to PARTS_AT_ONCE of this object at once and
        PART_SLOTS of all objects (each holds its bytes until this thread has hashed them into the
        object's SHA-256, in order). A thread that cannot take a slot first hashes its own oldest part,
        which frees one, so no two objects can wait on each other."""
        inflight: deque[Future[tuple[bytes, str | None]]] = deque()

        def take_oldest() -> None:
            future = inflight.popleft()
            try:
                data, changed = future.result()
            finally:
                self._slots.release()
            if changed is not None:
                raise _SourceChanged(changed)
            whole.update(data)

        try:
            for number in range(1, count + 1):
                while len(inflight) >= PARTS_AT_ONCE or not self._slots.acquire(blocking=not inflight):
                    take_oldest()
                try:
                    inflight.append(self._parts_pool().submit(move, number))
                except BaseException:
                    self._slots.release()
                    raise
            while inflight:
                take_oldest()
        except BaseException as error:
            for future in inflight:  # none may still be sending when the upload is given up or retried
                if not future.cancel():
                    future.exception()
                self._slots.release()
            inflight.clear()
            if isinstance(error, _SourceChanged):
                self._abandon(record)
                raise self._changed(info, str(error)) from None
            raise

    def _continuable_upload(self, info: ObjectInfo, sha256: str | None, outcome: Outcome) -> UploadRecord | None:
        record = self.state.upload(info.key)
        if record is None:
            return None
        same_source = (record.source_size, record.source_etag) == (info.size, info.etag) and (
            record.source_sha256 is None or sha256 is None or record.source_sha256 == sha256
        )
        if record.target == self.target.location and same_source:
            return record
        if not same_source:
            outcome.source_changes.append(
                f"{info.key}: changed in the source since its interrupted upload began: started over"
            )
        self._abandon(record)
        return None

    def _abandon(self, record: UploadRecord) -> None:
        if record.target == self.target.location:
            self._retry(
                f"abort the upload of {record.key}", lambda: self.target.abort_upload(record.key, record.upload_id)
            )
        self.state.drop_upload(record.key)

    def _forget_upload(self, key: str) -> None:
        record = self.state.upload(key)
        if record is not None:
            self._abandon(record)

    def _send_part(self, key: str, upload_id: str, number: int, data: bytes, sha256: str) -> str:
        return self._retry(
            f"upload part {number} of {key}",
            lambda: self.target.upload_part(key, upload_id, number, data, sha256),
        )

    # --- reading the source --------------------------------------------------------------------------------

    def _read(self, info: ObjectInfo, start: int, end: int) -> bytes:
        # Every read names the version listed (its ETag): the parts of one copy are of one version.
        data = self._retry(f"read {info.key}", lambda: b"".join(self.source.read(info.key, start, end, etag=info.etag)))
        if len(data) != end - start:
            raise self._changed(info, f"it is shorter than the {info.size} bytes listed")
        return data

    def _get(self, listed: ObjectInfo) -> tuple[ObjectInfo, bytes]:
        info, data = self._retry(f"read {listed.key}", lambda: self.source.get(listed.key, etag=listed.etag))
        if len(data) != listed.size or info.size != listed.size:
            raise self._changed(listed, f"it no longer holds the {listed.size} bytes listed")
        return info, data

    def _describe(self, listed: ObjectInfo) -> ObjectInfo:
        info = self._retry(f"head {listed.key}", lambda: self.source.head(listed.key))
        if info is None:
            gone = f"{listed.key} is no longer in {self.source.location}: it was deleted while being copied"
            raise PermanentError(gone)
        if (info.size, info.etag) != (listed.size, listed.etag):
            raise self._changed(listed, "its size or ETag is no longer the one listed")
        return info

    def _hash_source(self, info: ObjectInfo) -> str:
        digest = hashlib.sha256()
        step = max(PART_SIZE, 1)
        for start in range(0, info.size, step):
            self.check_stop()
            digest.update(self._read(info, start, min(info.size, start + step)))
        sha256 = digest.hexdigest()
        self.state.remember_hash(info, sha256)
        return sha256

    def _changed(self, info: ObjectInfo, how: str) -> PermanentError:
        return PermanentError(
            f"{info.key} in {self.source.location} changed while being copied ({how}): "
            "run again to copy its new version"
        )

    def _retry(self, what: str, call: Callable[[], Any]) -> Any:
        return with_retries(what, call, self.on_retry)
