"""Copy objects with a pool of threads of this process, recording them in groups.

Used by the one-process copy (copy_run.py) and by each process of a copy spread over several
(copy_processes.py): several objects move at once (S3 latency, not CPU, is what the threads hide), the
parts of one object in order. `recorded` is called from the calling thread with each group of finished
objects, so an audit trail or a progress bar needs no lock: it makes their records durable (a folder's
manifest lines), then reports them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager

from migrator.artifacts.copier import ObjectCopier, Outcome
from migrator.artifacts.survey import Planned

QUEUED_PER_WORKER = 8  # objects handed to the pool ahead of the workers, so none waits while records are written
# Finished objects are recorded (a folder's manifest lines fsynced, their audit events appended) in
# groups: every COMMIT_EVERY objects or COMMIT_SECONDS, and at the end. Until then a kill costs their
# copying again, nothing else: an object without its record is never trusted.
COMMIT_EVERY = 256
COMMIT_SECONDS = 0.25


class PoolStopped(Exception):
    """Another worker failed: this one stops at its next object or part (not an error of its own)."""


@contextmanager
def closing(copier: ObjectCopier) -> Iterator[None]:
    try:
        yield
    finally:
        copier.close()
        copier.state.flush()  # the hash cache and the report of what was copied, also after a failure


def copy_with_threads(
    copier: ObjectCopier,
    items: Iterator[Planned],
    workers: int,
    stopped: threading.Event,
    recorded: Callable[[list[Outcome]], None],
) -> list[BaseException]:
    """Copy `items` with `workers` threads; `recorded` is called from this thread with each group of
    finished objects (every COMMIT_EVERY objects or COMMIT_SECONDS, and at the end), which it makes
    durable and reports. The first failure sets `stopped`: the other threads stop at their next object or
    part (the copier's `check_stop` raises PoolStopped then). The failures, without those PoolStopped."""
    errors: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="objects-copy") as pool:
        # A bounded queue of objects, not all of them at once: `wait` walks every pending future on each
        # call, which with thousands of small objects made the waiting thread the busiest one.
        pending: set[Future[Outcome]] = set()
        group: list[Outcome] = []  # objects finished since the last record
        recorded_at = time.monotonic()

        def submit_more() -> None:
            while len(pending) < QUEUED_PER_WORKER * workers and not stopped.is_set():
                item = next(items, None)
                if item is None:
                    return
                pending.add(pool.submit(copier.copy, item))

        submit_more()
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                error = future.exception()
                if error is None:
                    group.append(future.result())
                elif not isinstance(error, PoolStopped):
                    errors.append(error)
                    stopped.set()
            submit_more()
            if not pending or len(group) >= COMMIT_EVERY or time.monotonic() - recorded_at >= COMMIT_SECONDS:
                try:
                    recorded(group)
                except Exception as error:  # the record could not be written: stop as after a failed copy
                    errors.append(error)
                    stopped.set()
                group, recorded_at = [], time.monotonic()
    return errors
