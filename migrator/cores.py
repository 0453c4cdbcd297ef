"""How many cores this process may run on: `run --workers`' default and the objects' process count.

A module of its own, with nothing but `os`: the CLI asks it before it knows which parts a plan has, and
importing it from the tables' engine pulled SQLAlchemy into every run, objects-only ones included."""

from __future__ import annotations

import os


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
