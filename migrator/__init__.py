"""migrator: split an isolated, verified copy off a live deployment.

The library behind the CLI; each function returns a result object the CLI renders.
"""

from migrator.engine.dry_run import dry_run
from migrator.engine.run import run_plan
from migrator.plan.load import LoadedPlan, load_plan
from migrator.version import __version__

__all__ = ["LoadedPlan", "__version__", "dry_run", "load_plan", "run_plan"]
