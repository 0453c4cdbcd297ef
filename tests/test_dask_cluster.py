"""`migrator run --executor dask --scheduler ADDRESS` against one LocalCluster of 3 worker processes,
shared by the module (a cluster's start is most of a test's time), PostgreSQL to PostgreSQL.

The workers resolve the plan's ${VAR}s from their own environment, so the module's databases and the
test-only fault point are set in the environment before the cluster starts:

* a secret (the password of the source URL, given as ${VAR}) reaches neither the scheduler's tasks,
  nor the CLI's output, nor the audit trail;
* a worker SIGKILLed with a unit's rows written but not committed (the fault point pauses it there):
  the run finishes exact, every unit logged once, and the nanny restarts the worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.fault_point import PAUSE_VARIABLE, READY_VARIABLE
from tests.chinook_expected import assert_us_split
from tests.conftest import PG_URL, _pg_create, _pg_drop, unique_database_name

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")

ROOT = Path(__file__).resolve().parent.parent
PLAN = (Path(__file__).parent / "plans" / "chinook_us_pg.yaml").read_text()
SECRET = "Sw0rdfish-not-in-any-task"
KILLED_PLAN = "chinook-us-pg-killed"


class TaskSpecs(distributed.diagnostics.plugin.SchedulerPlugin):  # type: ignore[misc]
    """Every task's specification as the scheduler holds it, pickled, as it starts processing."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.specs: list[bytes] = []

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        task = self.scheduler.tasks.get(key)
        if finish == "processing" and task is not None:
            self.specs.append(distributed.protocol.pickle.dumps(task.run_spec) + repr(task.run_spec).encode())


@dataclass
class Cluster:
    address: str
    cluster: Any
    specs: TaskSpecs
    source: str  # without the password the workers' SOURCE_URL carries
    targets: dict[str, str]
    ready: Path  # the fault point's file


@pytest.fixture(scope="module")
def cluster(_chinook_pg_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    names = {role: unique_database_name(f"migrator_dask_{role}") for role in ("source", "secret", "killed")}
    _pg_create(names["source"], template=_chinook_pg_template)
    for role in ("secret", "killed"):
        _pg_create(names[role])
    urls = {role: PG_URL.format(name=name) for role, name in names.items()}
    ready = tmp_path_factory.mktemp("fault")
    env = {
        # The server trusts 127.0.0.1: the password is ignored there, but travels wherever the URL does.
        "DASK_SOURCE_URL": urls["source"].replace("postgres@", f"postgres:{SECRET}@"),
        "DASK_TARGET_SECRET": urls["secret"],
        "DASK_TARGET_KILLED": urls["killed"],
        PAUSE_VARIABLE: f"{KILLED_PLAN}/table:invoice_line:2",
        READY_VARIABLE: str(ready),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the workers' environment, inherited when the cluster starts them
    try:
        cluster = distributed.LocalCluster(
            n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
        )
        specs = TaskSpecs(cluster.scheduler)
        cluster.scheduler.add_plugin(specs)
        try:
            yield Cluster(
                cluster.scheduler_address, cluster, specs, urls["source"], urls, ready / f"{KILLED_PLAN}.paused"
            )
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


def _plan(folder: Path, name: str, target_variable: str) -> Path:
    text = PLAN.replace("name: chinook-us-pg", f"name: {name}").replace("${SOURCE_URL}", "${DASK_SOURCE_URL}")
    text = text.replace('"${STATE_DIR}"', json.dumps(str(folder / "state")))  # the client's folder, literally
    path = folder / f"{name}.yaml"
    path.write_text(text.replace("${TARGET_URL}", "${" + target_variable + "}"))
    return path


def _cli(plan: Path, cluster: Cluster, state: Path) -> list[str]:
    return [sys.executable, "-m", "migrator", "run", str(plan), "--format", "json", "--executor", "dask",
            "--scheduler", cluster.address]  # fmt: skip


def _cli_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (PAUSE_VARIABLE, READY_VARIABLE)}
    return {**env, "STATE_DIR": str(state)}


def _trail(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in state.rglob("*.jsonl") for line in path.read_text().splitlines()]


def test_no_secret_in_the_scheduler_s_tasks_the_output_or_the_trail(cluster: Cluster, tmp_path: Path) -> None:
    plan, state = _plan(tmp_path, "chinook-us-pg-secret", "DASK_TARGET_SECRET"), tmp_path / "state"
    cluster.specs.specs.clear()
    done = subprocess.run(_cli(plan, cluster, state), env=_cli_env(state), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verification"]["ok"] is True
    assert_us_split(cluster.source, cluster.targets["secret"], "snake")
    units = [spec for spec in cluster.specs.specs if b"migrator-" in spec or b"TableTask" in spec]
    assert units, "the plugin saw the run's tasks"
    assert any(b"${DASK_SOURCE_URL}" in spec for spec in units)  # the plan travels unresolved
    for spec in cluster.specs.specs:
        assert SECRET.encode() not in spec
    assert SECRET not in done.stdout + done.stderr
    assert SECRET not in "".join(p.read_text() for p in state.rglob("*") if p.is_file())


def test_a_worker_killed_with_rows_written_not_committed(cluster: Cluster, tmp_path: Path) -> None:
    plan, state = _plan(tmp_path, KILLED_PLAN, "DASK_TARGET_KILLED"), tmp_path / "state"
    client = distributed.Client(cluster.address)
    try:
        before = set(client.run(os.getpid).values())
        run = subprocess.Popen(
            _cli(plan, cluster, state), env=_cli_env(state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while not (cluster.ready.exists() and cluster.ready.read_text().strip()):
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "no worker reached the fault point"
            time.sleep(0.05)
        paused = int(cluster.ready.read_text())
        assert paused in before
        os.kill(paused, signal.SIGKILL)  # its claim and its rows die with its connection
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        result = json.loads(out)
        assert result["status"] == "finished" and result["verification"]["ok"] is True
        assert_us_split(cluster.source, cluster.targets["killed"], "snake")
        done = [(e["table"], e["chunk"]) for e in _trail(state) if e.get("event") == "unit done"]
        assert len(done) == len(set(done)) == sum(t["chunks"] for t in result["tables"])
        deadline = time.monotonic() + 60
        while len(client.scheduler_info()["workers"]) < 3:  # the nanny starts a new worker process
            assert time.monotonic() < deadline, "the killed worker was not restarted"
            time.sleep(0.2)
        after = set(client.run(os.getpid).values())
        assert paused not in after and len(after) == 3
    finally:
        client.close()
