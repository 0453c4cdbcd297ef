"""Writes that survive `kill -9` and power loss: what the audit trail promises rests on them."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def append_line(path: Path, line: bytes) -> None:
    """Append one newline-terminated line in a single write, then fsync.

    O_APPEND makes the kernel place the write at the end even if the file grew under us, and one
    write() call means a crash leaves either the whole line or a torn tail without its newline (which
    AuditLog cuts away on its next open), never a line split around another. There is no user-space
    buffer to flush: os.write hands the bytes straight to the kernel.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        written = os.write(fd, line)
        if written != len(line):
            # A short write (disk full) would leave a torn line that later appends would build on.
            os.ftruncate(fd, start)
            raise OSError(f"{path}: wrote {written} of {len(line)} bytes; the line was not appended")
        os.fsync(fd)
    finally:
        os.close(fd)


def truncate(path: Path, size: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of it (write aside, fsync, rename)."""
    # A name of this process and thread: two writers of one file never share a temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a created or renamed entry durable: fsync on the file alone does not cover its name."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
