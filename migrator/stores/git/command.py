"""Running one git command: its own environment, a time limit, stderr kept for the error.

Each command starts in a new process group so that a timeout ends git's helpers too (git fetch over
HTTP runs git-remote-http, which runs index-pack): killing git alone would leave them transferring.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from migrator.stores.git.transport_errors import GitTransientError


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run_git(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    shown: str,
    git_dir: Path | None = None,
) -> Completed:
    """`git [--git-dir=git_dir] args...`; a timeout is a GitTransientError naming `shown`, not the argv."""
    argv = ["git"]
    if git_dir is not None:
        argv.append(f"--git-dir={git_dir}")
    argv += list(args)
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        raise GitTransientError(f"git {args[0]} {shown}: no answer within {timeout:g} s") from None
    except BaseException:  # Ctrl-C: do not leave git transferring behind us
        _kill_group(process)
        process.communicate()
        raise
    return Completed(
        process.returncode,
        stdout.decode("utf-8", "replace"),
        stderr.decode("utf-8", "replace"),
    )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
