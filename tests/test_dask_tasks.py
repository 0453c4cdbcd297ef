"""What a Dask worker checks before it runs a unit (executors/unit_task.py), without a cluster: a task
of another migrator version or whose plan bytes do not hash to the SHA-256 sent with them is
refused, and a worker that reaches another database than the client's (another server alike) cannot
import the snapshot."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrator.engine.executors.unit_task import TableTask, checked, join_snapshot
from migrator.errors import UsageError

PLAN = (Path(__file__).parent / "plans" / "chinook_us_pg.yaml").read_bytes()


def _task(snapshot_id: str = "00000003-00000002-1") -> TableTask:
    from migrator.version import __version__

    return TableTask(PLAN, hashlib.sha256(PLAN).hexdigest(), "run", snapshot_id, "customer", __version__, "attempt")


def test_a_task_of_another_version_or_other_bytes_is_refused() -> None:
    checked(_task())
    with pytest.raises(UsageError, match=r"runs migrator .* and the client 0\.0\.0-other"):
        checked(dataclasses.replace(_task(), version="0.0.0-other"))
    with pytest.raises(UsageError, match="do not match their SHA-256"):
        checked(dataclasses.replace(_task(), plan_bytes=PLAN + b"\n# changed\n"))


def test_a_worker_reaching_another_database_cannot_import_the_snapshot(
    chinook_pg: str, pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sa.create_engine(chinook_pg)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot_id = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
                monkeypatch.setenv("STATE_DIR", str(tmp_path))
                monkeypatch.setenv("TARGET_URL", pg_database)
                monkeypatch.setenv("SOURCE_URL", chinook_pg)
                assert join_snapshot(_task(snapshot_id)).startswith("pid ")  # the client's server: joined
                monkeypatch.setenv("SOURCE_URL", pg_database)  # the worker's variables name another database
                with pytest.raises(Exception, match="snapshot"):
                    join_snapshot(_task(snapshot_id))
    finally:
        engine.dispose()
