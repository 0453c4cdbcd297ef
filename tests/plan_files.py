"""Plan files written by tests: a plan is a mapping, written as JSON (which is YAML)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_plan(folder: Path, name: str, source: str, target: str, data: dict[str, Any]) -> Path:
    """`folder/NAME.yaml`: a plan named `name` from `source` to `target` (URLs), its state in
    `folder/state/NAME`, and `data` as its data section."""
    plan = {
        "version": 1,
        "name": name,
        "source": {"database": source},
        "target": {"database": target},
        "state": str(folder / "state" / name),
        "data": data,
    }
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(plan), encoding="utf-8")
    return path
