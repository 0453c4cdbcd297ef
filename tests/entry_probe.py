"""The CLI's entry point run in an interpreter of its own, with a few lines before it and a report
printed at its exit: for what only a whole process shows (which modules it imported, whether it
collects garbage again)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_entry(
    argv: list[str], env: dict[str, str], *, report: str, before: str = ""
) -> subprocess.CompletedProcess[str]:
    """`migrator ARGV` through `migrator.cli.entry.main`, `before` run first; at exit the process
    prints `report` (the arguments of a print call, as Python source) as its last line."""
    probe = (
        "import atexit, sys\n"
        f"{before}"
        f"atexit.register(lambda: print({report}))\n"
        f"sys.argv = ['migrator', *{argv!r}]\n"
        "from migrator.cli.entry import main\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
