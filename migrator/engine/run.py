"""`migrator run`: every part of the plan, unit by checkpointed unit (SPEC §4, §5).

A run is a loop over the plan's parts (engine/parts/registry.py), and for each a loop of attempts:
a transient failure (a dropped connection, a timeout, an S3 SlowDown past its own retries) ends the
attempt, is recorded, and the next attempt starts after a backoff from the part's checkpoints. The
audit trail, Ctrl-C, the receipt and the run record are the loop's, the same for every part.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from migrator.engine.executors.options import DaskOptions
from migrator.engine.interrupt import stop_on_first_interrupt
from migrator.engine.observer import Observer, Silent
from migrator.engine.parts.base import PartRun, RunContext
from migrator.engine.parts.registry import parts_of
from migrator.engine.results import RunResult
from migrator.engine.state import write_run_record
from migrator.engine.trail import RunTrail
from migrator.errors import Interrupted, TransientError
from migrator.plan.load import LoadedPlan
from migrator.version import __version__

ATTEMPTS = 5


def run_plan(
    loaded: LoadedPlan,
    *,
    observer: Observer | None = None,
    environ: Mapping[str, str] | None = None,
    start_over: bool = False,
    attempts: int = ATTEMPTS,
    workers: int = 1,
    workers_asked: bool = True,
    verify: bool = True,
    count_dangling: bool = False,
    dask: DaskOptions | None = None,
) -> RunResult:
    observer = observer or Silent()
    env = dict(os.environ if environ is None else environ)
    started = time.monotonic()
    retries: list[str] = []
    trail = RunTrail(loaded.state_dir, env)

    def record_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        retries.append(f"attempt {state.attempt_number}: {error}")
        trail.event("retry", attempt=state.attempt_number, error=str(error))
        observer.step(f"retrying after a transient failure: {error}")

    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=15),
        before_sleep=record_retry,
        reraise=True,
    )
    result = RunResult(loaded.plan.name, "", "finished", [], 0.0, "")
    runs: list[PartRun] = []
    with stop_on_first_interrupt(loaded.plan.data.chunk_rows) as stop, _stop_recorded(trail, started):
        ctx = RunContext(
            loaded, env, observer, stop, trail, workers, verify, count_dangling, dask=dask, workers_asked=workers_asked
        )
        for part in parts_of(loaded.plan):
            ctx.start_over = start_over
            for attempt in retrying.copy(sleep=stop.pause):  # a Ctrl-C cuts the pause before a retry short
                with attempt, stop.errors_mean_stop():
                    run = part.run(ctx, result)
                    ctx.start_over = False  # a retry continues; it does not start over again
            runs.append(run)
    _combine(result, runs)
    result.seconds = round(time.monotonic() - started, 3)
    result.retries = retries
    if result.status != "already-finished":
        _close_trail(trail, loaded, result, runs)
    write_run_record(loaded.state_dir, result, loaded.sha256)
    return result


def _combine(result: RunResult, runs: list[PartRun]) -> None:
    """The run's status is its parts': already finished only when every part was; not verified when
    any part's verification failed; resumed when any part resumed."""
    statuses = {run.status for run in runs}
    result.run_id = runs[0].run_id
    result.target = ", ".join(dict.fromkeys(run.target for run in runs))
    if statuses == {"already-finished"}:
        result.status = "already-finished"
        return
    statuses.discard("already-finished")
    for status in ("copied-but-not-verified", "resumed-and-finished", "finished"):
        if status in statuses:
            result.status = status
            break
    if result.message and len(runs) > 1:
        result.message = ""  # "already finished" said of one part is not the news of the run


@contextmanager
def _stop_recorded(trail: RunTrail, started: float) -> Iterator[None]:
    """A run that started and then stopped short (Ctrl-C, or a failure past the retries) says so in
    its audit trail, so that the log tells an interrupted run from one still going or killed. A run
    refused before it started has no trail to write to, and gets none."""
    try:
        yield
    except BaseException as error:
        if trail.run_id:
            reason = "interrupted" if isinstance(error, Interrupted | KeyboardInterrupt) else "failed"
            with suppress(OSError):  # the error being raised is the news, not a log that cannot be written
                trail.event(
                    "run stopped",
                    reason=reason,
                    error=str(error) or type(error).__name__,
                    seconds=round(time.monotonic() - started, 3),
                )
        raise


def _close_trail(trail: RunTrail, loaded: LoadedPlan, result: RunResult, runs: list[PartRun]) -> None:
    """The last event, then the receipt that anchors the chain's head outside the log. Each part
    adds its own keys to the receipt (the tables' digests, the objects' manifest digest)."""
    finished: dict[str, Any] = {"status": result.status, "seconds": result.seconds}
    body: dict[str, Any] = {
        "plan": loaded.plan.name,
        "plan_sha256": loaded.sha256,
        "run": result.run_id,
        "status": result.status,
        "tool_version": __version__,
        "target": result.target,
        "retries": result.retries,
    }
    for run in runs:
        body.update(run.receipt)
        finished.update(run.finished)
    trail.event("run finished", **finished)
    result.receipt = str(trail.receipt(body))
