"""`migrator run --executor dask --scheduler ADDRESS` when the scheduler dies mid-run, PostgreSQL to
PostgreSQL, on a cluster of processes of their own (`dask scheduler`, `dask worker`s), as on a real
cluster: the CLI fails at once with exit 1 and an error that names the scheduler (it neither hangs in
the client's reconnection nor prints a traceback), and the same command on a fresh cluster finishes
the run, exact, each unit logged once.

The test-only fault point pauses a worker inside a unit (rows written, not committed) until it is
killed, so that the scheduler dies while the run is certainly under way; the first cluster is then
SIGKILLed whole, as a lost node would be, before the fresh one starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from migrator.engine.fault_point import PAUSE_VARIABLE, READY_VARIABLE
from tests.chinook_expected import assert_us_split
from tests.dask_clusters import (
    assert_each_unit_logged_once,
    databases,
    paused_pid,
    process_cluster,
    start_cli,
    workers_env,
    write_plan,
)

pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")

PLAN = "chinook-us-pg-scheduler-killed"
EXIT_SECONDS = 30  # the CLI's exit once its scheduler is gone: at once, or it hangs


def test_the_scheduler_killed_mid_run_then_a_rerun_on_a_fresh_one(_chinook_pg_template: str, tmp_path: Path) -> None:
    ready = tmp_path / "fault"
    ready.mkdir()
    faults = {PAUSE_VARIABLE: f"{PLAN}/table:invoice_line:2", READY_VARIABLE: str(ready)}
    with databases(_chinook_pg_template, ["target"]) as urls:
        env = workers_env(urls, faults)
        plan, state = write_plan(tmp_path, PLAN, "target"), tmp_path / "state"
        with process_cluster(tmp_path / "first", env) as first:
            run = start_cli(plan, first.address, **env)
            try:
                paused = paused_pid(run, ready / f"{PLAN}.paused")
                assert os.getpgid(paused) in {worker.pid for worker in first.workers}  # a worker's process
                os.kill(first.scheduler.pid, signal.SIGKILL)
                try:
                    out, err = run.communicate(timeout=EXIT_SECONDS)
                except subprocess.TimeoutExpired:
                    pytest.fail(f"the CLI did not end within {EXIT_SECONDS} s of its scheduler's death")
            finally:
                if run.poll() is None:
                    run.kill()
                    run.communicate()
        assert run.returncode == 1, err
        assert out == ""
        assert err.lstrip().startswith("{") and "Traceback" not in err, f"not the error document alone: {err}"
        error = json.loads(err)
        assert error["error"] == "RunError", error
        assert f"lost the Dask scheduler {first.address}" in error["message"]
        assert "run the same command again" in error["message"]

        with process_cluster(tmp_path / "fresh", env) as fresh:
            again = start_cli(plan, fresh.address, **env)
            try:
                out, err = again.communicate(timeout=120)
            finally:
                if again.poll() is None:
                    again.kill()
                    again.communicate()
        assert again.returncode == 0, err
        result = json.loads(out)
        assert result["status"] == "resumed-and-finished" and result["verification"]["ok"] is True
        assert_us_split(urls["source"], urls["target"], "snake")
        assert_each_unit_logged_once(state, result, urls["target"], PLAN)


def test_distributed_speaks_only_its_warnings_while_the_run_holds_a_remote_scheduler(tmp_path: Path) -> None:
    """distributed logs to stderr at INFO: a scheduler lost while the client sends to it is "Batched
    Comm Closed" with a traceback, printed before the CLI's error document. While the run's client is
    open its INFO does not pass and its warnings do; after it, the levels are as they were."""
    import logging

    from migrator.engine.executors.dask import _client
    from migrator.engine.executors.options import DaskOptions

    heard: list[logging.LogRecord] = []

    class Ear(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            heard.append(record)

    ear, root = Ear(), logging.getLogger("distributed")
    root.addHandler(ear)
    before = root.level
    root.setLevel(logging.INFO)  # distributed's own default; another test's LocalCluster may raise it
    try:
        with process_cluster(tmp_path / "cluster", {}, workers=1) as cluster:
            with _client(DaskOptions(scheduler=cluster.address), 1):
                batched = logging.getLogger("distributed.batched")
                batched.info("Batched Comm Closed (from the test)")
                batched.warning("a warning (from the test)")
            assert root.level == logging.INFO
        assert [record.getMessage() for record in heard if "(from the test)" in record.getMessage()] == [
            "a warning (from the test)"
        ]
    finally:
        root.removeHandler(ear)
        root.setLevel(before)
