"""glibc's mmap threshold: which buffers come from the heap, and which are mappings of their own.

glibc raises its threshold each time a large block is freed; after that, buffers of that size come
from the heap, which fragments and keeps them. For the tables' copy that made peak memory grow with
the number of chunks (+14% from the benchmark's scale 1 to scale 3), so the CLI fixes the threshold
at 128 KiB (`TABLE_BUFFERS`): every chunk-sized buffer is a mapping of its own, returned to the
system when freed (+3.5%).

Objects are another workload: thousands of whole-object bodies of a few hundred KiB each, one after
the other. With the threshold at 128 KiB, each such body is a fresh mapping, faulted in page by page
and unmapped again (about 167,000 page faults for the benchmark's 2,000 objects of 256 KiB), which
was an eighth of the copy's time. While objects are copied (`objects_copying`), buffers below
`OBJECT_BUFFERS` come from the heap and are reused, and the heap keeps up to `OBJECT_TRIM` free at its
top rather than giving each freed body back to the system at once (glibc's default trim threshold,
128 KiB, would shrink and grow it again for every body); the parts of large objects (8 MiB) stay
mappings of their own, so memory stays flat in object size. Other C libraries have no mallopt, and need none
of this: every call here is then a no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
TABLE_BUFFERS = 128 * 1024
TABLE_TRIM = 128 * 1024  # glibc's default, which a fixed mmap threshold leaves as it is
OBJECT_BUFFERS = 4 * 1024 * 1024
OBJECT_TRIM = 2 * OBJECT_BUFFERS  # as glibc's own adaptive thresholds pair them


def fix_mmap_threshold(size: int = TABLE_BUFFERS, trim: int = TABLE_TRIM) -> None:
    """Buffers of `size` bytes or more are mappings of their own, whatever was freed before; the heap
    gives its free top back to the system above `trim` bytes."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, size)
        libc.mallopt(M_TRIM_THRESHOLD, trim)


@contextlib.contextmanager
def objects_copying() -> Iterator[None]:
    """The thresholds for copying objects, then back to the tables' (the CLI's) for what follows."""
    fix_mmap_threshold(OBJECT_BUFFERS, OBJECT_TRIM)
    try:
        yield
    finally:
        fix_mmap_threshold(TABLE_BUFFERS, TABLE_TRIM)
