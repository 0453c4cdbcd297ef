"""Every part a plan may hold, listed explicitly and run in this order (tables, objects, flags,
codebase): the tables first, so that a run's id comes from the target database's ledger when there is one.

A part's module is imported only when the plan holds that part: the codebase part brings libgit2 and
the rewrite, the flags part JSON Schema and the bucketing, the objects part boto3; a plan of tables
alone (the usual `plan` and `run`) starts without them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrator.engine.parts.base import Part
    from migrator.plan.model import Plan


@cache
def _tables() -> Part:
    from migrator.engine.parts.tables import TablesPart

    return TablesPart()


@cache
def _objects() -> Part:
    from migrator.engine.parts.objects import ObjectsPart

    return ObjectsPart()


@cache
def _flags() -> Part:
    from migrator.engine.parts.flags import FlagsPart

    return FlagsPart()


@cache
def _codebase() -> Part:
    from migrator.engine.parts.codebase import CodebasePart

    return CodebasePart()


# (whether the plan holds the part, the part): each part's `present` is the plan's property named here.
ALL_PARTS: tuple[tuple[Callable[[Plan], bool], Callable[[], Part]], ...] = (
    (lambda plan: plan.copies_tables, _tables),
    (lambda plan: plan.copies_objects, _objects),
    (lambda plan: plan.copies_flags, _flags),
    (lambda plan: plan.copies_codebase, _codebase),
)


def parts_of(plan: Plan) -> list[Part]:
    """The parts this plan holds; the loader refuses a plan with none."""
    return [part() for holds, part in ALL_PARTS if holds(plan)]
