"""A history written from a `git fast-import` stream into a new bare repository.

The demo's monorepo is made this way: a stream is plain text that says every commit's author,
date and files, so the history (and every commit id) is the same wherever it is generated.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from migrator.errors import RunError


def import_history(bare: Path, stream: bytes) -> None:
    """Replace `bare` with a new bare repository holding the stream's history."""
    if bare.exists():
        shutil.rmtree(bare)
    bare.parent.mkdir(parents=True, exist_ok=True)
    _git(["init", "--quiet", "--bare", "--initial-branch=main", str(bare)])
    _git(["-C", str(bare), "fast-import", "--quiet", "--done"], stream)


def _git(args: list[str], stdin: bytes | None = None) -> None:
    done = subprocess.run(["git", *args], input=stdin, capture_output=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RunError(f"git {args[0] if args[0] != '-C' else args[2]} failed: {done.stderr.decode(errors='replace')}")
