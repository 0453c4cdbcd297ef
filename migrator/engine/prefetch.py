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
    in the reader's own thread."""
    ready: queue.Queue[T | _End | _Failed] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: T | _End | _Failed) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_End())
        except BaseException as error:
            offer(_Failed(error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="migrator-prefetch", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        reader.join()
