"""The plan pass: which source objects the plan selects, and what the target holds of them already.

Read-only on both sides. The source's whole root is listed (so objects outside every entry's prefix are
counted as skipped by `prefix`); an S3 listing carries no metadata, so an object that passes an entry's
key tests is HEADed (in a small thread pool) for its metadata, content type, headers and stored SHA-256
when something needs them before the copy: an entry's `metadata` filter, an object under the same key
in the target (skip or replace), or an earlier run's copy of it (a changed source is reported). The
others stay as listed (`described` False), and the copy takes all of that from the GET that reads
their bytes: a HEAD for every object was half the time of copying many small ones.

A source object's SHA-256 comes, in this order, from what the store keeps with it (S3: our
`migrator-sha256` or the server's full-object checksum; a folder: its manifest), from the hash cache in
the state folder (same key, size and ETag), or, for a local folder whose file the target already holds,
from reading the file. Any other source object is hashed during the copy, where it is read anyway.

Target states per selected object: `skip` (the target's stored SHA-256, metadata, content type and
headers equal the source's: nothing to do, and nothing to read), `replace` (it differs, or the target
stores no SHA-256), `missing`, and `unknown` (the source's SHA-256 is known only by reading it: the copy
reads it and then skips or replaces). `extra`: under the target's root, selected by no entry.

Empty `name/` objects (the folders of S3 consoles) are neither listed nor copied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from migrator.artifacts.guards import overlap_refusal
from migrator.artifacts.ledger import ObjectsState
from migrator.artifacts.results import EntryPlan, ObjectsPlan, Tally
from migrator.artifacts.retry import OnRetry, with_retries
from migrator.artifacts.select import REASONS, EntryFilter
from migrator.errors import PlanError, Problem, StoreUnavailable
from migrator.plan.model import Plan
from migrator.stores.objects.base import ObjectInfo, ObjectStore, WritableObjectStore
from migrator.stores.objects.open import open_store

T = TypeVar("T")
R = TypeVar("R")
LOOKUP_THREADS = 8  # HEAD requests and local hashing during the plan pass


@dataclass
class Planned:
    source: ObjectInfo  # as HEADed, or as listed (`described` False) when only the copy needs its metadata
    sha256: str | None  # the source's, when known without reading it (or already read)
    target: ObjectInfo | None
    state: str  # skip | replace | missing | unknown


@dataclass
class Survey:
    source: ObjectStore
    target: WritableObjectStore
    state: ObjectsState
    report: ObjectsPlan
    selected: list[Planned]  # key order
    extras: list[ObjectInfo]


def open_sides(plan: Plan, base_dir: Path) -> tuple[ObjectStore, WritableObjectStore]:
    if plan.source.objects is None or plan.target.objects is None:
        side = "source" if plan.source.objects is None else "target"
        raise PlanError([Problem("plan", None, f"{side}.objects", "is required to copy artifacts")])
    source: ObjectStore = open_store(plan.source.objects, plan.source.s3, base_dir)
    target = open_store(plan.target.objects, plan.target.s3, base_dir)
    return source, target


def survey(plan: Plan, base_dir: Path, state_dir: Path, on_retry: OnRetry | None = None) -> Survey:
    source, target = open_sides(plan, base_dir)
    state = ObjectsState(state_dir)
    filters = [EntryFilter(entry) for entry in plan.artifacts or []]
    refusals = [text for text in [overlap_refusal(source, target)] if text]

    listed = [
        info
        for info in with_retries(f"list {source.location}", lambda: list(source.list("")), on_retry)
        if not _folder_marker(info)
    ]
    target_listed = _list_target(target, on_retry)
    earlier = state.copied()
    # Objects some entry may select by key. An S3 listing carries no metadata: such an object is HEADed
    # now only when something needs its metadata before the copy: an entry's `metadata` filter, a target
    # object under its key (skip or replace: compared by SHA-256 and metadata), or an earlier run's copy
    # of it whose SHA-256 this state does not know for the listed size and ETag (a change in the source
    # is reported: the HEAD may carry the SHA-256). Where the state knows it, the listing's ETag says the
    # object is the one hashed, and the HEAD would only repeat it: a run into a new target with the same
    # state would otherwise HEAD every object again. The copy reads the others' metadata from their GET.
    by_key: dict[str, ObjectInfo] = {}
    to_describe: list[ObjectInfo] = []
    for info in listed:
        keeping = [f for f in filters if f.reason_by_key(info.key) is None]
        if not keeping:
            continue
        needed = (
            info.key in target_listed
            or any(f.needs_metadata for f in keeping)
            or (info.key in earlier and state.known_hash(info) is None)
        )
        if info.described or not needed:
            by_key[info.key] = info
        else:
            to_describe.append(info)
    for headed in parallel(to_describe, lambda info: _describe(source, info, on_retry)):
        if headed is not None:  # None: deleted between the listing and the HEAD
            by_key[headed.key] = headed

    entries: list[EntryPlan] = []
    selected: dict[str, ObjectInfo] = {}
    for entry_filter in filters:
        entry = entry_filter.entry
        report = EntryPlan(entry.prefix, list(entry.include), list(entry.exclude), dict(entry.metadata))
        report.skipped = {reason: Tally() for reason in REASONS}
        for info in listed:
            candidate = by_key.get(info.key)
            reason = entry_filter.reason_by_key(info.key)
            if reason is None and candidate is None:
                continue  # gone from the source since the listing
            if reason is None and candidate is not None:
                # An object not HEADed is only here when no entry that keeps it by key tests metadata.
                reason = entry_filter.reason(info.key, candidate.metadata)
            if reason is None and candidate is not None:
                report.selected.add(info.key, info.size)
                selected[info.key] = candidate
            else:
                report.skipped[reason or "prefix"].add(info.key, info.size)
        entries.append(report)

    chosen = [selected[key] for key in sorted(selected)]
    # A local file's SHA-256 is worth reading ahead only where it decides something now: whether the
    # target's copy is the same, or whether the file changed since an earlier run. The copy hashes the rest.
    hashes = parallel(
        chosen,
        lambda info: _source_hash(source, state, info, read=info.key in target_listed or info.key in earlier),
    )
    present = [target_listed[info.key] for info in chosen if info.key in target_listed]
    target_described = {
        info.key: info for info in parallel(present, lambda info: _describe(target, info, on_retry)) if info is not None
    }

    planned: list[Planned] = []
    tallies = {name: Tally() for name in ("skip", "replace", "missing", "unknown", "extra")}
    for info, sha256 in zip(chosen, hashes, strict=True):
        held = target_described.get(info.key)
        status = _target_state(info, sha256, held)
        tallies[status].add(info.key, info.size)
        planned.append(Planned(info, sha256, held, status))
    extras = [info for key, info in sorted(target_listed.items()) if key not in selected]
    for info in extras:
        tallies["extra"].add(info.key, info.size)
    if extras and plan.target.existing == "fail":
        refusals.append(
            f"target {target.location} holds {len(extras)} object(s) the plan does not select "
            f"(e.g. {', '.join(tallies['extra'].sample)}): set target.existing to truncate (delete them) "
            "or merge (keep them), or empty the target"
        )

    report_plan = ObjectsPlan(
        source=source.location,
        target=target.location,
        existing=plan.target.existing,
        entries=entries,
        objects=len(chosen),
        bytes=sum(info.size for info in chosen),
        target_state=tallies,
        refusals=refusals,
        source_changes=_source_changes(earlier, {info.key for info in listed}, set(target_listed), planned),
    )
    return Survey(source, target, state, report_plan, planned, extras)


def _folder_marker(info: ObjectInfo) -> bool:
    """An empty `name/` object: how S3 consoles show folders. It holds nothing, and no folder can hold it
    as a file, so it is not an object to copy."""
    return info.key.endswith("/") and info.size == 0


def _describe(store: ObjectStore, info: ObjectInfo, on_retry: OnRetry | None) -> ObjectInfo | None:
    if info.described:
        return info
    headed = with_retries(f"head {info.key} in {store.location}", lambda: store.head(info.key), on_retry)
    return headed


def _source_hash(source: ObjectStore, state: ObjectsState, info: ObjectInfo, read: bool) -> str | None:
    known = info.sha256 or state.known_hash(info)
    if known or not read or source.place.kind != "file":
        return known
    digest = hashlib.sha256()  # a local file is cheap to read: know its SHA-256 before the copy
    for chunk in source.read(info.key):
        digest.update(chunk)
    state.remember_hash(info, digest.hexdigest())
    return digest.hexdigest()


def _list_target(target: WritableObjectStore, on_retry: OnRetry | None) -> dict[str, ObjectInfo]:
    try:
        listed = with_retries(f"list {target.location}", lambda: list(target.list("")), on_retry)
    except StoreUnavailable:
        if target.place.kind == "file" and not Path(target.location).exists():
            return {}  # a local target folder is created by the copy
        raise
    return {info.key: info for info in listed if not _folder_marker(info)}


def _target_state(source: ObjectInfo, sha256: str | None, held: ObjectInfo | None) -> str:
    if held is None:
        return "missing"
    if held.sha256 is None or held.size != source.size:
        return "replace"
    # A source without a content type has none to carry over: the type an S3 target gives such an object
    # by default (binary/octet-stream) is no difference, or every such object would be copied again.
    content_type_alike = source.content_type is None or held.content_type == source.content_type
    described_alike = content_type_alike and (held.metadata, held.headers) == (source.metadata, source.headers)
    if sha256 is None:
        return "unknown" if described_alike else "replace"
    return "skip" if held.sha256 == sha256 and described_alike else "replace"


def _source_changes(
    earlier: dict[str, dict[str, Any]], listed: set[str], in_target: set[str], planned: list[Planned]
) -> list[str]:
    # Reported while the target still holds the copy (an extra now): once it is gone, nothing is left to say.
    changes = [
        f"{key}: deleted from the source since an earlier run copied it"
        for key in sorted(earlier)
        if key not in listed and key in in_target
    ]
    for item in planned:
        before = earlier.get(item.source.key)
        if before and item.sha256 and before["sha256"] != item.sha256:
            changes.append(f"{item.source.key}: changed in the source since an earlier run copied it")
    return changes


def parallel(items: Iterable[T], work: Callable[[T], R]) -> list[R]:
    items = list(items)
    if len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=LOOKUP_THREADS, thread_name_prefix="objects-plan") as pool:
        return list(pool.map(work, items))
