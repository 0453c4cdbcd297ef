"""`verify_objects`: the target holds exactly the selection, byte for byte, with its metadata.

For every selected object: `present`, `size`, `sha256` and `metadata` (user metadata, keys compared
lower-cased); for every other object under the target's root: `extra`, a failure unless
`target.existing` is `merge`. What "the selection" is comes from the source (a fresh plan pass; a source
that stores no SHA-256 is read and hashed) or, for `verify --receipt`, from the manifest the copy
recorded, without opening the source at all.

The run's own verification (`verify_copy`, right after its copy) checks the same against the manifest
the copy just built, without a second plan pass over the source: the target is listed once, and an
object the run wrote is confirmed by its version, the ETag the write answered (a local file's mtime and
size), being the one listed, with its size; its SHA-256 was computed over the very bytes sent, which the
store checked on arrival (S3: the SHA-256 sent with the object or with each part; where the server
answers with its own full-object checksum, that must match too), and its metadata was set by that same
write. A written local file is not read back: right after the write its bytes come from the page cache,
so a second hash would only check memory against itself at the price of reading everything twice (see
docs/design-decisions.md, "Verification"). An object the run found in place (skipped) gets the full
check below, and `migrator verify` later checks everything from the bytes and the server's checksums.

How a target object's SHA-256 is known without trusting a single claim:
- a local folder: the file is read and hashed (its manifest line could be stale);
- S3: the `migrator-sha256` we stored must equal the expected SHA-256, and so must the server's own
  checksum where it has one: a full-object `ChecksumSHA256` directly, a composite one ("BASE64-N",
  the SHA-256 of the parts' SHA-256s) recomputed from the part SHA-256s the copy checkpointed
  (ledger.py `parts/`), when this state folder has them. The server computed its checksum over the
  bytes it holds, so a changed byte shows there without reading the object back.
"""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from typing import Any

from migrator.artifacts.ledger import ObjectsState
from migrator.artifacts.results import Check, ObjectsCopy, ObjectsVerification
from migrator.artifacts.retry import with_retries
from migrator.artifacts.survey import parallel, survey
from migrator.errors import PlanError, Problem
from migrator.plan.model import Plan
from migrator.stores.objects.base import ObjectInfo, WritableObjectStore, Written
from migrator.stores.objects.open import open_store


def verify_objects(
    plan: Plan, base_dir: Path, state_dir: Path, *, manifest: list[dict[str, Any]] | None = None
) -> ObjectsVerification:
    started = time.monotonic()
    state = ObjectsState(state_dir)
    if manifest is None:
        expected, target, held, extras = _from_source(plan, base_dir, state_dir)
    else:
        if plan.target.objects is None:
            raise PlanError([Problem("plan", None, "target.objects", "is required to verify artifacts")])
        target = open_store(plan.target.objects, plan.target.s3, base_dir)
        expected = {line["key"]: line for line in manifest}
        listed = {info.key: info for info in with_retries(f"list {target.location}", lambda: list(target.list("")))}
        present = [listed[key] for key in sorted(expected) if key in listed]
        described = parallel(present, lambda info: info if info.described else target.head(info.key))
        held = {info.key: info for info in described if info is not None}
        extras = sorted(key for key in listed if key not in expected)

    checks: list[Check] = []
    results = parallel(sorted(expected), lambda key: _object_checks(target, state, expected[key], held.get(key)))
    for object_checks in results:
        checks.extend(object_checks)
    merge = plan.target.existing == "merge"
    for key in extras:
        detail = "kept: target.existing is merge" if merge else "in the target but not selected by the plan"
        checks.append(Check("extra", key, merge, detail))
    return ObjectsVerification(
        ok=all(check.ok for check in checks), checks=checks, seconds=round(time.monotonic() - started, 3)
    )


def verify_copy(plan: Plan, base_dir: Path, state_dir: Path, copied: ObjectsCopy) -> ObjectsVerification:
    """The run's own check of the target, against the manifest its copy built (see the module's docstring)."""
    started = time.monotonic()
    state = ObjectsState(state_dir)
    if plan.target.objects is None:
        raise PlanError([Problem("plan", None, "target.objects", "is required to verify artifacts")])
    target = copied.target or open_store(plan.target.objects, plan.target.s3, base_dir)
    listed = {info.key: info for info in with_retries(f"list {target.location}", lambda: list(target.list("")))}
    expected = {line["key"]: line for line in copied.manifest}

    def check(key: str) -> list[Check]:
        want, held = expected[key], listed.get(key)
        written = copied.written.get(key)
        if held is not None and written is not None and written.etag is not None and held.etag == written.etag:
            return _written_checks(want, held, written)
        found = copied.found.get(key)
        if held is not None and found is not None and found.etag is not None and held.etag == found.etag:
            held = found  # as the plan pass HEADed it: the same version, described
        elif held is not None and not held.described:
            held = with_retries(f"head {key} in {target.location}", lambda: target.head(key))
        return _object_checks(target, state, want, held)

    checks = [c for object_checks in parallel(sorted(expected), check) for c in object_checks]
    merge = plan.target.existing == "merge"
    for key in sorted(key for key in listed if key not in expected):
        detail = "kept: target.existing is merge" if merge else "in the target but not selected by the plan"
        checks.append(Check("extra", key, merge, detail))
    return ObjectsVerification(
        ok=all(check.ok for check in checks), checks=checks, seconds=round(time.monotonic() - started, 3)
    )


def _written_checks(want: dict[str, Any], held: ObjectInfo, written: Written) -> list[Check]:
    """An object this run wrote, listed as the version the write answered: size and checksum from the store."""
    key = want["key"]
    size_ok = held.size == want["size"]
    server = written.checksum_sha256
    sha_ok = server is None or server == want["sha256"]
    checks = [
        Check("present", key, True),
        Check("size", key, size_ok, "" if size_ok else f"{held.size} bytes, expected {want['size']}"),
        Check("sha256", key, sha_ok, "" if sha_ok else f"the server's checksum of the bytes written is {server}"),
    ]
    if held.described:  # a folder lists its manifest's metadata; an S3 listing has none (set by the write)
        have = {k.lower(): v for k, v in held.metadata.items()}
        wanted = {k.lower(): v for k, v in want.get("metadata", {}).items()}
        same = have == wanted
        checks.append(Check("metadata", key, same, "" if same else f"user metadata {have}, expected {wanted}"))
    else:
        checks.append(Check("metadata", key, True))
    return checks


def _from_source(
    plan: Plan, base_dir: Path, state_dir: Path
) -> tuple[dict[str, dict[str, Any]], WritableObjectStore, dict[str, ObjectInfo], list[str]]:
    found = survey(plan, base_dir, state_dir)
    expected: dict[str, dict[str, Any]] = {}
    for item in found.selected:
        # An object missing from the target fails on that alone: its source is not read to hash it.
        sha256 = item.sha256 or (_hash(found, item.source) if item.target is not None else None)
        expected[item.source.key] = {
            "key": item.source.key,
            "size": item.source.size,
            "sha256": sha256,
            "metadata": item.source.metadata,
        }
    held = {item.source.key: item.target for item in found.selected if item.target is not None}
    return expected, found.target, held, [info.key for info in found.extras]


def _hash(found: Any, info: ObjectInfo) -> str:
    digest = hashlib.sha256()
    for chunk in with_retries(f"read {info.key}", lambda: list(found.source.read(info.key))):
        digest.update(chunk)
    found.state.remember_hash(info, digest.hexdigest())
    return digest.hexdigest()


def _object_checks(
    target: WritableObjectStore, state: ObjectsState, want: dict[str, Any], held: ObjectInfo | None
) -> list[Check]:
    key = want["key"]
    if held is None:
        return [Check("present", key, False, f"missing from {target.location}")]
    checks = [Check("present", key, True)]
    size_ok = held.size == want["size"]
    checks.append(Check("size", key, size_ok, "" if size_ok else f"{held.size} bytes, expected {want['size']}"))
    checks.append(Check("sha256", key, *_sha256_check(target, state, want, held)))
    have = {k.lower(): v for k, v in held.metadata.items()}
    wanted = {k.lower(): v for k, v in want.get("metadata", {}).items()}
    same = have == wanted
    checks.append(Check("metadata", key, same, "" if same else f"user metadata {have}, expected {wanted}"))
    return checks


def _sha256_check(
    target: WritableObjectStore, state: ObjectsState, want: dict[str, Any], held: ObjectInfo
) -> tuple[bool, str]:
    expected = want["sha256"]
    computed = target.hash_object(held.key)
    if computed is not None:
        return computed == expected, "" if computed == expected else f"the bytes hash to {computed}"
    if held.sha256 is None:
        return False, "the target stores no SHA-256 for it (copied by another tool?)"
    if held.sha256 != expected:
        return False, f"stored SHA-256 {held.sha256}, expected {expected}"
    if held.checksum_sha256 is not None and held.checksum_sha256 != expected:
        return False, f"the server's checksum of its bytes is {held.checksum_sha256}, expected {expected}"
    if held.composite_sha256 is not None:
        parts = state.part_hashes(held.key, expected)
        if parts is not None:
            joined = hashlib.sha256(b"".join(bytes.fromhex(part) for part in parts)).digest()
            composite = f"{base64.b64encode(joined).decode('ascii')}-{len(parts)}"
            if composite != held.composite_sha256:
                return False, f"the server's composite checksum {held.composite_sha256} is not the parts' {composite}"
    return True, ""
