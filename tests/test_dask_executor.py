"""`migrator run --executor dask` (issue 17): the tables' units on a LocalCluster of 3 worker
processes, PostgreSQL to PostgreSQL, give the target --executor local gives, digest for digest; the
stores Dask cannot serve are refused; no secret travels in a task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chinook_expected import assert_us_split

pytest.importorskip("distributed")

PLANS = Path(__file__).parent / "plans"
ROOT = Path(__file__).resolve().parent.parent


def _run(run_cli, source: str, target: str, state: Path, *args: str):  # type: ignore[no-untyped-def]
    env = {"SOURCE_URL": source, "TARGET_URL": target, "STATE_DIR": str(state)}
    return run_cli("run", PLANS / "chinook_us_pg.yaml", "--format", "json", *args, env=env)


def _tables(result: dict) -> dict[str, tuple[int, str]]:  # type: ignore[type-arg]
    return {t["table"]: (t["rows"], t["checksum"]) for t in result["tables"]}


def test_dask_gives_the_target_local_gives_digest_for_digest(
    run_cli, chinook_pg: str, pg_url_factory, tmp_path: Path
) -> None:
    local_target, dask_target = pg_url_factory(), pg_url_factory()
    local = _run(run_cli, chinook_pg, local_target, tmp_path / "local")
    assert local.returncode == 0, local.stderr
    dask = _run(run_cli, chinook_pg, dask_target, tmp_path / "dask", "--executor", "dask", "--workers", "3")
    assert dask.returncode == 0, dask.stderr
    local_result, dask_result = json.loads(local.stdout), json.loads(dask.stdout)
    assert dask_result["status"] == "finished"
    assert _tables(dask_result) == _tables(local_result)
    assert dask_result["verification"]["ok"] is True
    assert_us_split(chinook_pg, dask_target, "snake")
    trail = [json.loads(line) for line in (tmp_path / "dask").rglob("*.jsonl").__next__().read_text().splitlines()]
    done = [(e["table"], e["chunk"]) for e in trail if e.get("event") == "unit done"]
    assert len(done) == len(set(done)) == sum(c for _, c in [(t["table"], t["chunks"]) for t in dask_result["tables"]])


def test_sources_and_targets_dask_cannot_serve_are_refused(
    run_cli, chinook_sqlite: Path, chinook_pg: str, mariadb_database: str, tmp_path: Path
) -> None:
    sqlite_source = _run(
        run_cli, f"sqlite:///{chinook_sqlite}", f"sqlite:///{tmp_path / 'us.db'}", tmp_path / "a", "--executor", "dask"
    )
    assert sqlite_source.returncode == 2
    assert "needs a PostgreSQL source" in sqlite_source.stdout + sqlite_source.stderr
    mariadb_source = _run(
        run_cli, mariadb_database, f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "b", "--executor", "dask"
    )
    assert mariadb_source.returncode == 2
    assert "cannot share its snapshot" in mariadb_source.stdout + mariadb_source.stderr
    sqlite_target = _run(run_cli, chinook_pg, f"sqlite:///{tmp_path / 'pg.db'}", tmp_path / "c", "--executor", "dask")
    assert sqlite_target.returncode == 2
    assert "cannot write a SQLite target" in sqlite_target.stdout + sqlite_target.stderr
    assert not (tmp_path / "pg.db").exists()  # refused before anything was opened


def test_a_scheduler_reached_without_tls_off_this_host_is_refused(run_cli, chinook_pg: str, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'never.db'}"
    remote = _run(
        run_cli, chinook_pg, target, tmp_path / "a", "--executor", "dask", "--scheduler", "tcp://10.1.2.3:8786"
    )
    assert remote.returncode == 2
    assert "without TLS" in remote.stdout + remote.stderr and "--insecure-scheduler" in remote.stdout + remote.stderr
    env = {"DASK_SCHEDULER_ADDRESS": "tcp://10.1.2.3:8786"}
    from_env = run_cli(
        "run", PLANS / "chinook_us_pg.yaml", "--executor", "dask", "--format", "json",
        env={"SOURCE_URL": chinook_pg, "TARGET_URL": target, "STATE_DIR": str(tmp_path / "b"), **env},
    )  # fmt: skip
    assert from_env.returncode == 2 and "10.1.2.3" in from_env.stdout + from_env.stderr


def test_a_local_run_never_imports_distributed(chinook_sqlite: Path, tmp_path: Path) -> None:
    """The whole CLI run in one process, then its modules looked at: Dask stays out of a local run."""
    code = (
        "import atexit, runpy, sys\n"
        "sys.argv = ['migrator', 'run', sys.argv[1], '--format', 'json']\n"
        # the CLI ends with os._exit after the atexit functions: the look is one of them
        "atexit.register(lambda: print('distributed' in sys.modules, 'dask' in sys.modules, file=sys.stderr))\n"
        "runpy.run_module('migrator', run_name='__main__')\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SOURCE_URL": f"sqlite:///{chinook_sqlite}",
        "TARGET_URL": f"sqlite:///{tmp_path / 'us.db'}",
        "STATE_DIR": str(tmp_path / "state"),
    }
    plan = str(PLANS / "chinook_us_sqlite.yaml")
    done = subprocess.run([sys.executable, "-c", code, plan], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "finished"
    assert done.stderr.strip().splitlines()[-1] == "False False"
