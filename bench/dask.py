"""The Dask benchmark: `migrator run --executor dask` next to `--executor local` and the COPY limit.

    python bench/dask.py --scale 0.3

In one run on one machine, on the benchmark's PostgreSQL data (bench/generate.py) and plan
(bench/plan.yaml), each into a fresh target database:

1. the COPY limit (bench/limits.py pg-pg, as bench/run.py runs it);
2. `migrator run bench/plan.yaml --executor local`, with the default workers and with `--workers 1`;
3. `migrator run bench/plan.yaml --executor dask --workers N` for N in `--dask-workers` (1, 2, 4):
   a LocalCluster of N worker processes, started by migrator itself;
4. the local and Dask runs again through a delaying TCP proxy (bench/delay_proxy.py) between
   migrator (its client and its workers) and PostgreSQL, adding `--rtt-ms` (1 and 5) to each round
   trip: latency that more workers can hide;
5. Dask's cost per unit: a source of `--units` (2,000) tables of a few rows, each table one unit,
   copied with `--executor local --workers 2` and `--executor dask --workers 2`.

Each run is timed, with the CPU seconds of each group of processes (bench/cpu_meter.py): migrator's
client process, its Dask workers, its helpers (pg_dump, pg_restore), the PostgreSQL backends of the
source database and of the target database, the rest of the server, and the proxy. Every target is
compared with the first local run's (per table a row count and an order-independent checksum, as
bench/run.py does); a difference fails the benchmark (exit 1).

Prints the tables, writes `--json FILE`, and rewrites the Dask section of docs/benchmarks.md (between
its markers). Databases it creates are dropped and the proxy stopped at the end, unless `--keep`.
(This file is named for what it measures; it imports no Dask, and nothing in bench/ imports `dask`, so
that its name shadows nothing.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dask_units
import generate
import psycopg
import social_schema
from cpu_meter import CpuRun, run_with_cpu
from psycopg.conninfo import conninfo_to_dict
from run import (
    BENCH,
    DOCS,
    PLAN,
    REPO,
    byte_compiled,
    dbname_of,
    drop_pg,
    machine,
    markdown_table,
    measure,
    pg_exists,
    pg_fingerprints,
    pg_url_for,
    recreate_pg,
    sqlalchemy_url,
    text_table,
)

START_MARKER = "<!-- bench:dask:start -->"
END_MARKER = "<!-- bench:dask:end -->"
DEFAULT_SOURCE = "postgresql://postgres@127.0.0.1/bench_dask_src"
PARTS = ("direct", "proxy", "latency", "units")
CPU_GROUPS = ("client", "workers", "helpers", "source", "target", "server, other", "proxy")


@dataclass
class Row:
    setup: str  # "direct" or "+N ms RTT"; "units" for the cost per unit
    run: str  # "COPY limit", "local --workers 1", "dask --workers 2", ...
    command: str
    seconds: float | None = None
    status: str = "ok"  # ok, or why not
    cpu: dict[str, float] = field(default_factory=dict)
    helpers: dict[str, float] = field(default_factory=dict)  # each helper process's CPU seconds (in the JSON)
    same_rows: str = "-"  # reference, same, DIFFERS: ..., or - (not checked)
    rows: int | None = None
    rounds: list[float] = field(default_factory=list)  # with --repeat: each round's wall time
    part: str = "main"  # main (the benchmark's data), latency (many small units), units (the cost per unit)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and not self.same_rows.startswith("DIFFERS")


def _with_port(url: str, port: int) -> str:
    params = conninfo_to_dict(url)
    return f"postgresql://{params.get('user', 'postgres')}@127.0.0.1:{port}/{params['dbname']}"


@contextmanager
def delaying_proxy(rtt_ms: float, upstream_port: int) -> Iterator[tuple[int, int]]:
    """bench/delay_proxy.py on a free port: yields (port, pid); stopped (SIGTERM) on the way out."""
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "delay_proxy.py"), "--rtt-ms", str(rtt_ms), "--upstream-port", str(upstream_port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise SystemExit(f"the delaying proxy did not start: {line!r}")
        yield int(line.split()[-1]), proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def added_round_trip_ms(url: str, port: int, queries: int = 50) -> float:
    """What the proxy adds to one round trip (`SELECT 1`), median of `queries`, as measured here."""

    def median_ms(target: str) -> float:
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("SELECT 1")
            times = []
            for _ in range(queries):
                started = time.perf_counter()
                conn.execute("SELECT 1").fetchone()
                times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    return round(median_ms(_with_port(url, port)) - median_ms(url), 2)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.source = args.source_url
        self.target = pg_url_for(args.source_url, args.target_db)
        self.upstream_port = int(conninfo_to_dict(args.source_url).get("port") or 5432)
        self.env = {**os.environ, "PYTHONPATH": str(args.migrator_from), "PYTHONUNBUFFERED": "1"}
        self.tables: list[str] = []
        # The first local run's target, per source: the main data, and the cost-per-unit tables.
        self.references: dict[str, dict[str, list[int]]] = {}
        self.rows: list[Row] = []

    def log(self, message: str) -> None:
        print(message, flush=True)

    def databases(self, source: str) -> dict[str, str]:
        return {dbname_of(source): "source", dbname_of(self.target): "target"}

    def fresh_target(self) -> None:
        recreate_pg(self.target)
        shutil.rmtree(self.workdir / "state", ignore_errors=True)

    # --- the COPY limit ------------------------------------------------------------------------------

    def subset_queries(self) -> Path:
        """The subset SQL of each copied table, from the dry run (as bench/run.py takes it)."""
        self.fresh_target()
        env = self.migrator_env(self.source, self.target)
        plan = measure([sys.executable, "-m", "migrator", "plan", str(PLAN), "--format", "json"], env, 900)
        document = plan.json_out() if plan.ok else None
        if not document:
            raise SystemExit(f"migrator plan failed: {plan.failure()}")
        queries = {t["table"]: t["sql"] for t in document["tables"] if t.get("sql")}
        sizes = {t["table"]: t.get("rows") for t in document["tables"] if t.get("sql")}
        self.tables = list(queries)
        spec = self.workdir / "queries.json"
        spec.write_text(json.dumps({"tables": queries, "rows": sizes}), encoding="utf-8")
        return spec

    def limit(self, spec: Path) -> None:
        self.fresh_target()
        command = [sys.executable, str(BENCH / "limits.py"), "pg-pg", "--source", self.source]
        command += ["--target", self.target, "--queries", str(spec), "--parallel", "2"]
        row = Row("direct", "COPY limit", "python bench/limits.py pg-pg ... --parallel 2")
        self.log("  COPY limit ...")
        measured = run_with_cpu(command, self.env, REPO, self.args.timeout, self.databases(self.source))
        self.finish(row, measured, self.tables)

    # --- migrator runs -------------------------------------------------------------------------------

    def migrator_env(self, source: str, target: str) -> dict[str, str]:
        return {
            **self.env,
            "BENCH_SOURCE_URL": sqlalchemy_url(source),
            "BENCH_TARGET_URL": sqlalchemy_url(target),
            "BENCH_STATE_DIR": str(self.workdir / "state"),
        }

    def migrator(
        self,
        setup: str,
        executor: str,
        workers: int | None,
        *,
        plan: Path = PLAN,
        source: str | None = None,
        tables: list[str] | None = None,
        proxy: tuple[int, int] | None = None,
        part: str = "main",
    ) -> Row:
        """One `migrator run` into a fresh target, optionally through the proxy (port, pid)."""
        source = source or self.source
        tables = self.tables if tables is None else tables
        options = ["--executor", executor] + (["--workers", str(workers)] if workers else [])
        run = f"{executor} " + (f"--workers {workers}" if workers else "(default workers)")
        command = [sys.executable, "-m", "migrator", "run", str(plan), "--format", "json", "--no-verify", *options]
        shown = shlex.join(["migrator", "run", str(plan.relative_to(REPO) if plan.is_relative_to(REPO) else plan.name)])
        row = Row(setup, run, f"{shown} --no-verify {' '.join(options)}", part=part)
        self.fresh_target()
        reach_source, reach_target = source, self.target
        extra = {}
        if proxy:
            reach_source, reach_target = _with_port(source, proxy[0]), _with_port(self.target, proxy[0])
            extra = {"proxy": proxy[1]}
        self.log(f"  [{setup}] {row.command} ...")
        measured = run_with_cpu(
            command,
            self.migrator_env(reach_source, reach_target),
            REPO,
            self.args.timeout,
            self.databases(source),
            extra,
        )
        self.finish(row, measured, tables)
        return row

    def finish(self, row: Row, measured: CpuRun, tables: list[str]) -> None:
        """Record the run, and compare its target with the reference (the first local run's)."""
        row.seconds = measured.seconds
        row.cpu = measured.cpu
        row.helpers = measured.helpers
        if not measured.ok:
            row.status = measured.failure()
        else:
            prints = pg_fingerprints(self.target, tables)
            row.rows = sum(count for count, _ in prints.values())
            reference = self.references.get(row.part)
            if reference is None and row.run.startswith("local"):
                self.references[row.part] = prints
                row.same_rows = "reference"
            elif reference is not None:
                differ = [t for t in tables if prints[t] != reference[t]]
                row.same_rows = "same" if not differ else "DIFFERS: " + ", ".join(differ[:5])
        self.rows.append(row)
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in measured.cpu.items() if v >= 0.05)
        self.log(f"    {row.status} in {measured.seconds:.1f} s; CPU s: {cpu}; rows: {row.same_rows}")
        drop_pg(self.target)

    # --- latency on many small units -----------------------------------------------------------------

    def latency(self, report: dict[str, Any]) -> None:
        """`--latency-tables` tables of `--latency-rows` rows committed every `--latency-chunk-rows`,
        direct and through each proxy, each configuration back to back: most of a run is chunks
        committed one after the other, each a few round trips (the rows, the mark, the commit),
        which only units in parallel can overlap; the client's own serial round trips (reading the
        schemas, creating the tables) stay few."""
        tables, rows = self.args.latency_tables, self.args.latency_rows
        source = pg_url_for(self.source, self.args.latency_db)
        self.log(f"\n== latency: {tables} tables of {rows:,} rows in {dbname_of(source)}")
        dask_units.make_source(source, tables, rows)
        plan = self.workdir / "latency-plan.yaml"
        dask_units.write_plan(plan, tables, self.args.latency_chunk_rows)
        names = dask_units.table_names(tables)
        try:
            with ExitStack() as stack:
                proxies = {
                    rtt: stack.enter_context(delaying_proxy(rtt, self.upstream_port)) for rtt in self.args.rtt_ms
                }
                for rtt, (port, _) in proxies.items():
                    added = added_round_trip_ms(source, port)
                    report.setdefault("proxy_measured_ms", {}).setdefault(str(rtt), []).append(added)
                for executor, workers in configurations(self.args):
                    self.log(f"\n-- {executor} --workers {workers}")
                    common: dict[str, Any] = {"plan": plan, "source": source, "tables": names, "part": "latency"}
                    self.migrator("direct", executor, workers, **common)
                    for rtt, proxy in proxies.items():
                        self.migrator(f"+{rtt} ms RTT", executor, workers, proxy=proxy, **common)
        finally:
            if not self.args.keep:
                drop_pg(source)

    # --- Dask's cost per unit ------------------------------------------------------------------------

    def units(self) -> list[Row]:
        units_source = pg_url_for(self.source, self.args.units_db)
        self.log(f"\n== cost per unit: {self.args.units} tables of 3 rows in {dbname_of(units_source)}")
        dask_units.make_source(units_source, self.args.units, 3)
        plan = self.workdir / "units-plan.yaml"
        dask_units.write_plan(plan, self.args.units)
        names = dask_units.table_names(self.args.units)
        try:
            rows = [
                self.migrator("units", executor, 2, plan=plan, source=units_source, tables=names, part="units")
                for executor in ("local", "dask")
            ]
        finally:
            if not self.args.keep:
                drop_pg(units_source)
        return rows


# --- reporting --------------------------------------------------------------------------------------


def _s(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


MAIN_HEADERS = [
    "run",
    "setup",
    "wall s",
    "each round s",
    "limit/run",
    "latency cost s",
    *[f"CPU s: {g}" for g in CPU_GROUPS],
    "same rows",
]


def main_rows(rows: list[Row], part: str = "main") -> list[list[str]]:
    """The table of a part. The latency cost of a run through the proxy is its wall time less the
    same run's direct one: what the added round trips cost it, apart from its fixed costs."""
    rows = [r for r in rows if r.part == part]
    limit = next((r.seconds for r in rows if r.run == "COPY limit" and r.ok), None)
    direct = {r.run: r.seconds for r in rows if r.setup == "direct" and r.ok}
    table = []
    for r in rows:
        ratio = _s(limit / r.seconds, 2) if limit and r.seconds and r.ok else "-"
        base = direct.get(r.run)
        latency = _s(r.seconds - base) if r.setup != "direct" and r.ok and r.seconds and base else "-"
        wall = _s(r.seconds) if r.status == "ok" else f"{r.status[:60]}"
        rounds = ", ".join(_s(x) for x in r.rounds) if len(r.rounds) > 1 else "-"
        cpu = [_s(r.cpu.get(g)) if g != "proxy" or r.setup != "direct" else "-" for g in CPU_GROUPS]
        table.append([r.run, r.setup, wall, rounds, ratio, latency, *cpu, r.same_rows])
    return table


UNIT_HEADERS = [
    "executor",
    "units",
    "wall s",
    "client CPU s",
    "workers CPU s",
    "source CPU s",
    "target CPU s",
    "same rows",
]


def unit_rows(rows: list[Row], units: int) -> tuple[list[list[str]], dict[str, float | None]]:
    by_executor = {r.run.split()[0]: r for r in rows if r.part == "units"}
    table = [
        [
            r.run,
            f"{units:,}",
            _s(r.seconds) if r.status == "ok" else r.status[:60],
            _s(r.cpu.get("client")),
            _s(r.cpu.get("workers")),
            _s(r.cpu.get("source")),
            _s(r.cpu.get("target")),
            r.same_rows,
        ]
        for r in by_executor.values()
    ]
    local, dask = by_executor.get("local"), by_executor.get("dask")
    per_unit: dict[str, float | None] = {"wall_ms": None, "client_cpu_ms": None, "local_client_cpu_ms": None}
    if local and dask and local.ok and dask.ok and local.seconds and dask.seconds:
        per_unit["wall_ms"] = round((dask.seconds - local.seconds) / units * 1000, 2)
        per_unit["client_cpu_ms"] = round(dask.cpu["client"] / units * 1000, 2)
        per_unit["local_client_cpu_ms"] = round(local.cpu["client"] / units * 1000, 2)
        per_unit["workers_cpu_ms"] = round(dask.cpu["workers"] / units * 1000, 2)
    return table, per_unit


def per_unit_line(per_unit: dict[str, float | None], units: int) -> str:
    if per_unit["wall_ms"] is None:
        return "Dask's cost per unit: not measured (a run failed)."
    return (
        f"Dask's cost per unit ({units:,} units, 2 workers): (dask wall - local wall) / units = "
        f"**{per_unit['wall_ms']:.1f} ms**; the client's CPU {per_unit['client_cpu_ms']:.1f} ms per unit "
        f"(local: {per_unit['local_client_cpu_ms']:.1f} ms), the workers' {per_unit['workers_cpu_ms']:.1f} ms."
    )


def markdown_section(report: dict[str, Any], rows: list[Row]) -> str:
    m = report["machine"]
    units_table, per_unit = unit_rows(rows, report["units"])
    lines = [
        START_MARKER,
        f"### Latest run: {m['date']}",
        "",
        f"- command: `{report['command']}`",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} memory; {m['load']}",
        f"- PostgreSQL {m['postgresql']}; Python {m['python']}; migrator {report['migrator']} "
        f"(`run --workers` defaults to {report['default_workers']})",
        f"- source: scale {report['scale']}, {report['source_rows']:,} rows; {report['copied_rows']:,} copied",
        "",
        "The benchmark's data and plan (bench/plan.yaml):",
        "",
        markdown_table(MAIN_HEADERS, main_rows(rows)) if main_rows(rows) else "(not run)",
        "",
        f"Latency: {report['latency']['tables']} tables of {report['latency']['rows']:,} rows, committed every "
        f"{report['latency']['chunk_rows']:,} rows, each configuration direct and through each proxy back to back:",
        "",
        markdown_table(MAIN_HEADERS, main_rows(rows, "latency")) if main_rows(rows, "latency") else "(not run)",
        "",
        *(
            [
                "A `SELECT 1` through the proxy took "
                + ", ".join(
                    f"{statistics.median(v):.2f} ms longer at +{k} ms" for k, v in report["proxy_measured_ms"].items()
                )
                + " (median of 50, against direct): asyncio's timers and a loaded machine add to the delay.",
                "",
            ]
            if report.get("proxy_measured_ms")
            else []
        ),
        f"Cost per unit: {report['units']:,} tables of 3 rows, one unit each:",
        "",
        markdown_table(UNIT_HEADERS, units_table),
        "",
        per_unit_line(per_unit, report["units"]),
        "",
        END_MARKER,
    ]
    return "\n".join(lines)


def write_docs(section: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    if START_MARKER in text and END_MARKER in text:
        before, rest = text.split(START_MARKER, 1)
        text = before + section + rest.split(END_MARKER, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.write_text(text, encoding="utf-8")


# --- main -------------------------------------------------------------------------------------------


def _numbers(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.3, help="the data's scale (default 0.3: a few minutes)")
    parser.add_argument("--dask-workers", type=_numbers, default=[1, 2, 4], help="comma-separated (default 1,2,4)")
    parser.add_argument("--rtt-ms", type=_numbers, default=[1, 5], help="proxy delays per round trip (default 1,5)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)} (all)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of the direct and proxy runs; medians reported (default 1)"
    )
    parser.add_argument("--latency-tables", type=int, default=8, help="tables of the latency part (default 8)")
    parser.add_argument("--latency-rows", type=int, default=40_000, help="rows per table there (default 40,000)")
    parser.add_argument("--latency-chunk-rows", type=int, default=1000, help="its plan's chunk_rows (default 1000)")
    parser.add_argument("--latency-db", default="bench_dask_latency", help="the latency part's source database")
    parser.add_argument("--units", type=int, default=2000, help="tables of the cost-per-unit source (default 2000)")
    parser.add_argument("--source-url", default=DEFAULT_SOURCE, help=f"the source to generate ({DEFAULT_SOURCE})")
    parser.add_argument("--target-db", default="bench_dask_target", help="the target database, made fresh per run")
    parser.add_argument("--units-db", default="bench_dask_units", help="the cost-per-unit source database")
    parser.add_argument("--skip-generate", action="store_true", help="use the existing --source-url (not dropped)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one run may take (default 900)")
    parser.add_argument(
        "--migrator-from", type=Path, default=REPO, help="folder with the migrator package to run (default: the repo)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the Dask section of docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the source databases")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if unknown := sorted(set(args.parts) - set(PARTS)):
        parser.error(f"unknown part(s): {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    args.migrator_from = args.migrator_from.resolve()
    byte_compiled(args.migrator_from)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "bench/dask.py", *(sys.argv[1:] if argv is None else argv)])
    workdir = Path(tempfile.mkdtemp(prefix="migrator-bench-dask-"))
    bench = Bench(args, workdir)
    version = subprocess.run(
        [sys.executable, "-m", "migrator", "--version"], capture_output=True, text=True, env=bench.env, cwd=REPO
    ).stdout.strip()
    report: dict[str, Any] = {"scale": args.scale, "command": command, "units": args.units}
    report["latency"] = {
        "tables": args.latency_tables,
        "rows": args.latency_rows,
        "chunk_rows": args.latency_chunk_rows,
    }
    report["migrator"] = version.removeprefix("migrator ") or "?"
    report["default_workers"] = default_workers(bench.env)
    generated = False
    try:
        if not {"direct", "proxy"} & set(args.parts):
            pass  # the cost per unit alone: no benchmark data
        elif args.skip_generate:
            if not pg_exists(args.source_url):
                raise SystemExit(f"--skip-generate: {args.source_url} does not exist; run bench/generate.py")
        else:
            print(f"generating scale {args.scale} into {args.source_url}", flush=True)
            generated = True
            generate.generate(args.source_url, args.scale)
        report["machine"] = machine(args.source_url)
        if {"direct", "proxy"} & set(args.parts):
            report["source_rows"] = source_rows(args.source_url)
            spec = bench.subset_queries()
            for round_number in range(1, args.repeat + 1):
                print(f"\n== round {round_number} of {args.repeat}", flush=True)
                one_round(bench, args, spec, report)
            bench.rows = median_rows(bench.rows)
        if "latency" in args.parts:
            bench.latency(report)
        if "units" in args.parts:
            bench.units()
    finally:
        if not args.keep:
            drop_pg(bench.target)
            if generated:
                generate.drop_database(args.source_url)
        shutil.rmtree(workdir, ignore_errors=True)

    reference = next((r for r in bench.rows if r.same_rows == "reference"), None)
    report["copied_rows"] = reference.rows if reference and reference.rows else 0
    report.setdefault("source_rows", 0)
    report["rows"] = [asdict(r) for r in bench.rows]
    for part in ("main", "latency"):
        if main_rows(bench.rows, part):
            print()
            print(text_table(MAIN_HEADERS, main_rows(bench.rows, part)))
    units_table, per_unit = unit_rows(bench.rows, args.units)
    report["per_unit"] = per_unit
    if units_table:
        print()
        print(text_table(UNIT_HEADERS, units_table))
        print(per_unit_line(per_unit, args.units).replace("**", ""))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.no_docs:
        write_docs(markdown_section(report, bench.rows))
        print(f"\nwrote {DOCS.relative_to(REPO)}")
    failed = [f"{r.setup} {r.run}: {r.status} {r.same_rows}" for r in bench.rows if not r.ok]
    if failed:
        print("\nFAILED:\n  " + "\n  ".join(failed))
        return 1
    return 0


def one_round(bench: Bench, args: argparse.Namespace, spec: Path, report: dict[str, Any]) -> None:
    """Every run of the direct and proxy parts once; the first local run is the reference target.
    Each configuration runs direct and then through each proxy, back to back, so that its latency
    cost compares runs close in time on this shared machine, whose load drifts."""
    rtts = args.rtt_ms if "proxy" in args.parts else []
    print("\n-- the reference (local, default workers) and the COPY limit", flush=True)
    bench.migrator("direct", "local", None)
    if "direct" in args.parts:
        bench.limit(spec)
    with ExitStack() as stack:
        proxies = {rtt: stack.enter_context(delaying_proxy(rtt, bench.upstream_port)) for rtt in rtts}
        for rtt, (port, _) in proxies.items():
            added = added_round_trip_ms(args.source_url, port)
            report.setdefault("proxy_measured_ms", {}).setdefault(str(rtt), []).append(added)
            print(f"  a round trip through the +{rtt} ms proxy takes {added:.2f} ms longer than direct", flush=True)
        for executor, workers in configurations(args):
            print(f"\n-- {executor} --workers {workers}", flush=True)
            if "direct" in args.parts:
                bench.migrator("direct", executor, workers)
            for rtt, proxy in proxies.items():
                bench.migrator(f"+{rtt} ms RTT", executor, workers, proxy=proxy)


def configurations(args: argparse.Namespace) -> list[tuple[str, int]]:
    """The runs compared with and without the proxy: local with 1 and with the most workers, Dask with each N."""
    most = max(args.dask_workers)
    return list(dict.fromkeys([("local", 1), ("local", most), *[("dask", n) for n in args.dask_workers]]))


def median_rows(rows: list[Row]) -> list[Row]:
    """One row per (setup, run) over the rounds: the median wall time and CPU per group; a failure
    or a difference in any round shows."""
    grouped: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        grouped.setdefault((row.setup, row.run), []).append(row)
    merged = []
    for same in grouped.values():
        first = same[0]
        bad = next((r for r in same if not r.ok), None)
        seconds = [r.seconds for r in same if r.seconds is not None]
        row = Row(first.setup, first.run, first.command, rows=first.rows, rounds=seconds, part=first.part)
        row.seconds = round(statistics.median(seconds), 3) if seconds else None
        row.cpu = {g: round(statistics.median(r.cpu.get(g, 0.0) for r in same), 2) for g in first.cpu}
        row.helpers = first.helpers
        row.status = bad.status if bad else "ok"
        row.same_rows = (
            bad.same_rows
            if bad and bad.same_rows.startswith("DIFFERS")
            else ("reference" if any(r.same_rows == "reference" for r in same) else first.same_rows)
        )
        merged.append(row)
    return merged


def default_workers(env: dict[str, str]) -> str:
    """What `migrator run --workers` defaults to, as its help says (it may change with the engine)."""
    done = subprocess.run(
        [sys.executable, "-m", "migrator", "run", "--help"], capture_output=True, text=True, env=env, cwd=REPO
    )
    flat = " ".join(done.stdout.replace("│", " ").split())  # the help's box, unwrapped
    found = re.search(r"--workers .*?\[default: ([^\]]+)\]", flat)
    return found[1] if found else "?"


def source_rows(url: str) -> int:
    """The rows of the generated source, all tables together."""
    counts = " + ".join(f"(SELECT count(*) FROM {t.name})" for t in social_schema.TABLES)
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT {counts}").fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row else 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(code)
