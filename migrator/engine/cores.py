"""The `--workers` default of `run` and `verify`: the cores this process may run on. A module of its
own, so that `verify` learns it without importing the copy (and psycopg with it)."""

from __future__ import annotations

import os


def machine_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
