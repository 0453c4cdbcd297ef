"""With its servers out of reach, the suite fails under CI and skips, saying why, elsewhere.

The servers are put out of reach for real: the tests run in a new network namespace (`unshare -n`),
where nothing listens on 127.0.0.1, just as on a machine whose PostgreSQL and MariaDB are stopped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prerequisites import missing_prerequisite

REPO_ROOT = Path(__file__).resolve().parent.parent

# One test per server fixture family: a PostgreSQL database, a MariaDB database, Chinook in PostgreSQL.
NEEDING_SERVERS = [
    "tests/test_fast_paths.py::test_copy_out_pieces_are_whole_rows_and_exact",
    "tests/test_chinook_expected.py::test_checker_passes_on_an_exact_copy_in_mariadb",
    "tests/test_chinook_expected.py::test_checker_fails_on_a_missing_table",
]


def _pytest_without_network(ci: bool) -> subprocess.CompletedProcess[str]:
    if shutil.which("unshare") is None:
        missing_prerequisite("unshare is not installed (util-linux)", "apt-get install util-linux")
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci:
        env["CI"] = "true"
    command = ["unshare", "--net", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"]
    done = subprocess.run(
        [*command, *NEEDING_SERVERS], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    if "unshare failed" in done.stderr or "Operation not permitted" in done.stderr:
        missing_prerequisite(f"cannot make a network namespace here ({done.stderr.strip()})", "run as root")
    return done


def test_under_ci_a_missing_server_fails_the_run() -> None:
    done = _pytest_without_network(ci=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{len(NEEDING_SERVERS)} errors" in done.stdout, done.stdout  # each fixture fails its test
    assert "skipped" not in done.stdout
    assert "PostgreSQL is not reachable at 127.0.0.1:5432, user postgres, database test" in done.stdout
    assert "MariaDB is not reachable at 127.0.0.1:3306" in done.stdout
    assert "CI is set, so every test must run" in done.stdout


def test_outside_ci_a_missing_server_skips_and_says_what_to_do() -> None:
    done = _pytest_without_network(ci=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(NEEDING_SERVERS)} skipped" in done.stdout, done.stdout
    assert "PostgreSQL is not reachable at 127.0.0.1:5432, user postgres, database test" in done.stdout
    assert "-m 'not server'" in done.stdout


@pytest.mark.parametrize("ci", [True, False])
def test_the_ci_setting_decides(ci: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule itself, without a subprocess: fail under CI, skip elsewhere."""
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected, match="the test server is missing"):
        missing_prerequisite("the test server is missing", "start it")
