"""Where the CLI writes: rich consoles for people, JSON for machines. Both cheap to import: rich
is loaded when a console is first used, as JSON output needs none of it."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from migrator.engine.results import RunResult


@functools.cache
def console(stderr: bool = False) -> Console:
    """stdout's console, or stderr's. soft_wrap: an error line stays one line whatever the
    terminal's width, so it can be searched."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def print_json(payload: object) -> None:
    print(json.dumps(payload, indent=2, default=str))


def print_run(result: RunResult, format: str) -> None:
    """A run's result, as `run` prints it in either format (also for a finished plan's quick answer)."""
    if format == "json":
        print_json(result.to_dict())
        return
    from migrator.report.text import render_run

    render_run(result, console())
