"""Where a plan keeps its files. Relative paths are relative to the plan file's folder, wherever
the command runs from."""

from __future__ import annotations

from pathlib import Path


def state_dir(plan_dir: Path, state: str | None, plan_name: str) -> Path:
    """The plan's `state` folder; `.migrator/NAME` beside the plan when the plan names none."""
    return (plan_dir / (state or f".migrator/{plan_name}")).resolve()
