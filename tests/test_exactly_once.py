"""Exactly once in the target (issue 17, must-have 2): a unit's transaction checks the run fence,
claims its ledger row, writes its rows and its mark, and commits, so that a unit run twice (in
sequence, at once, or after its claimer was SIGKILLed) is in the target once, and a unit of an
older run is refused. On PostgreSQL and MariaDB, with real servers and real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrator.engine.fault_point import PAUSE_VARIABLE, READY_VARIABLE
from migrator.engine.unit_commit import commit_once
from migrator.stores.sql import ledger

PLAN, RUN, UNIT = "exactly-once", "run-a", "table:t:0"
ROOT = Path(__file__).resolve().parent.parent

# A child process that runs the unit through the same code, paused by the test-only fault point
# with its claim held and its row written, until the test kills it.
CHILD = """
import sys
import sqlalchemy as sa
from migrator.engine.unit_commit import commit_once

engine = sa.create_engine(sys.argv[1])
with engine.connect() as conn:
    def write():
        conn.execute(sa.text("INSERT INTO t (id) VALUES (1)"))
        return "child"
    commit_once(conn, sys.argv[2], sys.argv[3], sys.argv[4], 1, (1,), write)
"""


@pytest.fixture(params=["postgresql", "mariadb"])
def target(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    factory = "pg_url_factory" if request.param == "postgresql" else "mariadb_url_factory"
    url = request.getfixturevalue(factory)()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        ledger.ensure(conn)
        ledger.start_run(conn, PLAN, RUN, "0" * 64, [], "fail")
        conn.execute(sa.text("CREATE TABLE t (id INTEGER)"))  # no key: a second copy would show
    yield engine
    engine.dispose()


def _unit(engine: sa.Engine, run_id: str = RUN, pause: float = 0.0) -> str | None:
    with engine.connect() as conn:

        def write() -> str:
            conn.execute(sa.text("INSERT INTO t (id) VALUES (1)"))
            time.sleep(pause)  # holds the claim a while: the other one must wait for it
            return "sum"

        return commit_once(conn, PLAN, run_id, UNIT, 1, (1,), write)


def _rows_and_marks(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one()
        marks = conn.execute(sa.select(sa.func.count()).select_from(ledger.units)).scalar_one()
    return rows, marks


def test_a_unit_run_twice_in_sequence_is_skipped_the_second_time(target: sa.Engine) -> None:
    assert _unit(target) == "sum"
    assert _unit(target) is None
    assert _rows_and_marks(target) == (1, 1)
    with target.connect() as conn:
        progress = ledger.progress(conn, PLAN, "table", "t")
    assert (progress.chunks, progress.rows, progress.last_key, progress.checksums) == (1, 1, (1,), ("sum",))


def test_a_unit_run_twice_at_once_commits_once(target: sa.Engine) -> None:
    start = threading.Barrier(2)
    results: list[str | None] = []
    lock = threading.Lock()

    def run() -> None:
        start.wait()
        result = _unit(target, pause=0.5)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results, key=str) == [None, "sum"]
    assert _rows_and_marks(target) == (1, 1)


def test_the_claimer_killed_mid_unit_lets_the_waiter_commit(target: sa.Engine, tmp_path: Path) -> None:
    ready = tmp_path / f"{PLAN}.paused"
    env = {**os.environ, PAUSE_VARIABLE: f"{PLAN}/{UNIT}", READY_VARIABLE: str(tmp_path), "PYTHONPATH": str(ROOT)}
    url = target.url.render_as_string(hide_password=False)
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, PLAN, RUN, UNIT], env=env)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert child.poll() is None, "the claimer ended before its fault point"
            assert time.monotonic() < deadline, "the claimer never reached its fault point"
            time.sleep(0.05)
        results: list[str | None] = []
        waiter = threading.Thread(target=lambda: results.append(_unit(target)))
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive(), "the waiter must wait for the claim held by the paused process"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        waiter.join(timeout=60)
        assert not waiter.is_alive()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert results == ["sum"]  # the waiter's own row and mark: the killed claimer left nothing
    assert _rows_and_marks(target) == (1, 1)


def test_a_unit_of_an_older_run_is_refused_by_the_fence(target: sa.Engine) -> None:
    with target.begin() as conn:
        ledger.start_run(conn, PLAN, "run-b", "0" * 64, [], "fail")  # a restart: a new run
    with pytest.raises(ledger.FencedError, match=r"run-a refused.*run run-b"):
        _unit(target, run_id="run-a")
    assert _rows_and_marks(target) == (0, 0)
    assert _unit(target, run_id="run-b") == "sum"


def test_a_resume_taking_the_run_row_waits_for_the_unit_in_flight(target: sa.Engine) -> None:
    """The fence is held FOR SHARE to the unit's commit: a resume that takes the run row before it
    reads the ledger finds the unit's mark there, not a half-done unit it would run again."""
    in_unit = threading.Event()
    with target.connect() as unit_conn:

        def write() -> str:
            unit_conn.execute(sa.text("INSERT INTO t (id) VALUES (1)"))
            in_unit.set()
            time.sleep(1.0)
            return "sum"

        worker = threading.Thread(target=lambda: commit_once(unit_conn, PLAN, RUN, UNIT, 1, (1,), write))
        worker.start()
        assert in_unit.wait(30)
        with target.connect() as conn:
            started = time.monotonic()
            run = ledger.current_run(conn, PLAN, take=True)
            waited = time.monotonic() - started
            progress = ledger.progress(conn, PLAN, "table", "t")
            conn.commit()
        worker.join(timeout=60)
    assert run is not None and run.run_id == RUN
    assert waited > 0.5  # it waited for the unit's commit
    assert progress.chunks == 1


def test_a_client_taken_over_is_fenced_off(target: sa.Engine) -> None:
    """--executor dask: a client that takes the run over fences off the units of the one before it
    (stragglers of a killed client), though they belong to the same run."""
    with target.begin() as conn:
        first = ledger.take_over(conn, PLAN)
    with target.begin() as conn:
        second = ledger.take_over(conn, PLAN)
    assert first != second

    def unit(attempt: str) -> str | None:
        with target.connect() as conn:

            def write() -> str:
                conn.execute(sa.text("INSERT INTO t (id) VALUES (1)"))
                return "sum"

            return commit_once(conn, PLAN, RUN, UNIT, 1, (1,), write, attempt=attempt)

    with pytest.raises(ledger.FencedError, match="another client has taken the run over"):
        unit(first)
    assert _rows_and_marks(target) == (0, 0)
    assert unit(second) == "sum"
