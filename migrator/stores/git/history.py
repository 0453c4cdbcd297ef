"""Questions to git itself about a local repository's history, for verification: a second opinion
that shares none of migrator's own path matching."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from migrator.errors import RunError

_TIMEOUT = 600  # seconds: `git log` over a large history with pathspecs


def changed_paths(repo: Path, tips: Sequence[str], hide: Sequence[str], pathspecs: Sequence[str]) -> list[str]:
    """Every path matching `pathspecs` that a commit reachable from `tips` (and not from `hide`)
    touches: `git log --name-only --format=` with git's pathspec magic (`:(glob)`, `:(exclude)`).
    Merges are shown against each parent (`-m`), so a path only a merge brought in is seen too."""
    if not tips:
        return []
    args = [
        "git",
        "-C",
        str(repo),
        "log",
        "-m",
        "--name-only",
        "--format=",
        "--no-renames",
        "--stdin",
        "--",
        *pathspecs,
    ]
    revs = "\n".join([*tips, *(f"^{oid}" for oid in hide)]) + "\n"
    done = subprocess.run(args, input=revs.encode(), capture_output=True, timeout=_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RunError(f"git log in {repo} failed: {done.stderr.decode(errors='replace').strip()}")
    return sorted({line for line in done.stdout.decode("utf-8", errors="surrogateescape").splitlines() if line})
