"""What the `--executor dask` tests that run the CLI against a cluster of their own share.

A Dask worker resolves the plan's ${VAR}s (and reads the test-only fault points) from its own
environment, so a module sets its databases' URLs and its fault points in the environment before it
starts its cluster (`worker_environment`), and the CLI it runs gets that environment without the
fault points (`cli_env`): only the workers pause. Every database made here is dropped afterwards
(`databases`), and the audit trail is checked against the target's ledger rather than against a
number of units, so that the tests hold whatever a unit is (a table, a key range of one).

Two kinds of cluster: `local_cluster`, a LocalCluster whose scheduler lives in the test's process,
and `process_cluster`, a `dask scheduler` and `dask worker`s each a process of its own, for the
tests that kill the scheduler.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from migrator.engine.fault_point import COMMITTED_VARIABLE, PAUSE_VARIABLE, READY_VARIABLE, SECONDS_VARIABLE
from migrator.stores.sql import ledger
from tests.conftest import PG_URL, _pg_create, _pg_drop, unique_database_name

ROOT = Path(__file__).resolve().parent.parent
PLAN = (Path(__file__).parent / "plans" / "chinook_us_pg.yaml").read_text()
FAULT_VARIABLES = (PAUSE_VARIABLE, COMMITTED_VARIABLE, READY_VARIABLE, SECONDS_VARIABLE)
SOURCE_VARIABLE = "DASK_SOURCE_URL"


@contextmanager
def databases(template: str, targets: Iterable[str]) -> Iterator[dict[str, str]]:
    """URLs by role: "source", a clone of the Chinook template, and one empty database per target
    role; all dropped on the way out."""
    names = {"source": unique_database_name("migrator_dask_source")}
    names.update({role: unique_database_name(f"migrator_dask_{role}") for role in targets})
    try:
        _pg_create(names["source"], template=template)
        for role, name in names.items():
            if role != "source":
                _pg_create(name)
        yield {role: PG_URL.format(name=name) for role, name in names.items()}
    finally:
        for name in names.values():
            _pg_drop(name)


def target_variable(role: str) -> str:
    return f"DASK_TARGET_{role.upper()}"


def workers_env(urls: Mapping[str, str], faults: Mapping[str, str], source: str | None = None) -> dict[str, str]:
    """What the workers need: the source (`source`, or urls["source"]), a variable per target role,
    the fault points, and this working tree on PYTHONPATH."""
    return {
        SOURCE_VARIABLE: source or urls["source"],
        **{target_variable(role): url for role, url in urls.items() if role != "source"},
        **faults,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }


@contextmanager
def local_cluster(workers: int = 3) -> Iterator[Any]:
    """A LocalCluster of `workers` processes (one thread each, a nanny each), started with this
    process's environment: set the workers' one first (`worker_environment`)."""
    import distributed  # the tests that use it skip without it (pytest.importorskip)

    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        # The scheduler serves HTTP (health, metrics) even without a dashboard, on 8787 unless told:
        # a port of its own, or another cluster on this host makes its start warn (an error here).
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=50,
    )
    try:
        yield cluster
    finally:
        cluster.close()


@contextmanager
def worker_environment(env: Mapping[str, str]) -> Iterator[None]:
    """`env` in this process's environment, which the cluster's processes inherit when they start;
    the environment as it was on the way out."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def write_plan(folder: Path, name: str, role: str) -> Path:
    """The Chinook US plan named `name`, its target the role's variable, its state in folder/state."""
    text = PLAN.replace("name: chinook-us-pg", f"name: {name}").replace("${SOURCE_URL}", "${" + SOURCE_VARIABLE + "}")
    text = text.replace('"${STATE_DIR}"', json.dumps(str(folder / "state")))  # the client's folder, literally
    path = folder / f"{name}.yaml"
    path.write_text(text.replace("${TARGET_URL}", "${" + target_variable(role) + "}"))
    return path


def cli_command(plan: Path, scheduler: str) -> list[str]:
    return [sys.executable, "-m", "migrator", "run", str(plan), "--format", "json", "--executor", "dask",
            "--scheduler", scheduler]  # fmt: skip


def cli_env(**extra: str) -> dict[str, str]:
    """The CLI's environment: the workers' one (this process's, and `extra`) without the fault points:
    the client never pauses."""
    return {k: v for k, v in {**os.environ, **extra}.items() if k not in FAULT_VARIABLES}


def start_cli(plan: Path, scheduler: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_command(plan, scheduler), env=cli_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def paused_pid(run: subprocess.Popen[str], ready: Path, timeout: float = 60) -> int:
    """The id of the process the fault point paused (it writes it to `ready`), waited for while the
    run goes on; fails at once if the run ends first."""
    deadline = time.monotonic() + timeout
    while not (ready.exists() and ready.read_text().endswith("\n")):
        if run.poll() is not None:
            out, err = run.communicate()
            raise AssertionError(f"the run ended ({run.returncode}) before a worker reached {ready.name}: {err}{out}")
        assert time.monotonic() < deadline, f"no worker reached the fault point {ready.name} in {timeout} s"
        time.sleep(0.05)
    return int(ready.read_text())


def trail(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in state.rglob("*.jsonl") for line in path.read_text().splitlines()]


def units_done(state: Path, run_id: str) -> list[tuple[str, int]]:
    """Every "unit done" of the run in the audit trail, as (table, chunk), duplicates kept."""
    return [(e["table"], e["chunk"]) for e in trail(state) if e.get("event") == "unit done" and e["run"] == run_id]


def ledger_units(target: str, plan: str, tables: Iterable[str]) -> set[tuple[str, int]]:
    """The tables' units the target's ledger (_migrator_units) holds as committed, as (table, chunk)."""
    engine = create_engine(target)
    try:
        with engine.connect() as conn:
            return {(name, mark.chunk) for name in tables for mark in ledger.unit_marks(conn, plan, "table", name)}
    finally:
        engine.dispose()


def assert_each_unit_logged_once(state: Path, result: dict[str, Any], target: str, plan: str) -> list[tuple[str, int]]:
    """The audit trail holds exactly one "unit done" per unit the ledger has committed, and no other;
    the run's "unit done" events returned."""
    done = units_done(state, result["run_id"])
    twice = sorted({unit for unit in done if done.count(unit) > 1})
    assert not twice, f"units logged more than once in the audit trail: {twice}"
    committed = ledger_units(target, plan, [t["table"] for t in result["tables"]])
    assert committed, "the ledger holds the run's units"
    assert set(done) == committed, (
        f"trail and ledger differ: only logged {sorted(set(done) - committed)}, "
        f"only committed {sorted(committed - set(done))}"
    )
    return done


@dataclass
class ProcessCluster:
    """A scheduler and workers, each a process (and process group) of its own, as on a real cluster."""

    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]


@contextmanager
def process_cluster(
    folder: Path, env: Mapping[str, str], workers: int = 2, timeout: float = 60
) -> Iterator[ProcessCluster]:
    """`dask scheduler` on a port the OS picks (its address read from its scheduler file) and
    `workers` `dask worker`s (one process, one thread, and a nanny each) with `env` added to this
    process's environment; every process group SIGKILLed on the way out. Their logs: folder/*.log."""
    import distributed  # the tests that use it skip without it (pytest.importorskip)

    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        with (folder / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", *args],
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own: the nanny's worker goes with it
            )
        started.append(process)
        return process

    try:
        scheduler = start(
            "scheduler", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
            "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file),
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not scheduler_file.exists() or not scheduler_file.read_text().strip().endswith("}"):
            assert scheduler.poll() is None, f"the scheduler ended: {(folder / 'scheduler.log').read_text()}"
            assert time.monotonic() < deadline, f"the scheduler wrote no {scheduler_file.name} in {timeout} s"
            time.sleep(0.05)
        address = json.loads(scheduler_file.read_text())["address"]
        worker = ["distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1"]
        pool = [start(f"worker-{i}", *worker, "--no-dashboard", "--name", f"worker-{i}") for i in range(workers)]
        with distributed.Client(address, timeout=timeout) as client:
            client.wait_for_workers(workers, timeout=timeout)
        yield ProcessCluster(address, scheduler, pool)
    finally:
        for process in started:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
