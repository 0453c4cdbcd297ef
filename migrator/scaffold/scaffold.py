"""`migrator init URL`: survey the source, propose a plan, give it as YAML text or as data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from migrator.errors import UsageError
from migrator.scaffold.model import Proposal
from migrator.scaffold.propose import propose
from migrator.scaffold.render import render_yaml


@dataclass(frozen=True)
class Scaffold:
    proposal: Proposal
    yaml: str


def scaffold(url: str, plan_folder: Path | None = None) -> Scaffold:
    """The starting plan for the database at `url`, to be written into `plan_folder` (the current
    folder when None): a relative SQLite path in the plan is read from the plan's folder, so the
    one given here (from the current folder) is rewritten to stay the same file."""
    from migrator.stores.sql import connect
    from migrator.stores.sql.survey import has_password, surveyed

    with surveyed(url) as survey:
        if not survey.schema.tables:
            raise UsageError(f"the source database has no tables: {connect.redact(url)}")
        proposal = propose(survey, _as_seen_from(url, plan_folder), has_password(url))
    return Scaffold(proposal, render_yaml(proposal, connect.redact(url)))


def _as_seen_from(url: str, plan_folder: Path | None) -> str:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or plan_folder is None:
        return url
    path = url[len(prefix) :].split("?", 1)
    if not path[0] or path[0].startswith("/") or path[0] == ":memory:":
        return url
    moved = os.path.relpath(Path.cwd() / path[0], plan_folder.resolve())
    return prefix + Path(moved).as_posix() + (f"?{path[1]}" if len(path) > 1 else "")
