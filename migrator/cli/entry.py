"""The console entry point: the `migrator` command and `python -m migrator`.

A finished plan run again is answered here, before the CLI framework is imported: typer builds its
parameters with pydantic, and importing the two took half of such a re-run's time (SPEC §9: a
finished plan does no work). Only the plainest spelling of `run` is recognised; anything else,
and any plan the quick answer is not sure of, goes to the CLI as usual.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

from migrator.memory import fix_mmap_threshold
from migrator.startup_gc import hold_collection
from migrator.stores.sql.sqlite_library import without_memory_statistics

_RUN_FLAGS = {"--no-verify", "--count-dangling"}  # options of `run` that do not change a finished plan's answer


def main() -> None:
    """The process ends without CPython's teardown of every module: by then each command has closed
    its files (the audit log is fsynced) and disposed of its connections, and the teardown alone
    took 0.3 s, a twentieth of a whole run at the benchmark's scale 1."""
    hold_collection()  # until the work starts: see migrator/startup_gc.py
    fix_mmap_threshold()  # see migrator/memory.py
    without_memory_statistics()  # before anything starts SQLite: see migrator/stores/sql/sqlite_library.py
    code = _finished_plan(sys.argv[1:])
    if code is None:
        from migrator.cli.app import app

        try:
            app()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 0 if done.code is None else _say(str(done.code))
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _finished_plan(argv: list[str]) -> int | None:
    """`run PLAN` (with `--format`, `--workers`, `--no-verify`, `--count-dangling`) of a plan that
    already ran to the end against its target: answered as the CLI answers it, exit code 0. None
    for everything else, which the CLI then takes, with all its checks and messages."""
    recognised = run_arguments(argv)
    if recognised is None:
        return None
    plan, format = recognised
    try:
        from migrator.engine.finished import already_finished

        result = already_finished(Path(plan), os.environ)
    except Exception:  # the CLI's own path reports whatever went wrong here
        return None
    if result is None:
        return None
    from migrator.cli.output import print_run

    print_run(result, format)
    return 0


def run_arguments(argv: list[str]) -> tuple[str, str] | None:
    """(plan, format) when `argv` is a `run` command in a spelling recognised here, else None."""
    if not argv or argv[0] != "run":
        return None
    plan, format = None, "text"
    rest = iter(argv[1:])
    for arg in rest:
        name, has_value, value = arg.partition("=")
        if name in ("--format", "--workers"):
            value = value if has_value else next(rest, "")
            if name == "--format" and value not in ("text", "json"):
                return None
            if name == "--workers" and not (value.isdigit() and int(value) >= 1):
                return None
            format = value if name == "--format" else format
        elif arg in _RUN_FLAGS:
            continue
        elif arg.startswith("-") or plan is not None:
            return None  # --restart, --help, --debug, a second argument: the CLI's
        else:
            plan = arg
    return (plan, format) if plan else None


def _say(message: str) -> int:
    """sys.exit("text") prints the text and exits 1; so do we."""
    print(message, file=sys.stderr)
    return 1
