"""Reading ahead: the source produces the next chunk while the target writes this one.

Without it one worker alternates between the two databases, each idle while the other works, and a
table takes the sum of their times; with it, about the larger of the two, as in the database's own
`COPY ... TO STDOUT | COPY ... FROM STDIN` pipe. The reader runs in a thread of its own (the drivers
release the GIL while they wait on the network) and stays at most `depth` chunks ahead, so memory
holds a bounded number of chunks whatever the table size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_POLL = 0.1  # seconds between looks at the stop event while the queue is full or empty


class _End:
    """The reader has no more items."""


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """`items`, produced by a reader thread up to `depth` ahead of the caller. An error of the reader
    is raised in the caller at the point where its item would have come. Closing the result (or
    leaving it early) stops the reader after the item it is producing and closes `items` there,
    in the reader's own thread. The reader starts at the first item asked for."""
    ahead = ReadAhead(items, depth)
    try:
        yield from ahead
    finally:
        ahead.close()


class ReadAhead(Iterator[T]):
    """`prefetched`, but the reader starts at once, before anyone asks for an item (a head start:
    engine/head_start.py). `close()` stops it whether or not any item was taken."""

    def __init__(self, items: Iterator[T], depth: int = 1):
        self._ready: queue.Queue[T | _End | _Failed] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._items = items
        self._over = False
        self._reader = threading.Thread(target=self._read, name="migrator-prefetch", daemon=True)
        self._reader.start()

    def _offer(self, item: T | _End | _Failed) -> bool:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        items = self._items
        try:
            for item in items:
                if not self._offer(item):
                    return
            self._offer(_End())
        except BaseException as error:
            self._offer(_Failed(error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def __next__(self) -> T:
        if self._over:
            raise StopIteration
        item = self._ready.get()
        if isinstance(item, _End):
            self._over = True
            raise StopIteration
        if isinstance(item, _Failed):
            self._over = True
            raise item.error
        return item

    def close(self) -> None:
        self._over = True
        self._stop.set()
        self._reader.join()
