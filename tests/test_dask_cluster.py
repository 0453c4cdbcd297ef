"""`migrator run --executor dask --scheduler ADDRESS` against one LocalCluster of 3 worker processes,
shared by the module (a cluster's start is most of a test's time), PostgreSQL to PostgreSQL.

The workers resolve the plan's ${VAR}s from their own environment, so the module's databases and the
test-only fault point are set in the environment before the cluster starts:

* a secret (the password of the source URL, given as ${VAR}) reaches neither the scheduler's tasks,
  nor the CLI's output, nor the audit trail;
* a worker SIGKILLed with a unit's rows written but not committed (the fault point pauses it there):
  the run finishes exact, every unit logged once, and the nanny restarts the worker;
* a worker SIGKILLed after its task committed and before the client gathered its result (the other
  fault point pauses it there): Dask runs the task again on another worker, that run is a skip, and
  the client logs the committed units from the ledger, each once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from migrator.engine.fault_point import COMMITTED_VARIABLE, PAUSE_VARIABLE, READY_VARIABLE
from tests.chinook_expected import CATALOG_TABLES, assert_us_split
from tests.dask_clusters import (
    assert_each_unit_logged_once,
    cli_command,
    cli_env,
    databases,
    ledger_units,
    local_cluster,
    paused_pid,
    start_cli,
    trail,
    worker_environment,
    workers_env,
    write_plan,
)

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")

SECRET = "Sw0rdfish-not-in-any-task"
KILLED_PLAN = "chinook-us-pg-killed"
GATHERED_PLAN = "chinook-us-pg-gathered"
CHINOOK_TABLES = (*CATALOG_TABLES, "employee", "customer", "invoice", "invoice_line")


class TaskSpecs(distributed.diagnostics.plugin.SchedulerPlugin):  # type: ignore[misc]
    """Every task's specification as the scheduler holds it, pickled, as it starts processing, and
    the worker it was sent to each time."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.specs: list[bytes] = []
        self.sent: list[tuple[str, str]] = []  # (task key, worker address)

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        task = self.scheduler.tasks.get(key)
        if finish == "processing" and task is not None:
            self.specs.append(distributed.protocol.pickle.dumps(task.run_spec) + repr(task.run_spec).encode())
            self.sent.append((str(key), task.processing_on.address))


@dataclass
class Cluster:
    address: str
    cluster: Any
    specs: TaskSpecs
    source: str  # without the password the workers' source URL carries
    targets: dict[str, str]
    ready: Path  # the fault points' folder


@pytest.fixture(scope="module")
def cluster(_chinook_pg_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    ready = tmp_path_factory.mktemp("fault")
    faults = {
        PAUSE_VARIABLE: f"{KILLED_PLAN}/table:invoice_line:2",
        # The task (or tasks: a key range's) of invoice_line that commits first.
        COMMITTED_VARIABLE: f"{GATHERED_PLAN}/table:invoice_line*",
        READY_VARIABLE: str(ready),
    }
    with databases(_chinook_pg_template, ("secret", "killed", "gathered")) as urls:
        # The server trusts 127.0.0.1: the password is ignored there, but travels wherever the URL does.
        source = urls["source"].replace("postgres@", f"postgres:{SECRET}@")
        with worker_environment(workers_env(urls, faults, source)), local_cluster(3) as cluster:
            specs = TaskSpecs(cluster.scheduler)
            cluster.scheduler.add_plugin(specs)
            yield Cluster(cluster.scheduler_address, cluster, specs, urls["source"], urls, ready)


def test_no_secret_in_the_scheduler_s_tasks_the_output_or_the_trail(cluster: Cluster, tmp_path: Path) -> None:
    plan, state = write_plan(tmp_path, "chinook-us-pg-secret", "secret"), tmp_path / "state"
    cluster.specs.specs.clear()
    command = cli_command(plan, cluster.address)
    done = subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=120)
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
    plan, state = write_plan(tmp_path, KILLED_PLAN, "killed"), tmp_path / "state"
    client = distributed.Client(cluster.address)
    try:
        before = set(client.run(os.getpid).values())
        run = subprocess.Popen(
            cli_command(plan, cluster.address), env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        paused = paused_pid(run, cluster.ready / f"{KILLED_PLAN}.paused")
        assert paused in before
        os.kill(paused, signal.SIGKILL)  # its claim and its rows die with its connection
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        result = json.loads(out)
        assert result["status"] == "finished" and result["verification"]["ok"] is True
        assert_us_split(cluster.source, cluster.targets["killed"], "snake")
        assert_each_unit_logged_once(state, result, cluster.targets["killed"], KILLED_PLAN)
        deadline = time.monotonic() + 60
        while len(client.scheduler_info()["workers"]) < 3:  # the nanny starts a new worker process
            assert time.monotonic() < deadline, "the killed worker was not restarted"
            time.sleep(0.2)
        after = set(client.run(os.getpid).values())
        assert paused not in after and len(after) == 3
    finally:
        client.close()


def test_a_worker_killed_after_its_task_committed_before_its_result_was_gathered(
    cluster: Cluster, tmp_path: Path
) -> None:
    plan, state, target = (
        write_plan(tmp_path, GATHERED_PLAN, "gathered"),
        tmp_path / "state",
        cluster.targets["gathered"],
    )
    client = distributed.Client(cluster.address)
    try:
        addresses = {pid: address for address, pid in client.run(os.getpid).items()}
        cluster.specs.sent.clear()
        run = start_cli(plan, cluster.address)
        try:
            paused = paused_pid(run, cluster.ready / f"{GATHERED_PLAN}.committed")
            # Every unit committed by now: the paused task's, and any whose result the killed worker
            # still held, ungathered (a Dask result lives on its worker until the client takes it).
            committed = ledger_units(target, GATHERED_PLAN, CHINOOK_TABLES)
            os.kill(paused, signal.SIGKILL)  # its result, and the "unit done" events in it, die with it
            out, err = run.communicate(timeout=120)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    finally:
        client.close()
    assert run.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "finished" and result["verification"]["ok"] is True
    assert_us_split(cluster.source, target, "snake")
    # Dask ran the killed worker's task (invoice_line's, the one the fault point held) again, on
    # another worker. Which worker it was first sent to says nothing: work stealing may have moved it
    # to the killed one, and a steal is no "processing" transition of the plugin's.
    assert paused in addresses, f"the paused process {paused} is none of the workers {addresses}"
    killed = addresses[paused]
    held = [worker for key, worker in cluster.specs.sent if "-invoice_line-" in key]
    assert len(held) >= 2 and held[-1] != killed, (
        f"invoice_line's task was not run again after {killed} was killed: {cluster.specs.sent}"
    )
    # That run was a skip: the units the killed worker committed were not committed again (they would
    # be logged from its result, twice with the ledger's) but logged once, by the client, from their
    # marks.
    assert_each_unit_logged_once(state, result, target, GATHERED_PLAN)
    from_ledger = {
        (e["table"], e["chunk"]) for e in trail(state) if e.get("event") == "unit done" and e.get("from_ledger")
    }
    assert from_ledger, "the client logged no unit from the ledger: the killed worker's result came back?"
    assert from_ledger <= committed, (
        f"logged from the ledger, but not committed before the kill: {from_ledger - committed}"
    )
