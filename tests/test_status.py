"""`migrator status`: a plan's runs and their progress, read while ANOTHER process runs the plan.

The runs here are real `migrator` processes on the demo database. One is `python -m migrator run`
itself, on a plan of one-row chunks (about two thousand units), polled with `status --format json`
until it ends. The others are held still at chosen units by a gate in the run's progress observer
(the engine's own hook for progress; the engine has no sleeps of its own), so that what status says
at that instant can be asserted exactly: the units done, the ETA, a retry met on a locked target.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from rich.console import Console

from migrator.engine.fault_point import PAUSE_VARIABLE, READY_VARIABLE, SECONDS_VARIABLE
from migrator.engine.status import StatusReader, plan_status
from migrator.plan.load import load_plan
from migrator.report.status_text import render_status, watch
from tests.conftest import CliRunner

REPO = Path(__file__).resolve().parent.parent
WAIT = 60.0  # seconds: generous for a loaded machine; a passing test waits far less
PAUSE_SECONDS = 3.0  # the real run's pause at one chunk, while status is asked

PLAN = """\
version: 1
name: {name}
source:
  database: sqlite:///{source}
target:
  database: {target}
  existing: fail
state: state-{name}
data:
  chunk_rows: {chunk_rows}
  roots:
    users: "region_id = (SELECT id FROM regions WHERE code = 'US')"
  tables:
    regions: all
    audit_events: skip
"""

# A run of the plan in a process of its own, whose progress observer stops after the chunks listed in
# argv[3] (a JSON list of counts) until the test writes the file `go-N`. It says where it waits with
# the file `paused-N`, written after the chunk's commit and its audit line.
GATED_RUN = """
import json, sys, time
from pathlib import Path
from migrator.engine.observer import Silent
from migrator.engine.run import run_plan
from migrator.plan.load import load_plan

gates, pause_at = Path(sys.argv[2]), set(json.loads(sys.argv[3]))

class Gated(Silent):
    chunks = 0

    def rows_copied(self, table, rows):
        Gated.chunks += 1
        if Gated.chunks in pause_at:
            (gates / f"paused-{Gated.chunks}").touch()
            deadline = time.monotonic() + 60
            while not (gates / f"go-{Gated.chunks}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)

result = run_plan(load_plan(sys.argv[1]), observer=Gated(), verify=False)
print(json.dumps({"status": result.status, "retries": result.retries}))
"""


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    subprocess.run(
        [sys.executable, "-m", "migrator.demo.generate", str(folder)],
        env=_env(),
        check=True,
        capture_output=True,
    )
    return folder / "source" / "global.db"


def _env(**more: str) -> dict[str, str]:
    env = {**os.environ, **more}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _plan(tmp_path: Path, source: Path, *, name: str = "status-demo", chunk_rows: int = 20, target: str = "") -> Path:
    file = tmp_path / f"{name}.yaml"
    target = target or f"sqlite:///{tmp_path / (name + '-target.db')}"
    file.write_text(PLAN.format(name=name, source=source, target=target, chunk_rows=chunk_rows), encoding="utf-8")
    return file


class GatedRun:
    """The gated child process: `wait_paused(n)` until it stands after chunk n, `go(n)` to release it."""

    def __init__(self, plan: Path, gates: Path, pause_at: list[int], env: dict[str, str]):
        gates.mkdir(exist_ok=True)
        self.gates = gates
        self.process = subprocess.Popen(
            [sys.executable, "-c", GATED_RUN, str(plan), str(gates), json.dumps(pause_at)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_paused(self, chunk: int) -> None:
        deadline = time.monotonic() + WAIT
        while not (self.gates / f"paused-{chunk}").exists():
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, f"the run never reached chunk {chunk}"
            time.sleep(0.02)

    def go(self, chunk: int) -> None:
        (self.gates / f"go-{chunk}").touch()

    def finish(self) -> dict[str, Any]:
        out, err = self.process.communicate(timeout=WAIT)
        assert self.process.returncode == 0, err
        return dict(json.loads(out))


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[list[GatedRun]]:
    runs: list[GatedRun] = []
    yield runs
    for run in runs:  # a failed assertion must not leave a child waiting at its gate
        if run.process.poll() is None:
            run.process.kill()
            run.process.communicate()


def _status_json(run_cli: CliRunner, plan: Path, *more: str) -> dict[str, Any]:
    done = run_cli("status", plan, "--format", "json", *more)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _part(run: dict[str, Any], name: str) -> dict[str, Any]:
    return next(part for part in run["parts"] if part["part"] == name)


def test_a_real_run_polled_from_another_process(
    tmp_path: Path, demo_source: Path, run_cli: CliRunner, pg_database: str
) -> None:
    """`python -m migrator run` copies four-row chunks into PostgreSQL while `status --format json`
    is polled from another process. The run holds still at one chunk for a few seconds (the test-only
    fault point, before that chunk's commit), so that status sees it running whatever the machine's
    speed; it goes on by itself."""
    plan = _plan(tmp_path, demo_source, chunk_rows=4, target=pg_database)
    env = {
        **_env(),
        PAUSE_VARIABLE: "status-demo/table:*:30",
        READY_VARIABLE: str(tmp_path),
        SECONDS_VARIABLE: str(PAUSE_SECONDS),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "migrator", "run", str(plan), "--format", "json", "--no-verify"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    paused = tmp_path / "status-demo.paused"
    seen: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + WAIT
        while not paused.exists():
            assert child.poll() is None and time.monotonic() < deadline, "the run never reached its pause"
            time.sleep(0.02)
        status = _status_json(run_cli, plan)  # within the pause: the run stands at chunk 30 of a table
        assert status["runs"] and status["runs"][-1]["state"] == "running", status
        seen.append(status["runs"][-1])
        while child.poll() is None:
            status = _status_json(run_cli, plan)
            if status["runs"] and status["runs"][-1]["state"] == "running":
                seen.append(status["runs"][-1])
    finally:
        out, err = child.communicate(timeout=WAIT)
    assert child.returncode == 0, err
    during = [_part(run, "tables") for run in seen]
    # The planned chunks are counted on the source: ceil(rows / chunk_rows) per table, as the run copies them.
    copied = json.loads(out)
    planned = sum(table["chunks"] for table in copied["tables"])
    assert {part["units_planned"] for part in during} == {planned}
    assert 30 <= during[0]["units_done"] < planned  # the ledger's committed chunks, mid-run
    assert any(run["eta_seconds"] is not None and run["units_per_second"] > 0 for run in seen)
    after = _status_json(run_cli, plan)
    assert after["in_progress"] is False
    (run,) = after["runs"]
    assert run["state"] == "finished" and run["run_id"] == copied["run_id"]
    tables = _part(run, "tables")
    assert tables["units_done"] == tables["units_planned"] == planned
    assert tables["units_done"] > during[0]["units_done"]  # the units grew as the run went on
    assert tables["units_pending"] == 0
    assert tables["rows"] == sum(table["rows"] for table in copied["tables"])


def test_units_done_pending_and_eta_at_a_known_instant(
    tmp_path: Path, demo_source: Path, run_cli: CliRunner, gated: list[GatedRun]
) -> None:
    plan = _plan(tmp_path, demo_source, chunk_rows=20)
    run = GatedRun(plan, tmp_path / "gates", [5, 40], _env())
    gated.append(run)
    run.wait_paused(5)
    first = _status_json(run_cli, plan)
    assert first["format"] == "migrator.status/1" and first["in_progress"] is True
    assert first["ledger"]["reachable"] is True
    (running,) = first["runs"]
    tables = _part(running, "tables")
    assert running["state"] == "running" and tables["state"] == "running"
    assert tables["units_done"] == 5  # the ledger's committed chunks, exactly
    assert tables["units_planned"] > 40
    assert tables["units_pending"] == tables["units_planned"] - 5
    assert running["eta_seconds"] is not None and running["eta_seconds"] > 0
    assert 0 <= running["quiet_seconds"] < WAIT
    by_table = {unit["name"]: unit for unit in tables["units"]}
    assert sum(unit["units_done"] for unit in by_table.values()) == 5
    assert {unit["state"] for unit in by_table.values()} >= {"pending"}  # tables not started yet
    run.go(5)
    run.wait_paused(40)
    second = _part(_status_json(run_cli, plan)["runs"][-1], "tables")
    assert second["units_done"] == 40 and second["rows"] > tables["rows"]
    assert second["units_planned"] == tables["units_planned"]
    run.go(40)
    assert run.finish()["status"] == "finished"
    done = _part(_status_json(run_cli, plan)["runs"][-1], "tables")
    assert done["state"] == "done" and done["units_done"] == done["units_planned"]


def test_a_retry_and_its_error_from_the_audit_trail(
    tmp_path: Path, demo_source: Path, run_cli: CliRunner, gated: list[GatedRun], pg_database: str
) -> None:
    """The target's ledger locked by someone else: the run's next chunk times out waiting for the lock,
    the attempt is retried, and status shows the retry and its error while the run goes on."""
    plan = _plan(tmp_path, demo_source, chunk_rows=100, target=pg_database)
    run = GatedRun(plan, tmp_path / "gates", [2], _env(MIGRATOR_LOCK_TIMEOUT="0.2"))
    gated.append(run)
    run.wait_paused(2)
    dsn = pg_database.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as lock:
        lock.execute("LOCK TABLE _migrator_units IN ACCESS EXCLUSIVE MODE")  # no chunk can be marked done
        run.go(2)
        deadline = time.monotonic() + WAIT
        while not (status := _status_json(run_cli, plan, "--no-count"))["runs"][-1]["retries"]:
            assert time.monotonic() < deadline, "no retry was recorded"
            time.sleep(0.1)
        lock.rollback()
    retry = status["runs"][-1]["retries"][0]
    assert "lock" in retry["error"] and retry["attempt"] == 1
    # The lock may have made a second attempt wait too before it was released: the last error is the last retry's.
    assert status["runs"][-1]["last_error"] == status["runs"][-1]["retries"][-1]["error"]
    assert status["runs"][-1]["state"] == "running"
    # The attempt after the retry carries on from the ledger: the run says it resumed.
    assert run.finish()["status"] == "resumed-and-finished"
    after = _status_json(run_cli, plan)["runs"][-1]
    assert after["state"] == "resumed-and-finished" and after["retries"][0]["error"] == retry["error"]


def test_an_unreachable_target_still_shows_the_state_folder(
    tmp_path: Path, demo_source: Path, run_cli: CliRunner
) -> None:
    plan = _plan(tmp_path, demo_source)
    ran = run_cli("run", plan, "--format", "json")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    out = io.StringIO()
    render_status(plan_status(load_plan(plan)), Console(file=out, width=120, color_system=None))
    rows = sum(t["rows"] for t in json.loads(ran.stdout)["tables"])
    assert f"{rows:,} rows" in out.getvalue()
    assert re.search(r"^tables +done +\d+ +0 ", out.getvalue(), re.MULTILINE)
    # The same state folder, its target now a PostgreSQL server that is not there (port 9: discard).
    moved = _plan(tmp_path, demo_source, target="postgresql+psycopg://nobody@127.0.0.1:9/gone")
    assert moved == plan
    status = _status_json(run_cli, plan)
    assert status["ledger"]["reachable"] is False
    assert "does not answer" in status["ledger"]["note"]
    (run,) = status["runs"]
    assert run["run_id"] == run_id and run["state"] == "finished"
    assert _part(run, "tables")["units_done"] == json.loads(ran.stdout)["tables"][0]["chunks"] + sum(
        t["chunks"] for t in json.loads(ran.stdout)["tables"][1:]
    )
    text = run_cli("status", plan)
    assert text.returncode == 0
    assert "does not answer" in text.stdout and f"run {run_id}: finished" in text.stdout


def test_no_run_yet(tmp_path: Path, demo_source: Path) -> None:
    status = plan_status(load_plan(_plan(tmp_path, demo_source)))
    assert status.runs == [] and not status.in_progress
    assert status.ledger is not None and status.ledger.note == "the target database does not exist yet"
    assert status.notes and status.notes[0].startswith("no run of this plan yet")


def test_watch_renders_and_ends_with_the_run(tmp_path: Path, demo_source: Path, gated: list[GatedRun]) -> None:
    plan = _plan(tmp_path, demo_source, chunk_rows=50)
    run = GatedRun(plan, tmp_path / "gates", [3], _env())
    gated.append(run)
    run.wait_paused(3)
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False, color_system=None)
    reader = StatusReader(load_plan(plan))
    shown = watch(reader.read, console, interval=0.05, refreshes=2)
    assert shown.in_progress  # two redraws, the run still held at its gate
    assert "running" in out.getvalue() and "time left" in out.getvalue()
    run.go(3)
    run.finish()
    out.truncate(0)
    final = watch(reader.read, console, interval=0.05)  # no bound: it ends because the run ended
    assert not final.in_progress and final.runs[-1].state == "finished"
    assert "finished" in out.getvalue()


def test_an_interrupted_run_and_its_resume(
    tmp_path: Path, demo_source: Path, run_cli: CliRunner, gated: list[GatedRun]
) -> None:
    """Ctrl-C: the run stops after the chunk it stands at, and says so in its trail; status shows it
    interrupted, with what it had done; the next run resumes the same run id and finishes it."""
    plan = _plan(tmp_path, demo_source, chunk_rows=50)
    run = GatedRun(plan, tmp_path / "gates", [4], _env())
    gated.append(run)
    run.wait_paused(4)
    run.process.send_signal(signal.SIGINT)
    run.go(4)
    run.process.communicate(timeout=WAIT)
    assert run.process.returncode != 0
    (stopped,) = _status_json(run_cli, plan, "--no-count")["runs"]
    assert stopped["state"] == "interrupted" and "interrupted" in stopped["last_error"].lower()
    tables = _part(stopped, "tables")
    assert tables["state"] == "stopped" and tables["units_done"] == 4
    assert stopped["eta_seconds"] is None  # not in progress: no rate, no time left
    resumed = run_cli("run", plan, "--format", "json", "--no-verify")
    assert resumed.returncode == 0, resumed.stderr
    (after,) = _status_json(run_cli, plan)["runs"]
    assert after["run_id"] == stopped["run_id"] and after["state"] == "resumed-and-finished"
    assert _part(after, "tables")["units_done"] > 4


def test_every_part_of_the_demo_plan(tmp_path: Path, demo_source: Path, run_cli: CliRunner) -> None:
    """The demo's four parts, each from its own record: the tables' ledger, the objects copied and
    their bytes, the flag file, the repository's step in its unit mark."""
    demo = demo_source.parent.parent  # DEMO/source/global.db
    plans = demo.parent / "plans"
    plans.mkdir(exist_ok=True)
    plan = plans / "demo.yaml"
    plan.write_text((REPO / "plans" / "demo.yaml").read_text(encoding="utf-8").replace("../demo/", f"../{demo.name}/"))
    ran = run_cli("run", plan, "--format", "json", env={"MIGRATOR_HASH_KEY": "status-test"})
    assert ran.returncode == 0, ran.stderr
    copied = json.loads(ran.stdout)
    status = _status_json(run_cli, plan)
    (run,) = status["runs"]
    assert run["run_id"] == copied["run_id"] and run["state"] == "finished"
    parts = {part["part"]: part for part in run["parts"]}
    assert list(parts) == ["tables", "objects", "flags", "codebase"]
    assert all(part["state"] == "done" and part["units_pending"] == 0 for part in parts.values())
    assert parts["tables"]["rows"] == sum(t["rows"] for t in copied["tables"])
    assert parts["objects"]["objects"] == copied["objects"]["objects"] > 0
    assert parts["objects"]["bytes"] == copied["objects"]["bytes"] > 0
    assert parts["flags"]["units_done"] == 1
    (repository,) = parts["codebase"]["units"]
    assert repository["name"] == "monorepo" and repository["step"] == "verified"
