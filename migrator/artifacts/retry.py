"""One retry policy for every object-store request: a TransientError (5xx, SlowDown, throttling, a dropped
connection, a timeout) is tried again with exponential backoff, and each retry is reported; anything
else goes up at once. The constants are module attributes, read at each call, so tests can shorten them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from migrator.errors import TransientError

T = TypeVar("T")

ATTEMPTS = 6  # five retries: about 0.25 + 0.5 + 1 + 2 + 4 seconds of waiting at most
WAIT_MULTIPLIER = 0.25
WAIT_MAX = 8.0

OnRetry = Callable[[str, str], None]  # (what, error)


def with_retries(what: str, call: Callable[[], T], on_retry: OnRetry | None = None) -> T:
    # The first attempt on its own: nearly every call succeeds at once, and a tenacity Retrying made for
    # each of thousands of small objects' requests was a measurable share of the copy's CPU.
    try:
        return call()
    except TransientError as error:
        if ATTEMPTS <= 1:
            raise
        if on_retry is not None:
            on_retry(what, str(error))
        time.sleep(_wait(1))

    def report(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if on_retry is not None:
            on_retry(what, str(error))

    retrying = Retrying(  # attempts 2 to ATTEMPTS, waiting as after the first (twice as long each time)
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(ATTEMPTS - 1),
        wait=wait_exponential(multiplier=WAIT_MULTIPLIER * 2, max=WAIT_MAX),
        before_sleep=report,
        reraise=True,
    )
    return retrying(call)


def _wait(attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (from 1), as tenacity's wait_exponential."""
    return float(min(WAIT_MAX, WAIT_MULTIPLIER * 2 ** (attempt - 1)))
