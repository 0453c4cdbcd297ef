"""A loaded plan's source and target URLs. A module of its own: `verify` and `status`, which read
the target alone, need them without what `prepare` imports to read the source (sqlglot among it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrator.plan.load import LoadedPlan
from migrator.stores.sql import connect

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


def urls(loaded: LoadedPlan) -> tuple[URL, URL]:
    plan = loaded.plan
    assert plan.source.database and plan.target.database  # the loader demands both
    return (
        connect.parse_url(plan.source.database, loaded.base_dir),
        connect.parse_url(plan.target.database, loaded.base_dir),
    )
