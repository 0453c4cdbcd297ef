"""Kill the real process with SIGKILL at many points, run again, and compare with a clean run.

SPEC §5: killed at any instant, a run started again continues from the last committed unit and ends
with a target identical to an uninterrupted run: no duplicate, no missing row.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrator.demo.generate import generate_demo
from tests.plan_files import write_plan

REPO = Path(__file__).resolve().parent.parent
TABLES = ["regions", "users", "devices", "follows", "posts", "comments", "likes"]


def _plan(tmp_path: Path, source: str, target: str, name: str) -> Path:
    data = {
        "roots": {"users": "region_id = (SELECT id FROM regions WHERE code = 'US')"},
        "tables": {"regions": "all", "audit_events": "skip", "users": {"columns": {"email": "hash"}}},
        "chunk_rows": 40,
    }
    return write_plan(tmp_path, name, source, target, data)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "MIGRATOR_HASH_KEY": "resume-test"}


def _start(plan: Path, *options: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "migrator", "run", str(plan), "--format", "json", *options]
    return subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _units(target: str) -> int:
    """How many units the ledger holds, read from outside the running process."""
    try:
        if target.startswith("sqlite"):
            path = target.removeprefix("sqlite:///")
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.2) as conn:
                return conn.execute("SELECT count(*) FROM _migrator_units").fetchone()[0]
        engine = sa.create_engine(target, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM _migrator_units")).scalar_one())
    except Exception:
        return 0  # no ledger yet, or the file is busy: treat as "nothing committed yet"


def _snapshot(target: str) -> dict[str, list[tuple]]:
    engine = sa.create_engine(target)
    with engine.connect() as conn:
        rows = {t: sorted(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}"))) for t in TABLES}
    engine.dispose()
    return rows


def _kill_and_resume(plan: Path, target: str, points: list[int], *options: str) -> list[int]:
    """Run, SIGKILL when the ledger reaches each point, run again; returns where each kill landed."""
    landed = []
    for point in points:
        process = _start(plan, *options)
        deadline = time.monotonic() + 60
        while process.poll() is None and _units(target) < point and time.monotonic() < deadline:
            time.sleep(0.005)
        if process.poll() is not None:
            process.communicate()
            break  # finished before the point: nothing left to interrupt
        process.send_signal(signal.SIGKILL)
        process.communicate()
        landed.append(_units(target))
    final = _start(plan, *options)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert json.loads(out)["status"] in ("finished", "resumed-and-finished", "already-finished")
    return landed


def _pg_copy_of_demo(run_cli, tmp_path: Path, url: str) -> str:  # type: ignore[no-untyped-def]
    """The whole demo in PostgreSQL, to serve as a source."""
    demo = generate_demo(tmp_path / "demo", users=900, seed=3).database
    plan = tmp_path / "whole.yaml"
    plan.write_text(
        json.dumps(
            {
                "version": 1,
                "name": "whole",
                "source": {"database": f"sqlite:///{demo}"},
                "target": {"database": url},
                "state": str(tmp_path / "state" / "whole"),
                "data": {"roots": {"users": "1 = 1"}, "tables": {"regions": "all", "audit_events": "all"}},
            }
        )
    )
    assert run_cli("run", plan).returncode == 0
    return url


@pytest.mark.parametrize(
    "backend", ["sqlite", "postgresql", "postgresql-from-postgresql", "two-workers", "sqlite-from-postgresql"]
)
def test_kill_at_random_points_then_resume(tmp_path: Path, backend: str, pg_url_factory, run_cli) -> None:
    """SQLite and PostgreSQL targets; PG to PG moves COPY text (the fast path), with one worker and
    with two sharing the exported snapshot; PG to SQLite parses COPY text (all tables but users,
    whose email is hashed)."""
    source = f"sqlite:///{generate_demo(tmp_path / 'demo', users=900, seed=3).database}"
    options = ("--workers", "2") if backend == "two-workers" else ()
    if backend in ("postgresql-from-postgresql", "two-workers", "sqlite-from-postgresql"):
        source = _pg_copy_of_demo(run_cli, tmp_path / "pg", pg_url_factory())
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    in_sqlite = backend in ("sqlite", "sqlite-from-postgresql")
    target = f"sqlite:///{tmp_path / 'killed.db'}" if in_sqlite else pg_url_factory()

    first = _start(_plan(tmp_path, source, clean, "clean"))
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    total_units = _units(clean)

    rng = random.Random(20261128)
    points = sorted(rng.sample(range(1, total_units), 6))
    landed = _kill_and_resume(_plan(tmp_path, source, target, "killed"), target, points, *options)
    assert len(landed) >= 5, f"the kills must land inside the run: {landed} of {total_units} units"

    assert _snapshot(target) == _snapshot(clean)


def test_rerun_of_a_finished_plan_does_no_work(tmp_path: Path) -> None:
    source = f"sqlite:///{generate_demo(tmp_path / 'demo', users=300).database}"
    target = f"sqlite:///{tmp_path / 'us.db'}"
    plan = _plan(tmp_path, source, target, "twice")
    for expected in ("finished", "already-finished"):
        process = _start(plan)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert json.loads(out)["status"] == expected
    assert _units(target) > 0


def test_ctrl_c_commits_the_unit_under_way_and_exits_130(tmp_path: Path) -> None:
    source = f"sqlite:///{generate_demo(tmp_path / 'demo', users=900, seed=3).database}"
    target = f"sqlite:///{tmp_path / 'us.db'}"
    plan = _plan(tmp_path, source, target, "ctrl-c")
    process = _start(plan)
    while _units(target) < 20 and process.poll() is None:
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert f"run `migrator run {plan}` to continue" in err
    stopped_at = _units(target)
    assert stopped_at >= 20
    resumed = _start(plan)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert json.loads(out)["status"] == "resumed-and-finished"
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    done = _start(_plan(tmp_path, source, clean, "clean"))
    done.communicate(timeout=120)
    assert done.returncode == 0
    assert _snapshot(target) == _snapshot(clean)


def test_changed_plan_is_refused_then_restart_starts_over(tmp_path: Path) -> None:
    source = f"sqlite:///{generate_demo(tmp_path / 'demo', users=200).database}"
    target = f"sqlite:///{tmp_path / 'us.db'}"
    plan = _plan(tmp_path, source, target, "changing")
    first = _start(plan)
    first.communicate(timeout=120)
    assert first.returncode == 0
    plan.write_text(plan.read_text().replace('"chunk_rows": 40', '"chunk_rows": 41'))
    refused = _start(plan)
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 2 and "--restart" in err
    command = [sys.executable, "-m", "migrator", "run", str(plan), "--restart", "--format", "json"]
    restarted = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=120)
    assert restarted.returncode == 0, restarted.stderr
    assert json.loads(restarted.stdout)["status"] == "finished"
