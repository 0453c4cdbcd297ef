"""Ctrl-C during a run: finish and commit the unit under way, then stop (SPEC §5, exit 130).

The first SIGINT only raises a flag that the copy loop checks between units, so no unit is cut in
half and the run continues later from exactly there. A second Ctrl-C stops at once; the open unit's
transaction is then rolled back, which loses nothing either.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from migrator.errors import Interrupted


class StopFlag:
    def __init__(self) -> None:
        self.requested = False

    def check(self) -> None:
        if self.requested:
            raise Interrupted("interrupted: every committed chunk is kept; run the same command to continue")


@contextmanager
def stop_on_first_interrupt() -> Iterator[StopFlag]:
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signals reach the main thread only; a library caller elsewhere keeps its own
        return

    def on_interrupt(_signum: int, _frame: FrameType | None) -> None:
        flag.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the second Ctrl-C is immediate

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
