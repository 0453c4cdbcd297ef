"""Ctrl-C during a run (SPEC §5, exit 130).

The first Ctrl-C lets the chunk being written commit, with its mark, and then stops: nothing is cut
in half and the next run continues from exactly there. It says so at once, and cancels the reads in
flight (a read writes nothing, so cancelling one loses nothing), because a read of the next chunk can
block for many seconds: a subset query that sorts, or a SQLite plan that searches, gives its first
row only at the end. The second Ctrl-C also cancels the writes in flight: the chunk's transaction is
rolled back, its mark with it, so that chunk is simply copied again by the next run.

Why a watcher thread and not the signal handler itself: Python runs a signal handler only when the
main thread comes back to Python code, and a query in a driver's C code may not come back for
seconds (that was the "nothing for 14 s, and the second Ctrl-C does nothing" of issue 11). The C
part of the handler writes each signal to a wakeup socket at once, whatever the main thread does;
the watcher reads it there and cancels the queries through their connections, which the drivers
allow from another thread (sqlite3 `interrupt()`, psycopg `cancel()`). A run stuck elsewhere still
ends: a few seconds after the second Ctrl-C the process exits 130 (the databases roll back the
open transactions of a process that is gone, as after a crash).
"""

from __future__ import annotations

import itertools
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType

from migrator.errors import Interrupted

Cancel = Callable[[], None]
RECANCEL_SECONDS = 0.25  # after the first Ctrl-C, reads that start anyway are cancelled this soon
GRACE_SECONDS = 3.0  # after the second Ctrl-C, the longest the run may take to unwind before exit
INTERRUPTED = "interrupted: every committed chunk is kept"


class StopFlag:
    """Whether the run must stop, and the queries to cancel when it must. A child flag (one per
    parallel copy) also stops on its own, when one of its workers fails, without stopping the
    whole run: its retry starts with a fresh child."""

    def __init__(self, parent: StopFlag | None = None, *, chunk_rows: int = 0) -> None:
        self._parent = parent
        self._halted = False
        self.presses = 0  # Ctrl-Cs seen (kept on the root flag)
        self.chunk_rows = chunk_rows
        self._last_chunk: float | None = None  # seconds the last committed chunk took
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._reads: dict[int, Cancel] = {}
        self._writes: dict[int, Cancel] = {}
        self._pressed = threading.Event()

    @property
    def _root(self) -> StopFlag:
        return self if self._parent is None else self._parent._root

    @property
    def requested(self) -> bool:
        return self._halted or (self._parent.requested if self._parent else self.presses > 0)

    @property
    def interrupted_by_user(self) -> bool:
        return self._root.presses > 0

    @property
    def at_once(self) -> bool:
        return self._root.presses > 1

    def child(self) -> StopFlag:
        return StopFlag(self)

    def halt(self) -> None:
        """Stop the workers of this flag after their current unit (one of them failed)."""
        self._halted = True

    def check(self) -> None:
        """Between units: stop here if asked to."""
        if self.requested:
            raise Interrupted(INTERRUPTED)

    def check_at_once(self) -> None:
        """Inside a unit's transaction, before its mark: after a second Ctrl-C the unit is rolled back."""
        if self.at_once:
            raise Interrupted(f"{INTERRUPTED}; the chunk in flight was rolled back")

    def pause(self, seconds: float) -> None:
        """time.sleep, but over at the first Ctrl-C (a signal does not end a sleep in Python)."""
        self._root._pressed.wait(seconds)

    def chunk_committed(self, seconds: float) -> None:
        self._root._last_chunk = seconds

    @contextmanager
    def cancellable(self, cancel: Cancel, *, writes: bool) -> Iterator[None]:
        """While inside, `cancel` stops the queries of one connection: at the first Ctrl-C if the
        connection only reads (`writes` False), at the second if it writes."""
        root = self._root
        with root._lock:
            key = next(root._ids)
            (root._writes if writes else root._reads)[key] = cancel
        try:
            yield
        finally:
            with root._lock:
                (root._writes if writes else root._reads).pop(key, None)

    @contextmanager
    def errors_mean_stop(self) -> Iterator[None]:
        """After a Ctrl-C, an error is almost always a query we cancelled (a "statement cancelled"
        is a transient error, which would be retried): it is the stop, reported as such."""
        try:
            yield
        except Interrupted:
            raise
        except Exception as error:
            if self.interrupted_by_user:
                raise Interrupted(INTERRUPTED) from error
            raise

    def _press(self) -> str:
        """A Ctrl-C has arrived: what to say, after cancelling what it cancels."""
        self.presses += 1
        self._pressed.set()
        if self.presses == 1:
            self._cancel(writes=False)
            return _first_message(self.chunk_rows, self._last_chunk)
        self._cancel(writes=True)
        return (
            "Ctrl-C again: stopping now; the chunk in flight is rolled back (it is not marked done, so it is "
            "copied again by the next run and nothing is lost)"
        )

    def _cancel(self, *, writes: bool) -> None:
        with self._lock:
            cancels = list(self._reads.values()) + (list(self._writes.values()) if writes else [])
        for cancel in cancels:
            with suppress(Exception):  # a connection closing under us needs no cancelling
                cancel()


def _first_message(chunk_rows: int, last_chunk: float | None) -> str:
    details = [f"at most {chunk_rows:,} rows"] if chunk_rows else []
    if last_chunk is not None:
        details.append(f"the last chunk took {last_chunk:.1f} s" if last_chunk >= 0.1 else "a chunk takes under 0.1 s")
    size = f" ({'; '.join(details)})" if details else ""
    return (
        f"Ctrl-C: stopping after the chunk being written{size}; reads in flight are cancelled. "
        "Press Ctrl-C again to stop at once (that chunk is rolled back, nothing is lost)."
    )


def _say(message: str) -> None:
    # sys.stderr looked up now: while the progress display runs it is rich's proxy, which prints the
    # line above the bars instead of through them.
    print(message, file=sys.stderr, flush=True)


@contextmanager
def stop_on_first_interrupt(chunk_rows: int = 0, say: Callable[[str], None] = _say) -> Iterator[StopFlag]:
    flag = StopFlag(chunk_rows=chunk_rows)
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signals reach the main thread only; a library caller elsewhere keeps its own
        return
    receive, send = socket.socketpair()
    send.setblocking(False)
    ended = threading.Event()

    def on_interrupt(_signum: int, _frame: FrameType | None) -> None:
        pass  # the watcher acts, as soon as the signal arrives (see above); nothing is left to do here

    def watch() -> None:
        hard_exit_at = None
        while not ended.is_set():
            ready, _, _ = select.select([receive], [], [], RECANCEL_SECONDS)
            pressed = [b for b in (receive.recv(64) if ready else b"") if b == signal.SIGINT]
            if ended.is_set():
                return
            for _ in pressed:
                if flag.presses >= 2:
                    _say("Ctrl-C a third time: exiting now")
                    os._exit(130)
                message = flag._press()
                with suppress(OSError, ValueError):  # a closed stderr must not end the watcher
                    say(message)
                if flag.presses == 2:
                    hard_exit_at = time.monotonic() + GRACE_SECONDS
            if flag.presses:
                flag._cancel(writes=flag.presses > 1)  # a query started since is cancelled too
            if hard_exit_at is not None and time.monotonic() > hard_exit_at:
                _say(f"the run did not stop within {GRACE_SECONDS:.0f} s of the second Ctrl-C: exiting now")
                os._exit(130)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    previous_fd = signal.set_wakeup_fd(send.fileno(), warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, name="migrator-interrupt", daemon=True)
    watcher.start()
    try:
        yield flag
    finally:
        ended.set()
        with suppress(OSError):
            send.send(b"\0")  # wakes the watcher now rather than at its next look
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous)
        watcher.join()
        receive.close()
        send.close()
