"""migrator: split an isolated, verified copy off a live deployment.

The library behind the CLI; each function returns a result object the CLI renders. The names
below are imported when first used, so that a command pays only for the modules it needs (a
finished plan's re-run imports no SQLAlchemy at all).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from migrator.version import __version__

if TYPE_CHECKING:
    from migrator.engine.dry_run import dry_run
    from migrator.engine.run import run_plan
    from migrator.plan.load import LoadedPlan, load_plan

_EXPORTS = {
    "dry_run": "migrator.engine.dry_run",
    "run_plan": "migrator.engine.run",
    "LoadedPlan": "migrator.plan.load",
    "load_plan": "migrator.plan.load",
}

__all__ = ["LoadedPlan", "__version__", "dry_run", "load_plan", "run_plan"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'migrator' has no attribute {name!r}")
