"""One retry policy for every object-store request: a TransientError (5xx, SlowDown, throttling, a dropped
connection, a timeout) is tried again with exponential backoff, and each retry is reported; anything
else goes up at once. The constants are module attributes, read at each call, so tests can shorten them."""

from __future__ import annotations

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
    def report(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if on_retry is not None:
            on_retry(what, str(error))

    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential(multiplier=WAIT_MULTIPLIER, max=WAIT_MAX),
        before_sleep=report,
        reraise=True,
    )
    return retrying(call)
