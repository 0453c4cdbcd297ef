"""Every part a plan may hold, listed explicitly and run in this order (tables, objects, flags,
codebase): the tables first, so that a run's id comes from the target database's ledger when there is one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrator.engine.parts.codebase import CodebasePart
from migrator.engine.parts.flags import FlagsPart
from migrator.engine.parts.objects import ObjectsPart
from migrator.engine.parts.tables import TablesPart

if TYPE_CHECKING:
    from migrator.engine.parts.base import Part
    from migrator.plan.model import Plan

ALL_PARTS: tuple[Part, ...] = (TablesPart(), ObjectsPart(), FlagsPart(), CodebasePart())


def parts_of(plan: Plan) -> list[Part]:
    """The parts this plan holds; the loader refuses a plan with none."""
    return [part for part in ALL_PARTS if part.present(plan)]
