"""A `--executor dask` run stopped short and run again, on one LocalCluster of 3 worker processes
shared by the module, PostgreSQL to PostgreSQL: the CLI (the Dask client) SIGKILLed while a worker
is inside a unit, and Ctrl-C. The test-only fault point (engine/fault_point.py) holds one unit of
each plan open for a few seconds, so that each stop lands mid-unit."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.fault_point import PAUSE_VARIABLE, READY_VARIABLE, SECONDS_VARIABLE
from tests.chinook_expected import assert_us_split
from tests.dask_clusters import (
    assert_each_unit_logged_once,
    databases,
    local_cluster,
    paused_pid,
    start_cli,
    worker_environment,
    workers_env,
    write_plan,
)

pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")

PLANS = {"killed": "chinook-us-pg-client-killed", "interrupted": "chinook-us-pg-interrupted"}


@pytest.fixture(scope="module")
def cluster(_chinook_pg_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ready = tmp_path_factory.mktemp("fault")
    faults = {
        PAUSE_VARIABLE: "chinook-us-pg-*/table:invoice_line:2",
        SECONDS_VARIABLE: "4",
        READY_VARIABLE: str(ready),
    }
    with (
        databases(_chinook_pg_template, PLANS) as urls,
        worker_environment(workers_env(urls, faults)),
        local_cluster(3) as cluster,
    ):
        yield {"address": cluster.scheduler_address, "urls": urls, "ready": ready}


def test_the_client_killed_mid_run_and_run_again(cluster: dict[str, Any], tmp_path: Path) -> None:
    plan = write_plan(tmp_path, PLANS["killed"], "killed")
    first = start_cli(plan, cluster["address"])
    paused_pid(first, cluster["ready"] / f"{PLANS['killed']}.paused")
    first.send_signal(signal.SIGKILL)  # the client: its snapshot ends, its unit in flight goes on
    first.wait(timeout=10)
    # It takes the run over: the straggler's unit commits first, then is fenced.
    _run_again_to_an_exact_finish(cluster, plan, tmp_path, "killed")


def test_ctrl_c_stops_the_units_between_chunks_with_exit_130(cluster: dict[str, Any], tmp_path: Path) -> None:
    plan = write_plan(tmp_path, PLANS["interrupted"], "interrupted")
    first = start_cli(plan, cluster["address"])
    paused_pid(first, cluster["ready"] / f"{PLANS['interrupted']}.paused")
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    _run_again_to_an_exact_finish(cluster, plan, tmp_path, "interrupted")


def _run_again_to_an_exact_finish(cluster: dict[str, Any], plan: Path, tmp_path: Path, which: str) -> None:
    """The same command again: it continues the run, verified, to the exact split, each unit logged once."""
    again = start_cli(plan, cluster["address"])
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "resumed-and-finished" and result["verification"]["ok"] is True
    assert_us_split(cluster["urls"]["source"], cluster["urls"][which], "snake")
    assert_each_unit_logged_once(tmp_path / "state", result, cluster["urls"][which], PLANS[which])
