"""pg_dump and pg_restore called without Debian's pg_wrapper when its choice is certain.

Debian and Ubuntu put postgresql-common's pg_wrapper (a Perl program) on the PATH as pg_dump and
pg_restore; it picks a version's binaries under /usr/lib/postgresql/VERSION/bin. A run calls the
two programs eight times, and the wrapper's start cost 20 ms of CPU each. Built here as a folder
tree of the same shape, the wrapper is skipped exactly when it would run the one version installed,
and asked otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migrator.stores.sql import pg_native


def _layout(root: Path, versions: list[int], *, wrapped: tuple[str, ...] = ("pg_dump", "pg_restore")) -> Path:
    """A PATH folder whose programs are the wrapper (or, for those not in `wrapped`, a plain
    program), and the versions' binaries beside it; returns the PATH folder."""
    wrapper = root / "share" / "postgresql-common" / "pg_wrapper"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text("#!/bin/sh\nexit 0\n")
    wrapper.chmod(0o755)
    path = root / "bin"
    path.mkdir()
    for program in ("pg_dump", "pg_restore"):
        if program in wrapped:
            (path / program).symlink_to(wrapper)
        else:
            (path / program).write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 99.1'\n")
            (path / program).chmod(0o755)
        for version in versions:
            binary = root / "lib" / "postgresql" / str(version) / "bin" / program
            binary.parent.mkdir(parents=True, exist_ok=True)
            binary.write_text("#!/bin/sh\nexit 0\n")
            binary.chmod(0o755)
    return path


@pytest.fixture
def debian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(pg_native, "_DEBIAN_VERSIONS", tmp_path / "lib" / "postgresql")
    monkeypatch.delenv("PGCLUSTER", raising=False)
    return tmp_path


def test_the_one_installed_version_is_called_directly(debian: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(_layout(debian, [16])))
    binaries = debian / "lib" / "postgresql" / "16" / "bin"
    assert pg_native._client_programs(15) == (str(binaries / "pg_dump"), str(binaries / "pg_restore"))
    assert pg_native._client_programs(16) == (str(binaries / "pg_dump"), str(binaries / "pg_restore"))


@pytest.mark.parametrize(
    "case",
    [
        "several versions",
        "an old-style version beside",
        "older than the server",
        "PGCLUSTER names one",
        "pg_dump is no wrapper",
    ],
)
def test_the_wrapper_is_asked_when_its_choice_is_not_certain(
    debian: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    versions = [15, 16] if case == "several versions" else [16]
    wrapped = ("pg_restore",) if case == "pg_dump is no wrapper" else ("pg_dump", "pg_restore")
    path = _layout(debian, versions, wrapped=wrapped)
    if case == "an old-style version beside":  # 9.6's folder: a version the wrapper may choose too
        old = debian / "lib" / "postgresql" / "9.6" / "bin"
        old.mkdir(parents=True)
        (old / "pg_dump").write_text("#!/bin/sh\nexit 0\n")
    if case == "PGCLUSTER names one":
        monkeypatch.setenv("PGCLUSTER", "16/main")
    server = 17 if case == "older than the server" else 16
    assert pg_native._behind_debian_wrapper(str(path / "pg_dump"), str(path / "pg_restore"), server) is None


def test_the_wrapper_setting_is_given_to_the_binaries_it_would_have_run(
    debian: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_wrapper sets PGSYSCONFDIR (where libpq reads pg_service.conf) unless it is set: the
    programs called without it get the same; other programs get the environment as it is."""
    binary = str(debian / "lib" / "postgresql" / "16" / "bin" / "pg_dump")
    monkeypatch.delenv("PGSYSCONFDIR", raising=False)
    assert pg_native._environment(None, binary)["PGSYSCONFDIR"] == "/etc/postgresql-common"
    assert "PGSYSCONFDIR" not in pg_native._environment(None, "/opt/pg/bin/pg_dump")
    monkeypatch.setenv("PGSYSCONFDIR", "/srv/pg-services")
    assert pg_native._environment(None, binary)["PGSYSCONFDIR"] == "/srv/pg-services"


@pytest.mark.skipif(
    not (shutil.which("pg_dump") and Path(shutil.which("pg_dump") or "").resolve().name == "pg_wrapper"),
    reason="this machine's pg_dump is not Debian's pg_wrapper",
)
def test_on_this_machine_a_run_calls_the_binaries() -> None:
    """Where pg_dump is the wrapper over one installed version (the CI machine), the programs a run
    calls are that version's binaries, and they answer."""
    installed = [f for f in Path("/usr/lib/postgresql").glob("*/bin") if (f / "pg_dump").is_file()]
    if len(installed) != 1:
        pytest.skip("several PostgreSQL versions are installed: the wrapper chooses")
    pg_dump, pg_restore = pg_native._client_programs(int(installed[0].parent.name))
    assert (pg_dump, pg_restore) == (str(installed[0] / "pg_dump"), str(installed[0] / "pg_restore"))
    assert pg_native._run([pg_dump, "--version"], None).startswith("pg_dump (PostgreSQL)")
