"""Where the CLI writes: rich consoles for people, JSON for machines. Both cheap to import: rich
is loaded when a console is first used, as JSON output needs none of it.

Every JSON document a command prints (its result on standard output, an error on standard error)
names its shape in its first key, `"format": "migrator.NAME/VERSION"`: which output it is and which
version of that output's schema, docs/reference/outputs/NAME.schema.json. One string rather than a
bare number, so that a file kept from CI says by itself what it is (a `plan` and a `run` document
both have `plan` and `tables`). The version grows when a key is removed or changes meaning; a key
added keeps it (readers must ignore keys they do not know), though the schema file gains the key in
the same commit. `migrator schema` is the exception: it prints a JSON Schema, whose `$schema` says
what it is, and where a `format` key would be a JSON Schema keyword.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from migrator.engine.results import RunResult

FORMAT_KEY = "format"

# Every versioned output, with its version: a command's own name (`audit verify` is `audit-verify`)
# and `error`, the document of every command's failure. A new command adds its line here and its
# schema in docs/reference/outputs/NAME.schema.json (tests/test_output_schemas.py checks both).
OUTPUT_VERSIONS: dict[str, int] = {
    "validate": 1,
    "plan": 1,
    "run": 1,
    "verify": 1,
    "audit-verify": 1,
    "audit-keygen": 1,
    "rehearse": 1,
    "init": 1,
    "status": 1,
    "error": 1,
}


@functools.cache
def console(stderr: bool = False) -> Console:
    """stdout's console, or stderr's. soft_wrap: an error line stays one line whatever the
    terminal's width, so it can be searched."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def format_of(output: str) -> str:
    """`migrator.plan/1`: the value of the `format` key of an output's documents."""
    return f"migrator.{output}/{OUTPUT_VERSIONS[output]}"


def versioned(output: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload with its `format` first; its own keys as they were."""
    return {FORMAT_KEY: format_of(output), **payload}


def print_json(payload: object) -> None:
    print(json.dumps(payload, indent=2, default=str))


def print_output(output: str, payload: Mapping[str, Any]) -> None:
    """A command's result, on standard output, as the one JSON document it prints."""
    print_json(versioned(output, payload))


def print_error(payload: Mapping[str, Any]) -> None:
    """A failure, on standard error (standard output stays empty, or holds the result so far)."""
    print(json.dumps(versioned("error", payload), indent=2, default=str), file=sys.stderr)


def print_run(result: RunResult, format: str) -> None:
    """A run's result, as `run` prints it in either format (also for a finished plan's quick answer)."""
    if format == "json":
        print_output("run", result.to_dict())
        return
    from migrator.report.text import render_run

    render_run(result, console())
