"""The benchmark: migrator against the database's own limit, on the US split of a social platform.

    python bench/run.py --scale 1

For each path (pg-pg, pg-sqlite, sqlite-sqlite), in one run on one machine:

1. `migrator plan bench/plan.yaml --format json` (the dry run), timed; each copied table's `sql` is
   the subset query that both sides then move;
2. the limit (bench/limits.py): the database's own fastest way to move those rows, timed;
3. `migrator run` into a fresh, empty target, timed, with the peak RSS of its process;
4. `migrator verify` (when migrator has it), timed;
5. `migrator run` again: a finished plan, which must do no work, timed;
6. the check that both targets hold the same rows: per table a count and an order-independent
   checksum; any difference fails the benchmark (exit 1).

Prints a table, writes `--json FILE` and replaces the results section of docs/benchmarks.md.
Databases and files it creates are dropped at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import export_sqlite
import generate
import psycopg
import social_schema as schema
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PLAN = BENCH / "plan.yaml"
DOCS = REPO / "docs" / "benchmarks.md"
MARKER = "<!-- bench:results:scale={scale}:{edge} -->"
RSS_TAG = "bench-peak-rss-kb="
PATHS = ("pg-pg", "pg-sqlite", "sqlite-sqlite")
DEFAULT_SOURCE = "postgresql://postgres@127.0.0.1/bench_src"

# Quality bars (SPEC §9, issue 4).
THROUGHPUT_BAR = 0.70  # pg-pg: migrator reaches at least 70% of the limit's throughput
PLAN_BAR = 1.30  # the dry run takes at most 1.3x the floor of its counts plus Python's start-up (issue 12)
VERIFY_BAR = 0.30  # so does verification
RERUN_BAR = 0.05  # re-running a finished plan: at most 5%


# --- measuring a child process ----------------------------------------------------------------------


@dataclass
class Measured:
    command: list[str]
    seconds: float
    returncode: int
    max_rss_mb: float
    stdout: str
    stderr: str
    timed_out: bool = False
    synced: float | None = None  # bench/objects.py's downloads: the seconds plus the files' `sync` after

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def json_out(self) -> Any:
        """The JSON document the command printed (under py-spy, followed by py-spy's own lines)."""
        start = self.stdout.find("{")
        try:
            return json.JSONDecoder().raw_decode(self.stdout[start:])[0] if start >= 0 else None
        except json.JSONDecodeError:
            return None

    def failure(self) -> str:
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s"
        lines = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return f"exit {self.returncode}: {' | '.join(lines[-3:])[:400]}"


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def measure(command: list[str], env: dict[str, str], timeout: float, cwd: Path = REPO) -> Measured:
    """Run `command`, timing it and reading the peak RSS of that one child (os.wait4's rusage, which
    also covers the child's own waited-for children). On timeout: SIGINT, then SIGKILL."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        # A shell's background job starts with SIGINT ignored, and so would the child: restore it, so that
        # a timed-out migrator gets the chance to stop cleanly.
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=cwd, preexec_fn=_default_sigint)
        reaped: dict[str, Any] = {}

        def reap() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            reaped.update(status=status, usage=usage, ended=time.monotonic())

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        try:
            waiter.join(timeout)
        except BaseException:  # Ctrl-C: the child must not outlive the benchmark
            os.kill(proc.pid, signal.SIGKILL)
            waiter.join()
            raise
        timed_out = waiter.is_alive()
        if timed_out:
            os.kill(proc.pid, signal.SIGINT)  # migrator stops cleanly (and psycopg cancels the query)
            waiter.join(20)
            if waiter.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                waiter.join()
        proc.returncode = os.waitstatus_to_exitcode(reaped["status"])
        out.seek(0)
        err.seek(0)
        return Measured(
            command=command,
            seconds=round(reaped["ended"] - started, 3),
            returncode=proc.returncode,
            max_rss_mb=round(reaped["usage"].ru_maxrss / 1024, 1),
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            timed_out=timed_out,
        )


# --- databases --------------------------------------------------------------------------------------


def pg_url_for(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    user = params.get("user", "postgres")
    host = params.get("host", "127.0.0.1")
    port = params.get("port", "5432")
    password = f":{params['password']}" if params.get("password") else ""
    return f"postgresql://{user}{password}@{host}:{port}/{dbname}"


def dbname_of(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


def admin(url: str) -> psycopg.Connection:
    return psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True)


def recreate_pg(url: str) -> None:
    with admin(url) as conn:
        name = sql.Identifier(dbname_of(url))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_pg(url: str) -> None:
    with admin(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname_of(url))))


def pg_exists(url: str) -> bool:
    with admin(url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname_of(url),)).fetchone() is not None


def end_leftover_backends(url: str, databases: list[str], since: datetime) -> int:
    """After a timed-out stage: end the server sessions that stage opened on the benchmark's databases,
    so that a query still running there does not steal the CPU from the next stage."""
    with admin(url) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = ANY(%s) AND backend_start >= %s AND pid <> pg_backend_pid()",
            (databases, since),
        ).fetchall()
    return len(rows)


def sqlalchemy_url(url: str) -> str:
    """migrator takes SQLAlchemy URLs: name the psycopg 3 driver explicitly."""
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


# --- same rows --------------------------------------------------------------------------------------


def pg_fingerprints(url: str, tables: list[str]) -> dict[str, list[int]]:
    with psycopg.connect(url) as conn:
        return {
            name: [
                int(v)
                for v in conn.execute(
                    sql.SQL("SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0) FROM {} AS t").format(
                        sql.Identifier(name)
                    )
                ).fetchone()  # type: ignore[union-attr]
            ]
            for name in tables
        }


# The zone may be PostgreSQL's own spelling ("+00", "+05:30"), which the pg-sqlite limit stores as it is.
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d(:?\d\d)?)?$")


def _canonical(value: object) -> object:
    """One spelling per value: SQLite holds timestamps as text, and the two loaders may spell the same
    instant differently ("2023-01-01 00:00:00.000000" vs "2023-01-01 00:00:00+00"); naive is UTC."""
    if isinstance(value, str) and _TIMESTAMP.match(value):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return "ts:" + moment.astimezone(UTC).isoformat()
    return value


def sqlite_fingerprints(path: Path, tables: list[str]) -> dict[str, list[int]]:
    result = {}
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        for name in tables:
            columns = ", ".join(schema.BY_NAME[name].column_names)
            count, total = 0, 0
            for row in conn.execute(f"SELECT {columns} FROM {name}"):
                digest = hashlib.blake2b(repr(tuple(map(_canonical, row))).encode(), digest_size=8).digest()
                total = (total + int.from_bytes(digest, "big")) % (1 << 64)
                count += 1
            result[name] = [count, total]
    return result


# --- one path ---------------------------------------------------------------------------------------


@dataclass
class Stage:
    seconds: float | None = None
    status: str = "not run"  # ok | failed | timed out | not built yet | skipped
    detail: str = ""


@dataclass
class PathResult:
    path: str
    rows: int | None = None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    plan: Stage = field(default_factory=Stage)
    count_floor: Stage = field(default_factory=Stage)  # limits.py pg-count / sqlite-count: the dry run's floor
    python_start: float | None = None  # Python starting with the dry run's modules imported, added to the floor
    limit: Stage = field(default_factory=Stage)
    limit_copy_seconds: float | None = None
    limit_constraints_seconds: float | None = None
    migrator: Stage = field(default_factory=Stage)
    migrator_rss_mb: float | None = None
    verify: Stage = field(default_factory=Stage)
    rerun: Stage = field(default_factory=Stage)
    check: Stage = field(default_factory=Stage)
    sql_from: str = "migrator plan"
    migrator_command: str = ""
    repetitions: list[dict[str, float | None]] = field(default_factory=list)  # with --repeat: each run's times
    # With --repeat: each run's dry run over its own floor. The dry run and its floor are timed a few
    # seconds apart within a run, runs minutes apart: the median of these ratios is steadier than the
    # ratio of the medians on a noisy machine.
    plan_ratios: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.limit.seconds and self.migrator.seconds and self.migrator.status == "ok":
            return self.limit.seconds / self.migrator.seconds
        return None

    @property
    def plan_over_floor(self) -> float | None:
        """The dry run's time over its floor: the counts alone plus Python's start-up."""
        if self.plan.status != "ok" or self.count_floor.status != "ok" or not self.count_floor.seconds:
            return None
        if self.plan_ratios:
            return statistics.median(self.plan_ratios)
        return (self.plan.seconds or 0.0) / (self.count_floor.seconds + (self.python_start or 0.0))

    def share(self, stage: Stage) -> float | None:
        if stage.seconds is None or not self.migrator.seconds or self.migrator.status != "ok":
            return None
        return stage.seconds / self.migrator.seconds

    def failed(self) -> list[str]:
        stages = {"plan": self.plan, "limit": self.limit, "migrator run": self.migrator, "rerun": self.rerun}
        stages |= {"verify": self.verify, "same rows": self.check}
        return [f"{k}: {s.detail or s.status}" for k, s in stages.items() if s.status in ("failed", "timed out")]


STAGES = ("plan", "count_floor", "limit", "migrator", "verify", "rerun", "check")


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def median_result(runs: list[PathResult]) -> PathResult:
    """One result from repeated runs of a path: each time the median of its runs (a shared 2-core
    machine is noisy), the peak RSS the largest, a stage that failed in any run failed. The runs'
    own times are kept in `repetitions`."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    merged = PathResult(first.path, first.rows, sql_from=first.sql_from, migrator_command=first.migrator_command)
    for name in STAGES:
        stages = [getattr(r, name) for r in runs]
        bad = next((st for st in stages if st.status != "ok"), None)
        setattr(merged, name, bad or Stage(_median([st.seconds for st in stages]), "ok", stages[0].detail))
    merged.python_start = _median([r.python_start for r in runs])
    merged.limit_copy_seconds = _median([r.limit_copy_seconds for r in runs])
    merged.limit_constraints_seconds = _median([r.limit_constraints_seconds for r in runs])
    merged.migrator_rss_mb = max((r.migrator_rss_mb for r in runs if r.migrator_rss_mb is not None), default=None)
    for table in first.tables:
        entries = [r.tables.get(table, {}) for r in runs]
        merged.tables[table] = {
            "rows": entries[0].get("rows"),
            "limit_seconds": _median([e.get("limit_seconds") for e in entries]),
            "migrator_seconds": _median([e.get("migrator_seconds") for e in entries]),
        }
    merged.repetitions = [
        {
            "limit": r.limit.seconds,
            "migrator": r.migrator.seconds,
            "ratio": round(r.ratio, 3) if r.ratio else None,
            "plan_over_floor": round(r.plan_over_floor, 3) if r.plan_over_floor else None,
        }
        for r in runs
    ]
    merged.plan_ratios = [r.plan_over_floor for r in runs if r.plan_over_floor is not None]
    return merged


@dataclass
class Features:
    workers: bool
    plan_workers: bool
    verify_workers: bool
    no_verify: bool
    verify: bool
    version: str


def migrator_features(env: dict[str, str], where: Path) -> Features:
    def text(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "migrator", *args], capture_output=True, text=True, env=env, cwd=where
        )
        return done.stdout + done.stderr

    run_help, plan_help, top_help = text("run", "--help"), text("plan", "--help"), text("--help")
    version = text("--version").strip().splitlines()
    return Features(
        workers="--workers" in run_help,
        plan_workers="--workers" in plan_help,
        verify_workers="--workers" in text("verify", "--help"),
        no_verify="--no-verify" in run_help,
        verify=re.search(r"^\W*verify\s", top_help, re.MULTILINE) is not None,
        version=version[-1].removeprefix("migrator ") if version else "?",
    )


class Runner:
    def __init__(self, args: argparse.Namespace, workdir: Path, features: Features):
        self.args = args
        self.workdir = workdir
        self.features = features
        self.base_env = {**os.environ, "PYTHONPATH": str(args.migrator_from), "PYTHONUNBUFFERED": "1"}

    def log(self, message: str) -> None:
        print(message, flush=True)

    def targets(self, path: str) -> tuple[str, str, str, str]:
        """(limit target, migrator target) as given to the limit and to migrator, and how to reach them."""
        if path == "pg-pg":
            limit = pg_url_for(self.args.source_url, f"{self.args.target_prefix}_limit")
            mig = pg_url_for(self.args.source_url, f"{self.args.target_prefix}_migrator")
            return limit, sqlalchemy_url(mig), limit, mig
        limit_file = self.workdir / f"{path}-limit.db"
        mig_file = self.workdir / f"{path}-migrator.db"
        return str(limit_file), f"sqlite:///{mig_file}", str(limit_file), str(mig_file)

    def source(self, path: str) -> tuple[str, str]:
        """(the source as the limit takes it, as migrator takes it)."""
        if path == "sqlite-sqlite":
            return str(self.args.sqlite_source), f"sqlite:///{self.args.sqlite_source}"
        return self.args.source_url, sqlalchemy_url(self.args.source_url)

    def fresh_targets(self, path: str) -> None:
        limit, _, _, mig = self.targets(path)
        if path == "pg-pg":
            recreate_pg(limit)
            recreate_pg(mig)
        else:
            for file in (Path(limit), Path(mig)):
                for leftover in (file, file.with_name(file.name + "-journal"), file.with_name(file.name + "-wal")):
                    leftover.unlink(missing_ok=True)
        shutil.rmtree(self.workdir / f"state-{path}", ignore_errors=True)

    def drop_targets(self, path: str) -> None:
        limit, _, _, mig = self.targets(path)
        if path == "pg-pg":
            drop_pg(limit)
            drop_pg(mig)

    def timed(self, command: list[str], env: dict[str, str], path: str, timeout: float | None = None) -> Measured:
        since = datetime.now(UTC)
        measured = measure(command, env, timeout or self.args.timeout, self.args.migrator_from)
        if measured.timed_out:
            databases = [dbname_of(self.args.source_url)]
            if path == "pg-pg":
                databases += [dbname_of(self.targets(path)[2]), dbname_of(self.targets(path)[3])]
            ended = end_leftover_backends(self.args.source_url, databases, since)
            self.log(f"    timed out after {measured.seconds:.0f} s; ended {ended} server session(s) it left running")
        return measured

    def run_path(self, path: str) -> PathResult:
        result = PathResult(path)
        self.log(f"\n== {path}")
        self.fresh_targets(path)
        _, mig_target, limit_target, mig_check = self.targets(path)
        limit_source, mig_source = self.source(path)
        env = {
            **self.base_env,
            "BENCH_SOURCE_URL": mig_source,
            "BENCH_TARGET_URL": mig_target,
            "BENCH_STATE_DIR": str(self.workdir / f"state-{path}"),
        }
        migrator = [sys.executable, "-m", "migrator"]

        # 1. the dry run: its time, and the SQL of each copied table
        self.log("  migrator plan ...")
        plan_cmd = [*migrator, "plan", str(PLAN), "--format", "json"]
        if self.args.workers and self.features.plan_workers:
            plan_cmd += ["--workers", str(self.args.workers)]  # the dry run counts with as many connections
        plan = self.timed(plan_cmd, env, path)
        result.plan = Stage(plan.seconds, "ok" if plan.ok else ("timed out" if plan.timed_out else "failed"))
        queries: dict[str, str] = {}
        expected: dict[str, int] = {}
        document = plan.json_out() if plan.ok else None
        if document:
            for table in document["tables"]:
                if table.get("sql"):
                    queries[table["table"]] = table["sql"]
                    expected[table["table"]] = table.get("rows")
        else:
            result.plan.detail = plan.failure()
            self.log(f"    plan {result.plan.status}: {result.plan.detail}")
            self.log("    taking the subset SQL from bench/subset_sql.py instead (migrator's library, no counts)")
            fallback = self.timed([sys.executable, str(BENCH / "subset_sql.py"), str(PLAN)], env, path)
            if not fallback.ok:
                raise SystemExit(f"cannot get the subset SQL for {path}: {fallback.failure()}")
            queries = fallback.json_out()["tables"]
            result.sql_from = "bench/subset_sql.py (the dry run did not finish)"
        self.log(f"    {result.plan.status} in {plan.seconds:.1f} s; {len(queries)} tables to copy")

        spec = self.workdir / f"{path}-queries.json"
        spec.write_text(json.dumps({"tables": queries, "rows": expected}), encoding="utf-8")

        # 1b. the dry run's floor: the same subsets counted by the database alone, with as many
        # connections as the dry run had, plus what starting Python takes
        if queries:
            self.count_floor(result, path, limit_source, spec)

        # 2. the limit
        self.log("  limit ...")
        limit_cmd = [sys.executable, str(BENCH / "limits.py"), path, "--source", limit_source]
        limit_cmd += ["--target", limit_target, "--queries", str(spec), "--parallel", str(self.args.parallel)]
        if path == "pg-pg":
            limit_cmd += ["--format", self.args.limit_format]
        limit = self.timed(limit_cmd, self.base_env, path)
        if limit.ok:
            figures = limit.json_out()
            result.limit = Stage(limit.seconds, "ok")
            result.limit_copy_seconds = figures["copy_seconds"]
            result.limit_constraints_seconds = figures["constraints_seconds"]
            for name, table in figures["tables"].items():
                result.tables.setdefault(name, {})["limit_seconds"] = table["seconds"]
        else:
            result.limit = Stage(limit.seconds, "timed out" if limit.timed_out else "failed", limit.failure())
        self.log(f"    {result.limit.status} in {limit.seconds:.1f} s {result.limit.detail}")

        # 3. migrator run into the empty target
        run_cmd = [*migrator, "run", str(PLAN), "--format", "json"]
        if self.features.no_verify:
            run_cmd.append("--no-verify")  # verification is timed on its own below
        if self.args.workers and self.features.workers:
            run_cmd += ["--workers", str(self.args.workers)]
        result.migrator_command = shlex.join(["python", *run_cmd[1:]]).replace(str(REPO) + "/", "")
        self.log(f"  {result.migrator_command} ...")
        first_run = run_cmd
        if self.args.profile and path == "pg-pg":
            # Wall-time sampling (--idle: waits on the database count) without pausing the process.
            self.args.profile.mkdir(parents=True, exist_ok=True)
            raw = self.args.profile / f"{path}-run.txt"
            first_run = ["py-spy", "record", "--idle", "--nonblocking", "--subprocesses", "--rate", "50"]
            # /usr/bin/time reports migrator's own peak RSS, which py-spy's rusage would not.
            first_run += ["--format", "raw", "--output", str(raw), "--", "/usr/bin/time", "-f", f"{RSS_TAG}%M"]
            first_run += run_cmd
            self.log(f"    profiled with py-spy into {raw}")
        run = self.timed(first_run, env, path, self.args.run_timeout)
        result.migrator = Stage(run.seconds, "ok" if run.ok else ("timed out" if run.timed_out else "failed"))
        result.migrator_rss_mb = run.max_rss_mb
        reported = re.findall(rf"{RSS_TAG}(\d+)", run.stderr)
        if reported:
            result.migrator_rss_mb = round(int(reported[-1]) / 1024, 1)
            # py-spy exits 0 whatever its child did: /usr/bin/time says how migrator ended.
            ended = re.search(r"Command (exited with non-zero status|terminated by signal) (\d+)", run.stderr)
            if ended and run.returncode == 0:
                run.returncode = int(ended[2]) if ended[1].startswith("exited") else 128 + int(ended[2])
                result.migrator = Stage(run.seconds, "failed")
        if run.ok:
            for table in (run.json_out() or {}).get("tables", []):
                entry = result.tables.setdefault(table["table"], {})
                entry["migrator_seconds"] = table.get("seconds")
        else:
            result.migrator.detail = run.failure()
        self.log(f"    {result.migrator.status} in {run.seconds:.1f} s, peak RSS {result.migrator_rss_mb:.0f} MB")

        # 4. verification and 5. the re-run, only after a finished run
        if run.ok:
            if self.features.verify:
                self.log("  migrator verify ...")
                verify_cmd = [*migrator, "verify", str(PLAN), "--format", "json"]
                if self.args.workers and self.features.verify_workers:
                    verify_cmd += ["--workers", str(self.args.workers)]
                verify = self.timed(verify_cmd, env, path)
                status = "ok" if verify.ok else ("timed out" if verify.timed_out else "failed")
                result.verify = Stage(verify.seconds, status, "" if verify.ok else verify.failure())
                self.log(f"    {status} in {verify.seconds:.1f} s {result.verify.detail}")
            else:
                result.verify = Stage(None, "not built yet")
            self.log("  migrator run (again: a finished plan) ...")
            rerun = self.timed(run_cmd, env, path)
            document = rerun.json_out() or {}
            detail = str(document.get("status", "")) if rerun.ok else rerun.failure()
            result.rerun = Stage(rerun.seconds, "ok" if rerun.ok else "failed", detail)
            self.log(f"    {result.rerun.status} in {rerun.seconds:.1f} s ({detail})")
        else:
            result.verify = Stage(None, "skipped", "the run did not finish")
            result.rerun = Stage(None, "skipped", "the run did not finish")

        # 6. both targets hold the same rows
        if limit.ok and run.ok:
            self.check(result, path, list(queries), expected, limit_target, mig_check)
        else:
            result.check = Stage(None, "skipped", "a side did not finish")
        return result

    def count_floor(self, result: PathResult, path: str, source: str, spec: Path) -> None:
        kind = "sqlite-count" if path.startswith("sqlite") else "pg-count"
        self.log(f"  count floor ({kind}) ...")
        command = [sys.executable, str(BENCH / "limits.py"), kind, "--source", source, "--queries", str(spec)]
        if kind == "pg-count":
            workers = self.args.workers if self.args.workers and self.features.plan_workers else 1
            command += ["--parallel", str(workers)]
        counted = self.timed(command, self.base_env, path)
        if counted.ok:
            result.count_floor = Stage(counted.json_out()["seconds"], "ok")
        else:
            result.count_floor = Stage(counted.seconds, "failed", counted.failure())
        # Start-up: the interpreter with the modules a dry run imports before its first query, so
        # that the bar weighs the dry run's work against the database's, not the import of SQLAlchemy.
        imports = "import migrator.cli.app, migrator.engine.dry_run"
        started = self.timed([sys.executable, "-c", imports], self.base_env, path)
        result.python_start = started.seconds
        floor = result.count_floor.seconds or 0.0
        self.log(f"    {result.count_floor.status} in {floor:.1f} s (+ {started.seconds:.2f} s start-up)")

    def check(
        self, result: PathResult, path: str, tables: list[str], expected: dict[str, int], limit: str, mig: str
    ) -> None:
        self.log("  same rows? ...")
        started = time.monotonic()
        if path == "pg-pg":
            ours, theirs = pg_fingerprints(limit, tables), pg_fingerprints(mig, tables)
        else:
            ours, theirs = sqlite_fingerprints(Path(limit), tables), sqlite_fingerprints(Path(mig), tables)
        problems = []
        for name in tables:
            result.tables.setdefault(name, {})["rows"] = theirs[name][0]
            if ours[name] != theirs[name]:
                problems.append(
                    f"{name}: limit has {ours[name][0]} rows (checksum {ours[name][1]}), "
                    f"migrator {theirs[name][0]} (checksum {theirs[name][1]})"
                )
            elif expected.get(name) is not None and expected[name] != theirs[name][0]:
                problems.append(
                    f"{name}: the dry run counted {expected[name]} rows, both targets hold {theirs[name][0]}"
                )
        result.rows = sum(theirs[name][0] for name in tables)
        seconds = round(time.monotonic() - started, 3)
        if problems:
            result.check = Stage(seconds, "failed", "; ".join(problems))
            self.log("    !!! THE TARGETS DIFFER !!!")
            for problem in problems:
                self.log(f"    !!! {problem}")
        else:
            result.check = Stage(
                seconds, "ok", f"{len(tables)} tables, {result.rows:,} rows, same counts and checksums"
            )
            self.log(f"    ok: {result.check.detail}")


# --- reporting --------------------------------------------------------------------------------------


def machine(source_url: str) -> dict[str, Any]:
    memory = "?"
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with admin(source_url) as conn:
        server = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "memory": memory,
        "cpu": cpu,
        "postgresql": server,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
        "load": "load average {:.2f} {:.2f} {:.2f} at the start".format(*os.getloadavg()),
    }


def _s(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "" if value is None else f" ({value * 100:.0f}%)"


def _stage(stage: Stage, share: float | None) -> str:
    if stage.status == "not built yet":
        return "not built yet"
    if stage.status in ("timed out", "failed", "skipped"):
        return f"{stage.status}" + (f" after {stage.seconds:.0f} s" if stage.seconds else "")
    return _s(stage.seconds) + _pct(share)


def summary_rows(results: list[PathResult]) -> list[list[str]]:
    rows = []
    for r in results:
        mig_rate = f"{r.rows / r.migrator.seconds:,.0f}" if r.rows and r.migrator.seconds else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        migrator = _s(r.migrator.seconds) if r.migrator.status == "ok" else _stage(r.migrator, None)
        limit = _s(r.limit.seconds) if r.limit.status == "ok" else _stage(r.limit, None)
        verify = _stage(r.verify, r.share(r.verify))
        if r.verify.status == "not built yet":
            verify = "verify: not built yet"
        rows.append(
            [
                r.path,
                f"{r.rows:,}" if r.rows else "-",
                limit,
                migrator,
                ratio,
                mig_rate,
                _s(r.migrator_rss_mb),
                _stage(r.plan, r.share(r.plan)) + (f", {r.plan_over_floor:.2f}x floor" if r.plan_over_floor else ""),
                verify,
                _stage(r.rerun, r.share(r.rerun)),
                r.check.status,
            ]
        )
    return rows


HEADERS = [
    "path",
    "rows copied",
    "limit s",
    "migrator s",
    "limit/migrator",
    "migrator rows/s",
    "peak RSS MB",
    "plan s (% of copy, x count floor)",
    "verify s (% of copy)",
    "rerun s (% of copy)",
    "same rows",
]


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def bars(results: list[PathResult]) -> list[str]:
    """One line per quality bar: met, missed, or not measurable in this run."""
    lines = []
    for r in results:
        if r.path == "pg-pg":
            if r.ratio is None:
                lines.append("pg-pg throughput ≥ 70% of the COPY pipe: not measurable (the run did not finish)")
            else:
                verdict = "met" if r.ratio >= THROUGHPUT_BAR else "MISSED"
                lines.append(f"pg-pg throughput ≥ 70% of the COPY pipe: {verdict} ({r.ratio * 100:.0f}%)")
        over = r.plan_over_floor
        if over is not None:
            verdict = "met" if over <= PLAN_BAR else "MISSED"
            lines.append(f"{r.path} plan ≤ {PLAN_BAR:.1f}x its count floor + Python start-up: {verdict} ({over:.2f}x)")
        elif r.plan.status != "not built yet":
            lines.append(f"{r.path} plan ≤ {PLAN_BAR:.1f}x its count floor + Python start-up: not measurable")
        for label, stage, bar in (("verify", r.verify, VERIFY_BAR),):
            share = r.share(stage)
            if stage.status == "not built yet":
                lines.append(f"{r.path} {label} ≤ {bar * 100:.0f}% of the copy: not built yet")
            elif stage.status == "timed out" and stage.seconds and r.migrator.status == "ok":
                lines.append(
                    f"{r.path} {label} ≤ {bar * 100:.0f}% of the copy: MISSED "
                    f"(timed out at {stage.seconds / r.migrator.seconds * 100:.0f}%)"
                )
            elif share is not None and stage.status == "ok":
                verdict = "met" if share <= bar else "MISSED"
                lines.append(f"{r.path} {label} ≤ {bar * 100:.0f}% of the copy: {verdict} ({share * 100:.0f}%)")
        share = r.share(r.rerun)
        if share is not None and r.rerun.status == "ok":
            verdict = "met" if share <= RERUN_BAR else "MISSED"
            lines.append(f"{r.path} re-run ≤ 5% of the copy: {verdict} ({share * 100:.1f}%)")
    return lines


def stage_rows(results: list[PathResult]) -> list[list[str]]:
    rows = []
    for r in results:
        rows.append(
            [
                r.path,
                _stage(r.plan, None),
                _stage(r.count_floor, None),
                _s(r.python_start, 2),
                _s(r.limit_copy_seconds),
                _s(r.limit_constraints_seconds),
                _stage(r.limit, None),
                _stage(r.migrator, None),
                _stage(r.verify, None),
                _stage(r.rerun, None),
                _stage(r.check, None),
            ]
        )
    return rows


STAGE_HEADERS = [
    "path",
    "plan",
    "count floor",
    "python start",
    "limit: copy",
    "limit: constraints",
    "limit: total",
    "migrator run",
    "verify",
    "rerun",
    "same-rows check",
]


def table_rows(results: list[PathResult]) -> tuple[list[str], list[list[str]]]:
    headers = ["table"]
    names: list[str] = []
    for r in results:
        headers += [f"{r.path} rows", f"{r.path} limit s", f"{r.path} migrator s"]
        names += [n for n in r.tables if n not in names]
    rows = []
    for name in names:
        row = [name]
        for r in results:
            t = r.tables.get(name, {})
            rows_copied = t.get("rows")
            row += [f"{rows_copied:,}" if rows_copied is not None else "-"]
            row += [_s(t.get("limit_seconds")), _s(t.get("migrator_seconds"))]
        rows.append(row)
    return headers, rows


def repetition_lines(results: list[PathResult]) -> list[str]:
    def one(run: dict[str, float | None]) -> str:
        ratio = "-" if run["ratio"] is None else f"{run['ratio']:.2f}"
        planned = run.get("plan_over_floor")
        plan = "" if planned is None else f", plan {planned:.2f}x"
        return f"{_s(run['limit'])} / {_s(run['migrator'])} ({ratio}{plan})"

    return [f"{r.path}: {', '.join(one(x) for x in r.repetitions)}" for r in results if r.repetitions]


def markdown_section(report: dict[str, Any], results: list[PathResult]) -> str:
    m = report["machine"]
    src = report["source"]
    lines = [
        MARKER.format(scale=report["scale"], edge="start"),
        f"## Latest run at scale {report['scale']}: {m['date']}",
        "",
        f"- command: `{report['command']}`",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} memory, {m['os']}; {m['load']}",
        f"- PostgreSQL {m['postgresql']}; Python {m['python']}; SQLite {m['sqlite']}; migrator {report['migrator']}",
        f"- migrator options: {report['migrator_options']}",
        f"- source: {src['rows']:,} rows in {len(src['tables'])} tables"
        + (f", generated in {src['generate_seconds']:.0f} s" if src.get("generate_seconds") else "")
        + (f", exported to SQLite in {src['export_seconds']:.0f} s" if src.get("export_seconds") else ""),
        "",
        markdown_table(HEADERS, summary_rows(results)),
        "",
        "limit/migrator is the limit's time over migrator's: the share of the limit's throughput that migrator "
        "reaches. Percentages are of migrator's copy time.",
        "",
        "Quality bars:",
        "",
        *[f"- {line}" for line in bars(results)],
        "",
        "Time per stage (seconds):",
        "",
        markdown_table(STAGE_HEADERS, stage_rows(results)),
        "",
        "Per table:",
        "",
        markdown_table(*table_rows(results)),
    ]
    if any(r.repetitions for r in results):
        lines += [
            "",
            "Medians of repeated runs (the dry run's over its floor: the median of each run's own); each run's"
            " limit s / migrator s (limit/migrator, plan over its floor):",
            "",
        ]
        lines += [f"- {line}" for line in repetition_lines(results)]
    notes = [f"- {r.path}: {f}" for r in results for f in r.failed()]
    notes += [f"- {r.path}: subset SQL taken from {r.sql_from}" for r in results if r.sql_from != "migrator plan"]
    if notes:
        lines += ["", "Failures and notes:", "", *notes]
    lines += ["", MARKER.format(scale=report["scale"], edge="end")]
    return "\n".join(lines)


def write_docs(section: str, scale: float) -> None:
    """Replace the section of this scale (one per scale, so that a small run does not erase a big one)."""
    start, end = MARKER.format(scale=scale, edge="start"), MARKER.format(scale=scale, edge="end")
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.write_text(text, encoding="utf-8")


# --- main -------------------------------------------------------------------------------------------


def record(args: argparse.Namespace, report: dict[str, Any], results: list[PathResult]) -> None:
    report["results"] = [asdict(r) | {"ratio": r.ratio} for r in results]
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    if not args.no_docs:
        write_docs(markdown_section(report, results), args.scale)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 100k users, 4.3M source rows (default 1)")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)} (all)")
    parser.add_argument("--workers", type=int, help="passed to `migrator run --workers` if migrator has the option")
    parser.add_argument("--skip-generate", action="store_true", help="use the existing --source-url database")
    parser.add_argument("--source-url", default=DEFAULT_SOURCE, help=f"PostgreSQL source (default {DEFAULT_SOURCE})")
    parser.add_argument(
        "--target-prefix", default="bench_target", help="PostgreSQL targets: PREFIX_limit, PREFIX_migrator"
    )
    parser.add_argument("--sqlite-source", type=Path, help="SQLite source file (default WORKDIR/source.db, exported)")
    parser.add_argument("--workdir", type=Path, help="SQLite files, plan state, queries (default: a temporary folder)")
    parser.add_argument("--parallel", type=int, default=2, help="pg-pg limit: tables piped at once (default 2)")
    parser.add_argument(
        "--limit-format",
        choices=["text", "binary"],
        default="text",
        help="pg-pg limit: COPY's format in its psql pipes (default text, the limit the bars are set against)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds any other stage may take (default 600)")
    parser.add_argument("--run-timeout", type=float, default=1800, help="seconds the first migrator run may take")
    parser.add_argument("--profile", type=Path, help="profile the pg-pg migrator run with py-spy into this folder")
    parser.add_argument(
        "--migrator-from", type=Path, default=REPO, help="folder with the migrator package to run (default: the repo)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument(
        "--no-docs", action="store_true", help="do not rewrite the results section of docs/benchmarks.md"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each path this many times and report the medians (default 1)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and files the run made")
    args = parser.parse_args(argv)
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = sorted(set(args.paths) - set(PATHS))
    if unknown:
        parser.error(f"unknown path(s): {', '.join(unknown)}; choose from {', '.join(PATHS)}")
    return args


def byte_compiled(migrator_from: Path) -> None:
    """migrator's modules compiled to bytecode before anything is timed, as `pip install` leaves an
    installed package. Without it, a checkout run with PYTHONDONTWRITEBYTECODE set (as on this
    machine) compiles every module it imports again on every run: 0.1-0.15 s of each run's start."""
    compileall.compile_dir(migrator_from / "migrator", quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="migrator-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    made_workdir = args.workdir is None
    generated = exported = False
    if args.sqlite_source is None:
        args.sqlite_source = workdir / "source.db"
    args.migrator_from = args.migrator_from.resolve()
    byte_compiled(args.migrator_from)
    env = {**os.environ, "PYTHONPATH": str(args.migrator_from)}
    features = migrator_features(env, args.migrator_from)
    report: dict[str, Any] = {"scale": args.scale, "command": command, "migrator": features.version}
    options = []
    options.append("--no-verify (verify timed on its own)" if features.no_verify else "no --no-verify option")
    if args.workers:
        options.append(
            f"--workers {args.workers}" if features.workers else "--workers asked for, but run has no such option"
        )
    else:
        options.append("default workers" if features.workers else "no --workers option")
    report["migrator_options"] = ", ".join(options)
    results: list[PathResult] = []
    runner = Runner(args, workdir, features)
    try:
        source: dict[str, Any] = {}
        if args.skip_generate:
            if not pg_exists(args.source_url):
                raise SystemExit(f"--skip-generate: the source {args.source_url} does not exist; run bench/generate.py")
            print(f"using the existing source {args.source_url}")
        else:
            print(f"generating scale {args.scale} into {args.source_url}", flush=True)
            started = time.monotonic()
            generated = True
            generate.generate(args.source_url, args.scale)
            source["generate_seconds"] = round(time.monotonic() - started, 3)
        with psycopg.connect(args.source_url) as conn:
            source["tables"] = {
                t.name: int(conn.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0])  # type: ignore[index]
                for t in schema.TABLES
            }
        source["rows"] = sum(source["tables"].values())
        report["source"] = source
        report["machine"] = machine(args.source_url)
        print(f"source: {source['rows']:,} rows; migrator {features.version}; workdir {workdir}", flush=True)
        if "sqlite-sqlite" in args.paths and (generated or not args.sqlite_source.exists()):
            print(f"exporting the source to SQLite: {args.sqlite_source}", flush=True)
            started = time.monotonic()
            exported = True
            export_sqlite.export(args.source_url, args.sqlite_source)
            source["export_seconds"] = round(time.monotonic() - started, 3)
        for path in args.paths:
            runs = []
            for repetition in range(args.repeat):
                if args.repeat > 1:
                    print(f"\n-- {path}: run {repetition + 1} of {args.repeat}", flush=True)
                try:
                    runs.append(runner.run_path(path))
                finally:
                    if not args.keep:
                        runner.drop_targets(path)
            results.append(median_result(runs))
            record(args, report, results)  # after each path: a stopped run still leaves what it measured
    finally:
        if not args.keep:
            if generated:
                generate.drop_database(args.source_url)
            if exported:
                args.sqlite_source.unlink(missing_ok=True)
            if made_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
        elif results:
            print(f"kept: {args.source_url}, {args.target_prefix}_* databases, {workdir}")

    print()
    print(text_table(HEADERS, summary_rows(results)))
    print()
    print(text_table(STAGE_HEADERS, stage_rows(results)))
    print()
    for line in bars(results):
        print(line)
    for line in repetition_lines(results):
        print(f"runs (limit s / migrator s (limit/migrator, plan over its floor)): {line}")
    record(args, report, results)
    if not args.no_docs:
        print(f"\nwrote {DOCS.relative_to(REPO)}")
    failures = [f"{r.path}: {f}" for r in results for f in r.failed()]
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
