"""SQLite's memory statistics, turned off for the process before the driver starts SQLite.

Unless it was built without them, SQLite counts every allocation it makes in statistics global to
the process (`SQLITE_CONFIG_MEMSTATUS`), under one mutex that every connection of the process takes
for every malloc and free. Uncontended, that mutex cost a third of the time SQLite took to spell
rows for a digest (0.25 s against 0.175 s for the benchmark's `likes`); with two threads each
reading on a connection of its own, the two fought over it so hard that they took three times as
long as one thread alone (0.75 s), where two processes took 0.14 s. Nothing in migrator reads those
statistics (`sqlite3_memory_used`, the soft heap limit).

Python's sqlite3 has no way to set this, and SQLite takes the setting only before it initialises,
which importing the driver does. So the CLI calls `without_memory_statistics` first thing, through
ctypes, on the library the driver itself uses: the driver's extension module is loaded (not
imported, so SQLite is not initialised yet) and the function is looked up through it, which finds
the SQLite it links, shared or built in. Wherever that cannot be done (the driver already imported,
a SQLite whose functions are not visible, a platform other than Linux, whose calling convention
for C's variadic functions ctypes may not follow) it does nothing, and SQLite works as it always
did.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys

SQLITE_CONFIG_MEMSTATUS = 9  # sqlite3.h
SQLITE_OK = 0

_off = False  # whether `without_memory_statistics` took, in this process


def without_memory_statistics() -> bool:
    """SQLite's memory statistics off for this process, if SQLite has not started yet: True when
    the setting took."""
    global _off
    if not sys.platform.startswith("linux") or "_sqlite3" in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec("_sqlite3")
        if spec is None or not spec.has_location or spec.origin is None:
            return False
        config = ctypes.CDLL(spec.origin).sqlite3_config
    except (ImportError, OSError, AttributeError):
        return False
    config.argtypes = [ctypes.c_int, ctypes.c_int]
    config.restype = ctypes.c_int
    _off = _off or config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK
    return _off


def threads_run_apart() -> bool:
    """Whether connections on threads of their own run side by side in this process: only without
    the statistics' mutex, which otherwise makes two such threads slower than one."""
    return _off
