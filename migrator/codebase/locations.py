"""Where one repository lives on each side: `source.codebase` or `target.codebase` joined with its name.

A side's codebase is a base URL (https://, http://, git://, ssh://) or a folder of repositories
(file://, or a path: relative paths are relative to the plan file's folder, like every path in a plan). In
a URL the name is appended as written, since servers differ on the `.git` suffix (GitHub accepts
both, `git http-backend` serves the folder's own name): name the repository as the server does. In a
folder both `NAME` and `NAME.git` are found, and a target repository that is missing is made bare as
`NAME.git` (the convention for bare repositories), unless the name already ends in `.git`.
"""

from __future__ import annotations

from pathlib import Path

from migrator.codebase.resolve import side_location


def repository_location(base: str, name: str, base_dir: Path) -> str:
    """The URL or absolute folder of repository `name` under a side's codebase."""
    where = side_location(base, base_dir)
    if "://" in where:
        return where.rstrip("/") + "/" + name
    folder = Path(where)
    for candidate in (folder / name, folder / f"{name}.git"):
        if candidate.exists():
            return str(candidate.resolve())
    new = folder / (name if name.endswith(".git") else f"{name}.git")
    return str(new.resolve())
