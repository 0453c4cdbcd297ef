"""`python -m tests.codebase_killable STEP run PLAN`: the migrator CLI, killed right after a step.

The codebase part's events are wrapped so that, once a repository's step STEP (fetched, rewritten,
pushed, verified) is done and its mark written, the process dies with os._exit(9): no cleanup, no
`finally`, as under a `kill -9` between two steps. The tests then run the plan again, normally.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from migrator.cli.entry import main
from migrator.engine.parts import codebase

KILLED = 9


def kill_after(step: str) -> None:
    done = codebase._Events.done

    def done_then_die(self: codebase._Events, repository: str, finished: str, facts: Mapping[str, Any]) -> None:
        done(self, repository, finished, facts)
        if finished == step:
            sys.stdout.flush()
            os._exit(KILLED)

    codebase._Events.done = done_then_die  # type: ignore[method-assign]


if __name__ == "__main__":
    kill_after(sys.argv.pop(1))
    main()
