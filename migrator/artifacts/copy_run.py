"""`copy_objects`: the plan pass, the guards, then every selected object copied by a pool of threads.

Each object is one unit (copier.py): several objects move at once (`workers` threads; S3 latency, not
CPU, is what they hide), the parts of one object in order. `events.object_done` is called from the
calling thread as objects finish, so an audit trail or a progress bar needs no lock (then `flush`
once per group of objects finished together: an audit trail writes their events in one append); `check_stop` and
`retried` are called from the worker threads (retried under a lock). The first failure stops the pool:
the other workers stop at their next object or part, leaving what they finished committed (a finished
object is in the target with its SHA-256, a finished part in the upload's checkpoint).

`target.existing` for objects:
- `fail` (the default): an object under the target's root that the plan does not select refuses the
  run before anything is written (SafetyError, exit 2).
- `truncate`: those objects are deleted from the target before the copy, so the target holds exactly
  the selection.
- `merge`: they are kept, and verification reports them without failing.
Objects the plan selects and the target already holds are skipped when their SHA-256 and metadata are
the same, and replaced when not, in every mode.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Protocol

from migrator.artifacts.copier import ObjectCopier, Outcome
from migrator.artifacts.copy_processes import copy_in_processes, worth_processes
from migrator.artifacts.copy_threads import PoolStopped, closing, copy_with_threads
from migrator.artifacts.results import ObjectsCopy
from migrator.artifacts.retry import OnRetry, with_retries
from migrator.artifacts.survey import survey
from migrator.audit.canonical import canonical_bytes, sha256_hex
from migrator.errors import Interrupted, SafetyError
from migrator.memory import objects_copying
from migrator.plan.model import Plan
from migrator.stores.objects.base import WritableObjectStore


class ObjectEvents(Protocol):
    def started(self, objects: int, size: int) -> None: ...  # totals, for the progress bar

    def object_done(self, key: str, size: int, sha256: str, action: str) -> None: ...  # copied|skipped|replaced

    def flush(self) -> None: ...  # after a group of object_done calls: write what they were told at once

    def retried(self, what: str, error: str) -> None: ...

    def check_stop(self) -> None: ...  # raises Interrupted after Ctrl-C; called between objects and parts


def _delete(target: WritableObjectStore, key: str, on_retry: OnRetry) -> None:
    with_retries(f"delete {key}", lambda: target.delete(key), on_retry)


def manifest_digest(manifest: list[dict[str, Any]]) -> str:
    return sha256_hex(canonical_bytes(manifest))


def copy_objects(
    plan: Plan, base_dir: Path, state_dir: Path, *, workers: int, events: ObjectEvents, processes: int = 1
) -> ObjectsCopy:
    """`workers` objects in flight in all; with `processes` above 1 and enough requests to make
    (copy_processes.worth_processes), spread over that many processes, else threads of this one."""
    started = time.monotonic()
    retry_lock = threading.Lock()
    retries = 0

    def on_retry(what: str, error: str) -> None:
        nonlocal retries
        with retry_lock:
            retries += 1
            events.retried(what, error)

    found = survey(plan, base_dir, state_dir, on_retry)
    if found.report.refusals:
        raise SafetyError("\n".join(found.report.refusals))
    source_changes = list(found.report.source_changes)

    deleted = 0
    if plan.target.existing == "truncate":
        for extra in found.extras:
            events.check_stop()
            _delete(found.target, extra.key, on_retry)
            deleted += 1
    selected_keys = {item.source.key for item in found.selected}
    for record in found.state.uploads():
        if record.key not in selected_keys:  # deleted from the source, or no longer selected
            if record.target == found.target.location:
                found.target.abort_upload(record.key, record.upload_id)
            found.state.drop_upload(record.key)
            source_changes.append(f"{record.key}: no longer selected or in the source: its interrupted upload dropped")

    events.started(found.report.objects, found.report.bytes)
    stopped = threading.Event()

    def check_stop() -> None:
        if stopped.is_set():
            raise PoolStopped
        events.check_stop()

    found.state.hold_lines()
    target: WritableObjectStore | None = found.target
    if worth_processes(found.selected, processes):
        # Several processes, each with its own clients and its own share of the objects (copy_processes.py):
        # one Python process spends about a millisecond of CPU per request in botocore, under one GIL.
        outcomes, errors, retried = copy_in_processes(
            plan, base_dir, state_dir, found.selected, processes=processes, workers=workers, events=events
        )
        retries += retried
        target = None  # the children wrote it: the run's check opens it afresh (a folder's manifest changed)
    else:
        copier = ObjectCopier(found.source, found.target, found.state, check_stop, on_retry)
        outcomes, errors = [], []

        def recorded(group: list[Outcome]) -> None:
            # The objects' records made durable (a folder's manifest lines), then their audit events.
            with_retries(f"record the objects in {found.target.location}", found.target.commit, on_retry)
            found.state.flush()
            for outcome in group:
                events.object_done(outcome.key, outcome.size, outcome.sha256, outcome.action)
            events.flush()
            outcomes.extend(group)

        with closing(copier), objects_copying():
            errors = copy_with_threads(copier, iter(found.selected), max(1, workers), stopped, recorded)
    if errors:
        interrupted = [error for error in errors if isinstance(error, Interrupted)]
        raise (interrupted or errors)[0]

    manifest = sorted(
        ({"key": o.key, "size": o.size, "sha256": o.sha256, "metadata": o.metadata} for o in outcomes),
        key=lambda line: str(line["key"]),
    )
    actions = [outcome.action for outcome in outcomes]
    for outcome in outcomes:
        source_changes.extend(outcome.source_changes)
    return ObjectsCopy(
        objects=len(outcomes),
        bytes=sum(outcome.size for outcome in outcomes),
        copied=actions.count("copied"),
        skipped=actions.count("skipped"),
        replaced=actions.count("replaced"),
        deleted=deleted,
        seconds=round(time.monotonic() - started, 3),
        manifest=manifest,
        manifest_sha256=manifest_digest(manifest),
        source_changes=source_changes,
        resumed=[outcome.resumed for outcome in outcomes if outcome.resumed is not None],
        retries=retries,
        written={outcome.key: outcome.written for outcome in outcomes if outcome.written is not None},
        found={outcome.key: outcome.found for outcome in outcomes if outcome.found is not None},
        target=target,
    )
