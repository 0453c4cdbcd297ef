"""`--executor dask --scheduler tls://...` with --tls-ca-file, --tls-cert and --tls-key: a run on a
LocalCluster whose scheduler and workers speak TLS only (Security.temporary()), PostgreSQL to
PostgreSQL, exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chinook_expected import assert_us_split

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")

ROOT = Path(__file__).resolve().parent.parent
PLAN = (Path(__file__).parent / "plans" / "chinook_us_pg.yaml").read_text()


def test_a_run_on_a_tls_cluster(chinook_pg: str, pg_database: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    security = distributed.security.Security.temporary()
    files = {}
    for option, pem in (
        ("--tls-ca-file", security.tls_ca_file),
        ("--tls-cert", security.tls_client_cert),
        ("--tls-key", security.tls_client_key),
    ):
        path = tmp_path / option.strip("-")
        path.write_text(pem)
        files[option] = str(path)
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace('"${STATE_DIR}"', json.dumps(str(tmp_path / "state"))))
    monkeypatch.setenv("SOURCE_URL", chinook_pg)  # the workers' environment, inherited at their start
    monkeypatch.setenv("TARGET_URL", pg_database)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        protocol="tls://",
        security=security,
        dashboard_address=None,
        silence_logs=50,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        options = [item for pair in files.items() for item in pair]
        command = [sys.executable, "-m", "migrator", "run", str(plan), "--format", "json",
                   "--executor", "dask", "--scheduler", address, *options]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verification"]["ok"] is True
    assert_us_split(chinook_pg, pg_database, "snake")
