"""Copy objects with several processes: each its own clients, its own threads, its share of the objects.

Why processes: one Python process moves objects at the pace of its one GIL, and botocore spends about
a millisecond of CPU per request (signing, hooks, parsing, checksums); with thousands of small objects
that, not the network, is the limit, while rclone (Go) uses every core. So the copy runs in up to
one process per idle core (`default_processes`), each with its own source and target stores (its own boto3
clients and connections) and a pool of threads (copy_threads.py), taking objects one at a time from a
shared queue, so that no process idles while another has a backlog.

Nothing about a unit changes: an object is copied by one thread of one process, exactly as in one
process (copier.py); copying it twice would write the same bytes under the same key. What is shared
is written safely: a folder target's manifest lines are appended by each process after the group's
files and folders are fsynced (one `write` of whole lines, O_APPEND); a multipart upload's checkpoint
is a file of its own per object; the hash cache and the report of copies are appended whole lines.
The children send each group of finished objects to this process only after recording them, and this
process alone writes the audit trail and drives the progress display (`events`), as with threads.

Stopping: the children ignore SIGINT (a Ctrl-C reaches the whole process group). This process, which
handles Ctrl-C for the run, sets the shared `stop` event; each child then stops at its next object or
part, records what it finished, and ends. A child that fails sets it too, through its message. A child
whose parent is gone (killed) exits at once: the next run resumes from what the target and the
checkpoints hold, as after any kill.

Memory: each process holds at most its share of PART_SLOTS parts (at least PARTS_AT_ONCE), so the
parts in memory across processes stay as in one process, flat in object size.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.artifacts import copier, copy_threads, retry
from migrator.artifacts.copier import ObjectCopier, Outcome
from migrator.artifacts.copy_threads import PoolStopped, closing, copy_with_threads
from migrator.artifacts.ledger import ObjectsState
from migrator.artifacts.retry import with_retries
from migrator.artifacts.survey import Planned, open_sides
from migrator.cores import machine_cores
from migrator.errors import Interrupted, PermanentError
from migrator.plan.model import Plan

if TYPE_CHECKING:
    from migrator.artifacts.copy_run import ObjectEvents

# Below this many requests to make (an object, or a part of a large one), one process copies: starting
# others costs more than they would save (and a rerun that skips everything starts none).
MIN_REQUESTS_FOR_PROCESSES = 64
MAX_PROCESSES = 8
PROCESSES_VARIABLE = "MIGRATOR_OBJECT_PROCESSES"  # a number: override the default (one per core)
POLL_SECONDS = 0.1  # how often this process looks at Ctrl-C and at its children while waiting
# Module constants the children take from this process, so that what a test or a caller set here holds
# in every process.
_SHARED_SETTINGS = {
    copier: ("MULTIPART_THRESHOLD", "PART_SIZE", "MAX_PARTS", "PARTS_AT_ONCE", "PART_SLOTS"),
    retry: ("ATTEMPTS", "WAIT_MULTIPLIER", "WAIT_MAX"),
    copy_threads: ("QUEUED_PER_WORKER", "COMMIT_EVERY", "COMMIT_SECONDS"),
}


def default_processes() -> int:
    """One per idle core (at most MAX_PROCESSES), or MIGRATOR_OBJECT_PROCESSES.

    Idle: the cores this process may run on less the load average of the last minute. A process only
    helps when a core is free to run it; on a machine already busy (a shared CI runner, a server whose
    S3 endpoint runs beside us) more processes only add their start, their own clients and the passing
    of objects between them (measured on 2 busy cores: the same copy took 15% more CPU in 2 processes)."""
    given = os.environ.get(PROCESSES_VARIABLE, "").strip()
    if given:
        try:
            return max(1, int(given))
        except ValueError:
            pass  # not a number: the default, as if unset
    cores = machine_cores()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average here (Windows): every core counts as idle
        busy = 0.0
    return max(1, min(MAX_PROCESSES, cores, round(cores - busy)))


def worth_processes(items: list[Planned], processes: int) -> bool:
    """Whether a copy of `items` should be spread over `processes`: enough requests to make."""
    if processes <= 1:
        return False
    requests = sum(
        max(1, math.ceil(item.source.size / copier.PART_SIZE))
        for item in items
        if not (item.state == "skip" and item.sha256)
    )
    return requests >= MIN_REQUESTS_FOR_PROCESSES


@dataclass(frozen=True)
class _Job:
    """What a child needs besides its queues: the plan (as data), where it runs, its threads, the settings."""

    plan: dict[str, Any]
    base_dir: Path
    state_dir: Path
    threads: int
    settings: dict[str, dict[str, Any]]  # module name -> {constant: value}


def _context() -> Any:
    # forkserver: the children fork from a server that imported this module (and boto3) once, rather than
    # each importing everything again (spawn), and nothing of this process's threads is forked into them.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def copy_in_processes(
    plan: Plan,
    base_dir: Path,
    state_dir: Path,
    items: list[Planned],
    *,
    processes: int,
    workers: int,
    events: ObjectEvents,
) -> tuple[list[Outcome], list[BaseException], int]:
    """Copy `items` with `processes` children of ceil(workers / processes) threads each: (the outcomes,
    the failures, the retries). Returns when every child has ended."""
    context = _context()
    work: Any = context.Queue()
    results: Any = context.Queue()
    stop = context.Event()
    work.cancel_join_thread()  # objects left in it after a stop must not hold this process at exit
    settings = {
        module.__name__: {name: getattr(module, name) for name in names} for module, names in _SHARED_SETTINGS.items()
    }
    slots = settings[copier.__name__]
    slots["PART_SLOTS"] = max(slots["PARTS_AT_ONCE"], math.ceil(slots["PART_SLOTS"] / processes))
    job = _Job(
        plan=plan.model_dump(mode="json", by_alias=True),
        base_dir=base_dir,
        state_dir=state_dir,
        threads=max(1, math.ceil(workers / processes)),
        settings=settings,
    )
    children = [
        context.Process(target=_serve, args=(job, work, results, stop), name=f"objects-copy-{n}", daemon=True)
        for n in range(processes)
    ]
    for child in children:
        child.start()
    for item in items:
        work.put(item)
    for _ in children:
        work.put(None)  # one end mark per child

    outcomes: list[Outcome] = []
    errors: list[BaseException] = []
    retries = 0
    running = {child.pid: child for child in children}
    interrupted = False

    def handle(message: tuple[Any, ...]) -> None:
        nonlocal retries
        kind = message[0]
        if kind == "done":
            group: list[Outcome] = message[1]
            for outcome in group:
                events.object_done(outcome.key, outcome.size, outcome.sha256, outcome.action)
            events.flush()
            outcomes.extend(group)
        elif kind == "retried":
            retries += 1
            events.retried(message[1], message[2])
        elif kind == "failed":
            errors.append(message[1])
            stop.set()
        elif kind == "ended":
            running.pop(message[1], None)

    try:
        while running:
            try:
                handle(results.get(timeout=POLL_SECONDS))
            except queue.Empty:
                _reap(running, results, handle, errors, stop)
            if not interrupted:
                try:
                    events.check_stop()
                except Interrupted as error:  # Ctrl-C: the children finish their current part or object
                    interrupted = True
                    errors.append(error)
                    stop.set()
    finally:
        stop.set()  # also when this process fails while waiting: no child goes on without it
        for child in children:
            child.join()
        work.close()
        results.close()
    return outcomes, errors, retries


def _reap(running: dict[Any, Any], results: Any, handle: Any, errors: list[BaseException], stop: Any) -> None:
    """A child that died without saying so (killed, out of memory) is a failure of the copy."""
    for pid, child in list(running.items()):
        if child.exitcode is None or child.exitcode == 0:
            continue  # still running, or ended normally: its last messages are still on their way
        try:
            while pid in running:
                handle(results.get_nowait())
        except queue.Empty:
            pass
        if pid in running:
            running.pop(pid)
            errors.append(PermanentError(f"a copying process ended unexpectedly (exit code {child.exitcode})"))
            stop.set()


# --- in a child -----------------------------------------------------------------------------------------


def _serve(job: _Job, work: Any, results: Any, stop: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it sets `stop`
    _exit_with_parent()
    for module in (copier, retry, copy_threads):
        for name, value in job.settings[module.__name__].items():
            setattr(module, name, value)
    errors: list[BaseException] = []
    try:
        plan = Plan.model_validate(job.plan)
        source, target = open_sides(plan, job.base_dir)
        state = ObjectsState(job.state_dir)
        state.hold_lines()
        stopped = threading.Event()

        def check_stop() -> None:
            if stopped.is_set() or stop.is_set():
                raise PoolStopped

        def on_retry(what: str, error: str) -> None:
            results.put(("retried", what, error))

        def recorded(group: list[Outcome]) -> None:
            with_retries(f"record the objects in {target.location}", target.commit, on_retry)
            state.flush()
            results.put(("done", group))

        def items() -> Iterator[Planned]:
            while not stop.is_set():
                item = work.get()
                if item is None:
                    return
                yield item

        copying = ObjectCopier(source, target, state, check_stop, on_retry)
        with closing(copying):
            errors = copy_with_threads(copying, items(), job.threads, stopped, recorded)
    except Exception as error:  # opening the stores, or the plan: reported like a failed copy
        errors = [error]
    for failure in errors:
        results.put(("failed", _portable(failure)))
    results.put(("ended", os.getpid()))


def _exit_with_parent() -> None:
    """A thread that ends this process when its parent is gone (SIGKILLed, or exited past a stuck child)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="objects-parent-watch", daemon=True).start()


def _portable(error: BaseException) -> BaseException:
    """The error itself when it survives pickling (ours do), else a PermanentError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return PermanentError(f"{type(error).__name__}: {error}")
    return error
