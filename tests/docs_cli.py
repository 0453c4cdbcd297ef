"""`migrator` as the pages' commands run it (tests/docs_outputs.py): this checkout's CLI, and, when
DOCS_CTRL_C_AFTER is "TABLE N", a Ctrl-C (SIGINT, as the terminal sends it) once TABLE has committed
its N-th chunk. A reader presses the key at some moment; the test presses it at a fixed one, so
that what the page shows after it is the same every time."""

from __future__ import annotations

import os
import signal
import sys


def _press_ctrl_c_after(table: str, chunks: int) -> None:
    from migrator.report.progress import RichObserver

    rows_copied = RichObserver.rows_copied
    committed = {"chunks": 0}

    def observed(self: RichObserver, name: str, rows: int) -> None:
        rows_copied(self, name, rows)
        if name == table:
            committed["chunks"] += 1
            if committed["chunks"] == chunks:
                os.kill(os.getpid(), signal.SIGINT)

    RichObserver.rows_copied = observed  # type: ignore[method-assign]


if __name__ == "__main__":
    after = os.environ.get("DOCS_CTRL_C_AFTER")
    if after:
        table, chunks = after.split()
        _press_ctrl_c_after(table, int(chunks))
    from migrator.cli.entry import main

    sys.argv[0] = "migrator"
    main()
