"""The malloc thresholds while objects are copied (migrator/memory.py): a body of a few hundred KiB comes
from the heap and is reused, instead of being a fresh mapping faulted in page by page each time; after
the copy, the tables' thresholds are back. Counted in page faults, which do not depend on the machine's
speed, in a fresh interpreter (a test process's heap has a history of its own)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROUNDS, PAGES = 200, 64  # bodies of 256 KiB, the benchmark's small objects: 64 pages each

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")

PROBE = f"""
import json, os, resource
from migrator.memory import fix_mmap_threshold, objects_copying

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for n in range({ROUNDS}):
        body = os.urandom(16) * 16384  # malloc, then every page written
        del body
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

fix_mmap_threshold()  # as the CLI starts
mapped = faults()
with objects_copying():
    reused = faults()
after = faults()
print(json.dumps([mapped, reused, after]))
"""


def test_object_bodies_reuse_the_heap_while_objects_are_copied_and_map_afresh_after() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    )
    mapped, reused, after = json.loads(done.stdout)
    assert mapped >= ROUNDS * PAGES * 0.9  # a fresh mapping per body: every page faulted in
    assert reused < ROUNDS * PAGES * 0.1  # the heap's pages, faulted in once
    assert after >= ROUNDS * PAGES * 0.9  # the tables' thresholds again
