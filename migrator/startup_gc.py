"""Python's cyclic garbage collector, held off while a command starts.

A command's start imports SQLAlchemy, psycopg, pydantic, typer and sqlglot, then builds the plan's
models, the source's reflected tables and the subset SQL: some 120,000 objects that live as long
as the process. The collector traverses them again and again while they are being made (one full
collection of them takes 50 ms here), and finds almost nothing to free: 2,200 unreachable objects
when the benchmark's copy starts. So the CLI holds collection off from its first line
(`hold_collection`) until the work proper starts (`start_up_done`), then freezes what start-up made
(`gc.freeze`: left out of every later collection, as CPython's documentation suggests for
long-lived objects) and collects as usual from there. The garbage made during start-up is frozen
with the rest, once (those 2,200 objects on the benchmark).

A command that never says its start-up is done gets collection back after `HOLD_LIMIT` seconds
anyway, from a timer, so that no path runs long without it.
"""

from __future__ import annotations

import gc
import threading

HOLD_LIMIT = 2.0  # seconds: start-up is under one on the benchmark

_lock = threading.Lock()
_held = False


def hold_collection() -> None:
    """No cyclic collection until `start_up_done`, or for `HOLD_LIMIT` seconds at most."""
    global _held
    with _lock:
        if _held or not gc.isenabled():
            return
        _held = True
        gc.disable()
    timer = threading.Timer(HOLD_LIMIT, start_up_done)
    timer.daemon = True
    timer.start()


def start_up_done() -> None:
    """What start-up made is frozen, and collection runs as usual again. Only undoes
    `hold_collection`: anywhere else (a test, a library caller) it does nothing."""
    global _held
    with _lock:
        if not _held:
            return
        _held = False
        gc.freeze()
        gc.enable()
