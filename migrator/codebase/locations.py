"""Where one repository lives on each side: `source.codebase` or `target.codebase` joined with its name.

A side's codebase is a base URL (https://, http://, git://, ssh://, file://) or a folder of
repositories (relative paths are relative to the plan file's folder, like every path in a plan). In
a URL the name is appended as written, since servers differ on the `.git` suffix (GitHub accepts
both, `git http-backend` serves the folder's own name): name the repository as the server does. In a
folder both `NAME` and `NAME.git` are found, and a target repository that is missing is made bare as
`NAME.git` (the convention for bare repositories), unless the name already ends in `.git`.
"""

from __future__ import annotations

import re
from pathlib import Path

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(base: str) -> bool:
    return bool(_URL.match(base))


def repository_location(base: str, name: str, base_dir: Path) -> str:
    """The URL or absolute folder of repository `name` under a side's codebase."""
    if is_url(base):
        return base.rstrip("/") + "/" + name
    folder = Path(base).expanduser()
    if not folder.is_absolute():
        folder = base_dir / folder
    for candidate in (folder / name, folder / f"{name}.git"):
        if candidate.exists():
            return str(candidate.resolve())
    new = folder / (name if name.endswith(".git") else f"{name}.git")
    return str(new.resolve())
