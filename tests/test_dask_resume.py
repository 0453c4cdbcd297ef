"""A `--executor dask` run stopped short and run again, on one LocalCluster of 3 worker processes
shared by the module, PostgreSQL to PostgreSQL: the CLI (the Dask client) SIGKILLed while a worker
is inside a unit, and Ctrl-C. The test-only fault point (engine/fault_point.py) holds one unit of
each plan open for a few seconds, so that each stop lands mid-unit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.fault_point import PAUSE_VARIABLE, READY_VARIABLE, SECONDS_VARIABLE
from tests.chinook_expected import assert_us_split
from tests.conftest import PG_URL, _pg_create, _pg_drop, unique_database_name

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")

ROOT = Path(__file__).resolve().parent.parent
PLAN = (Path(__file__).parent / "plans" / "chinook_us_pg.yaml").read_text()
PLANS = {"killed": "chinook-us-pg-client-killed", "interrupted": "chinook-us-pg-interrupted"}


@pytest.fixture(scope="module")
def cluster(_chinook_pg_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    names = {role: unique_database_name(f"migrator_dask_{role}") for role in ("source", *PLANS)}
    _pg_create(names["source"], template=_chinook_pg_template)
    for role in PLANS:
        _pg_create(names[role])
    urls = {role: PG_URL.format(name=name) for role, name in names.items()}
    ready = tmp_path_factory.mktemp("fault")
    env = {
        "DASK_SOURCE_URL": urls["source"],
        **{f"DASK_TARGET_{role.upper()}": urls[role] for role in PLANS},
        PAUSE_VARIABLE: "chinook-us-pg-*/table:invoice_line:2",
        SECONDS_VARIABLE: "4",
        READY_VARIABLE: str(ready),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the workers' environment, inherited when the cluster starts them
    try:
        cluster = distributed.LocalCluster(
            n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
        )
        try:
            yield {"address": cluster.scheduler_address, "urls": urls, "ready": ready}
        finally:
            cluster.close()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for name in names.values():
            _pg_drop(name)


def _plan(folder: Path, role: str) -> Path:
    text = PLAN.replace("name: chinook-us-pg", f"name: {PLANS[role]}").replace("${SOURCE_URL}", "${DASK_SOURCE_URL}")
    text = text.replace('"${STATE_DIR}"', json.dumps(str(folder / "state")))
    path = folder / f"{role}.yaml"
    path.write_text(text.replace("${TARGET_URL}", "${DASK_TARGET_" + role.upper() + "}"))
    return path


def _start(plan: Path, cluster: dict[str, Any]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in (PAUSE_VARIABLE, READY_VARIABLE, SECONDS_VARIABLE)}
    command = [sys.executable, "-m", "migrator", "run", str(plan), "--format", "json",
               "--executor", "dask", "--scheduler", cluster["address"]]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _paused(run: subprocess.Popen[str], ready: Path) -> None:
    deadline = time.monotonic() + 60
    while not (ready.exists() and ready.read_text().strip()):
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "no worker reached the fault point"
        time.sleep(0.05)


def _units_logged_once(state: Path, result: dict[str, Any]) -> None:
    lines = [json.loads(line) for path in state.rglob("*.jsonl") for line in path.read_text().splitlines()]
    done = [(e["table"], e["chunk"]) for e in lines if e.get("event") == "unit done" and e["run"] == result["run_id"]]
    assert len(done) == len(set(done)) == sum(t["chunks"] for t in result["tables"])


def test_the_client_killed_mid_run_and_run_again(cluster: dict[str, Any], tmp_path: Path) -> None:
    plan = _plan(tmp_path, "killed")
    first = _start(plan, cluster)
    _paused(first, cluster["ready"] / f"{PLANS['killed']}.paused")
    first.send_signal(signal.SIGKILL)  # the client: its snapshot ends, its unit in flight goes on
    first.wait(timeout=10)
    again = _start(plan, cluster)  # takes the run over: the straggler's unit commits first, then is fenced
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "resumed-and-finished" and result["verification"]["ok"] is True
    assert_us_split(cluster["urls"]["source"], cluster["urls"]["killed"], "snake")
    _units_logged_once(tmp_path / "state", result)


def test_ctrl_c_stops_the_units_between_chunks_with_exit_130(cluster: dict[str, Any], tmp_path: Path) -> None:
    plan = _plan(tmp_path, "interrupted")
    first = _start(plan, cluster)
    _paused(first, cluster["ready"] / f"{PLANS['interrupted']}.paused")
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    again = _start(plan, cluster)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "resumed-and-finished" and result["verification"]["ok"] is True
    assert_us_split(cluster["urls"]["source"], cluster["urls"]["interrupted"], "snake")
    _units_logged_once(tmp_path / "state", result)
