"""A copy_objects run in its own process, for the kill -9 tests: `python -m tests.objects_killable ARGS.json`.

ARGS.json holds the plan (as a dict), the base and state folders, the part size and optionally
`processes` (the copy spread over that many processes, however few its requests). Its events sleep
between parts, so the test has time to kill it in the middle of a multipart upload (with processes,
the children do not call them: the test slows the server's answers instead).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from migrator.artifacts import copier, copy_objects, copy_processes
from migrator.plan.model import Plan


class SlowEvents:
    def started(self, objects: int, size: int) -> None:
        pass

    def object_done(self, key: str, size: int, sha256: str, action: str) -> None:
        pass

    def flush(self) -> None:
        pass

    def retried(self, what: str, error: str) -> None:
        pass

    def check_stop(self) -> None:
        time.sleep(0.3)


def main() -> None:
    args = json.loads(Path(sys.argv[1]).read_text())
    copier.MULTIPART_THRESHOLD = args["part_size"]
    copier.PART_SIZE = args["part_size"]
    # One part at a time: the tests count which parts were checkpointed before the kill and which are
    # sent after it; with several in flight, those sent but not yet checkpointed would blur the count.
    copier.PARTS_AT_ONCE = 1
    processes = int(args.get("processes", 1))
    copy_processes.MIN_REQUESTS_FOR_PROCESSES = 1
    plan = Plan.model_validate(args["plan"])
    copy_objects(
        plan,
        Path(args["base_dir"]),
        Path(args["state_dir"]),
        workers=processes,
        events=SlowEvents(),
        processes=processes,
    )


if __name__ == "__main__":
    main()
