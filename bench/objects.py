"""The object benchmark: migrator against rclone and the AWS CLI, local folder <-> S3 (SeaweedFS).

    python bench/objects.py                          # 4 x 64 MiB + 2,000 x 256 KiB, once
    python bench/objects.py --large 1 --small 50     # a smoke run in seconds

The workload: `--large` objects of `--large-mib` MiB and `--small` objects of `--small-kib` KiB, random
bytes, written into a local folder. A SeaweedFS server (tests/seaweedfs_server.py, the one the tests
start) runs on free 127.0.0.1 ports for the whole benchmark. Two directions:

- up:   the local folder -> a fresh, empty bucket;
- down: a bucket holding the same objects (uploaded once with boto3, not timed) -> a fresh, empty folder.

Each tool copies each direction into its own fresh target, in the same run, in a rotating order per
repetition (so that no tool always goes first); each copy is one process, timed, with its peak RSS
(os.wait4's rusage of that process: rclone and the AWS CLI are one process each, and so is
`python -m migrator`). After each copy the target is checked: every object there, with the right size,
and the SHA-256 of the large ones and of every 100th small one equal to the source's. A copy that
fails, or leaves a wrong target, fails the benchmark (exit 1), loudly.

The tools, each with its defaults unless `--concurrency N` gives all three the same number of
objects in flight:

- rclone (Debian package): `rclone copy SRC DST --checksum --s3-no-check-bucket`, an S3 remote
  configured by environment variables (provider Other, path style, the endpoint and keys), an empty
  config file. Defaults: 4 transfers, 8 checkers, multipart above 200 MiB in 5 MiB chunks, 4 parts at
  once, single-stream downloads under 250 MiB; it checks each upload's MD5 against the ETag and stores
  the MD5 of a multipart upload as metadata. `--concurrency N`: `--transfers N`.
- AWS CLI (pip awscli): `aws s3 cp SRC DST --recursive --only-show-errors --endpoint-url URL`, path-style
  addressing and the keys from a temporary config. Defaults: 10 requests at once, multipart above 8 MiB
  in 8 MiB parts. `--concurrency N`: `max_concurrent_requests = N`.
- migrator: `python -m migrator run PLAN` on a generated plan (one `artifacts` entry selecting
  everything), verification on (the default: the target listed after the copy, every object in it
  with its size, as the version the copy wrote, whose SHA-256 was checked as it was written).
  Defaults: 16 objects at once, multipart above 8 MiB in 8 MiB parts, 4 parts of an object at once.
  `--concurrency N`: `--workers N`, when `run` has that option.

Reported per direction and tool: MB/s (10^6 bytes per second of wall time, the median over
`--repeat` runs), seconds, peak RSS (the largest), and migrator's MB/s over the faster of rclone and
the AWS CLI (the bar: at least 0.8).

Durability, downloads only: every copy starts with nothing waiting to be written (an untimed `sync`
before it), and after it a timed `sync` says how long its files took to reach the disk. migrator
flushes its files before it writes their manifest lines and its receipt, so its copy is on disk when
it ends and its `sync` finds little to do; rclone and the AWS CLI leave their files in the page cache,
where a crash loses them (and where, in this benchmark, they never reach the disk at all: the folder
is removed before the kernel writes them back). The report gives the ratio the bar is on (the tools'
own times) and, beside it, the ratio with every copy on disk (each time plus its `sync`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from object_workload import REPO, Endpoint, SeaweedFS, Workload, check_bucket, check_folder, generate_workload
from run import Measured, byte_compiled, measure, text_table

RATIO_BAR = 0.8  # issue 13: migrator at least 0.8x the faster of rclone and the AWS CLI
TOOLS = ("rclone", "aws", "migrator")
DIRECTIONS = ("up", "down")  # local -> S3, S3 -> local
MB = 1_000_000
REGION = "us-east-1"


# --- the tools --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    """One copy: a direction, its source and its fresh target (a bucket or a folder)."""

    direction: str
    local: Path  # the source folder (up) or the target folder (down)
    bucket: str  # the target bucket (up) or the source bucket (down)


class Tools:
    """The command line (and environment) of each tool for a leg."""

    def __init__(self, endpoint: Endpoint, workdir: Path, args: argparse.Namespace):
        self.endpoint = endpoint
        self.workdir = workdir
        self.concurrency: int | None = args.concurrency
        self.timeout: float = args.timeout
        self.migrator_from: Path = args.migrator_from
        self.base_env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "RCLONE_"))}
        self.migrator_workers = self.concurrency is not None and "--workers" in self._migrator_run_help()

    def _migrator_run_help(self) -> str:
        done = measure([sys.executable, "-m", "migrator", "run", "--help"], self._migrator_env(), 60)
        return done.stdout

    def run(self, tool: str, leg: Leg) -> Measured:
        command, env = getattr(self, f"_{tool}")(leg)
        return measure(command, env, self.timeout, cwd=self.workdir)

    def _rclone(self, leg: Leg) -> tuple[list[str], dict[str, str]]:
        config = self.workdir / "rclone.conf"
        config.write_text("", encoding="utf-8")  # the user's own remotes stay out of it
        env = {
            **self.base_env,
            "RCLONE_CONFIG_BENCH_TYPE": "s3",
            "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
            "RCLONE_CONFIG_BENCH_ENDPOINT": self.endpoint.url,
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": self.endpoint.creds.access_key,
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": self.endpoint.creds.secret_key,
            "RCLONE_CONFIG_BENCH_REGION": REGION,
            "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
        }
        remote = f"bench:{leg.bucket}"
        source, target = (str(leg.local), remote) if leg.direction == "up" else (remote, str(leg.local))
        command = ["rclone", "--config", str(config), "copy", source, target, "--checksum", "--s3-no-check-bucket"]
        if self.concurrency:
            command += ["--transfers", str(self.concurrency)]
        return command, env

    def _aws(self, leg: Leg) -> tuple[list[str], dict[str, str]]:
        config = self.workdir / "aws.config"
        lines = ["[default]", f"region = {REGION}", "s3 =", "    addressing_style = path"]
        if self.concurrency:
            lines.append(f"    max_concurrent_requests = {self.concurrency}")
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {
            **self.base_env,
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_ACCESS_KEY_ID": self.endpoint.creds.access_key,
            "AWS_SECRET_ACCESS_KEY": self.endpoint.creds.secret_key,
        }
        remote = f"s3://{leg.bucket}/"
        source, target = (str(leg.local), remote) if leg.direction == "up" else (remote, str(leg.local))
        command = ["aws", "s3", "cp", source, target, "--recursive", "--only-show-errors"]
        return [*command, "--endpoint-url", self.endpoint.url], env

    def _migrator_env(self) -> dict[str, str]:
        return {
            **self.base_env,
            "PYTHONPATH": str(self.migrator_from),
            "BENCH_S3_KEY_ID": self.endpoint.creds.access_key,
            "BENCH_S3_SECRET": self.endpoint.creds.secret_key,
        }

    def _migrator(self, leg: Leg) -> tuple[list[str], dict[str, str]]:
        plan = self.workdir / "plans" / f"{leg.direction}-{leg.bucket}.yaml"
        plan.parent.mkdir(parents=True, exist_ok=True)
        plan.write_text(migrator_plan(leg, self.endpoint.url, self.workdir / "state"), encoding="utf-8")
        command = [sys.executable, "-m", "migrator", "run", str(plan)]
        if self.migrator_workers:
            command += ["--workers", str(self.concurrency)]
        return command, self._migrator_env()


def migrator_plan(leg: Leg, endpoint_url: str, state_root: Path) -> str:
    s3 = {
        "endpoint_url": endpoint_url,
        "region": REGION,
        "access_key_id": "${BENCH_S3_KEY_ID}",
        "secret_access_key": "${BENCH_S3_SECRET}",
        "addressing_style": "path",
    }
    bucket_side = {"objects": f"s3://{leg.bucket}/", "s3": s3}
    folder_side = {"objects": str(leg.local)}
    name = f"bench-objects-{leg.direction}-{leg.bucket}"
    plan = {
        "version": 1,
        "name": name,
        "source": folder_side if leg.direction == "up" else bucket_side,
        "target": bucket_side if leg.direction == "up" else folder_side,
        # A state folder of its own for each copy: each is a first copy into an empty target, as the other
        # tools' are; with one state for every repetition, a later copy began from the earlier ones' records.
        "state": str(state_root / f"{name}-{uuid.uuid4().hex[:8]}"),
        "artifacts": [{"prefix": ""}],  # every object
    }
    return json.dumps(plan, indent=2) + "\n"  # JSON is YAML


# --- one benchmark run ------------------------------------------------------------------------------


@dataclass
class Result:
    direction: str
    tool: str
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    synced: list[float] = field(default_factory=list)  # downloads: each copy's time plus its files' `sync`
    failure: str | None = None

    def mb_per_s(self, total_bytes: int) -> float | None:
        if self.failure or not self.seconds:
            return None
        return total_bytes / MB / statistics.median(self.seconds)


def run_leg(tools: Tools, endpoint: Endpoint, workload: Workload, source_bucket: str, direction: str, tool: str,
            workdir: Path, log: Callable[[str], None]) -> tuple[Measured | None, str | None]:  # fmt: skip
    """Copy once into a fresh target, check it, remove it; (the measurement, what went wrong or None)."""
    if direction == "up":
        leg = Leg(direction, workload.folder, endpoint.new_bucket(f"up-{tool}"))
    else:
        target = workdir / "targets" / f"{tool}-{uuid.uuid4().hex[:8]}"
        target.mkdir(parents=True)
        leg = Leg(direction, target, source_bucket)
    try:
        os.sync()  # nothing of an earlier copy (or of the server) waits to be written during this one
        measured = tools.run(tool, leg)
        if not measured.ok:
            return measured, f"{tool} failed: {measured.failure()}"
        if direction == "down":
            started = time.monotonic()
            os.sync()  # how long the copy's files took to reach the disk after the tool said it was done
            measured.synced = measured.seconds + (time.monotonic() - started)
        wrong = check_bucket(endpoint, leg.bucket, workload) if direction == "up" else check_folder(leg.local, workload)
        if wrong:
            return measured, f"{tool} {direction}: the target is wrong: {wrong}"
        on_disk = f"  ({measured.synced:.2f} s with its files on disk)" if measured.synced is not None else ""
        log(f"  {direction:4} {tool:8} {measured.seconds:7.2f} s  {measured.max_rss_mb:7.1f} MB RSS{on_disk}")
        return measured, None
    finally:
        if direction == "up":
            endpoint.drop_bucket(leg.bucket)
        else:
            shutil.rmtree(leg.local, ignore_errors=True)


def benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    log = lambda message: print(message, flush=True)  # noqa: E731
    started = time.monotonic()
    workload = generate_workload(workdir / "source", args.large, args.large_mib, args.small, args.small_kib)
    log(f"workload: {len(workload.sizes):,} objects, {workload.total_bytes / MB:,.1f} MB in {workdir / 'source'}"
        f" ({time.monotonic() - started:.1f} s)")  # fmt: skip
    server = SeaweedFS.start(workdir / "seaweedfs")
    try:
        endpoint = Endpoint(server)
        log(f"SeaweedFS at {endpoint.url}")
        source_bucket = endpoint.new_bucket("down-source")
        endpoint.upload(workload, source_bucket)
        tools = Tools(endpoint, workdir, args)
        results = {(d, t): Result(d, t) for d in args.directions for t in args.tools}
        for repetition in range(args.repeat):
            log(f"repetition {repetition + 1} of {args.repeat}")
            order = args.tools[repetition % len(args.tools) :] + args.tools[: repetition % len(args.tools)]
            for direction in args.directions:
                for tool in order:
                    result = results[(direction, tool)]
                    if result.failure:
                        continue
                    measured, failure = run_leg(tools, endpoint, workload, source_bucket, direction, tool, workdir, log)
                    if failure:
                        result.failure = failure
                        log(f"  FAILED {failure}")
                    elif measured:
                        result.seconds.append(measured.seconds)
                        result.rss_mb.append(measured.max_rss_mb)
                        if measured.synced is not None:
                            result.synced.append(measured.synced)
        endpoint.drop_bucket(source_bucket)
    finally:
        server.stop()
    return report(args, workload, list(results.values()), tools.migrator_workers)


def report(args: argparse.Namespace, workload: Workload, results: list[Result], workers: bool) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for result in results:
        rate = result.mb_per_s(workload.total_bytes)
        rows.append(
            {
                "direction": result.direction,
                "tool": result.tool,
                "mb_per_s": None if rate is None else round(rate, 1),
                "seconds": [round(s, 2) for s in result.seconds],
                "peak_rss_mb": max(result.rss_mb) if result.rss_mb else None,
                "seconds_on_disk": [round(s, 2) for s in result.synced],
                "failure": result.failure,
            }
        )
    ratios: dict[str, float | None] = {}
    on_disk: dict[str, float | None] = {}
    for direction in args.directions:
        finished = [r for r in results if r.direction == direction and not r.failure]
        ratios[direction] = _migrator_over_faster({r.tool: r.seconds for r in finished})
        on_disk[direction] = _migrator_over_faster({r.tool: r.synced for r in finished})
    return {
        "workload": {
            "objects": len(workload.sizes),
            "bytes": workload.total_bytes,
            "large": [args.large, args.large_mib],
            "small": [args.small, args.small_kib],
        },
        "repeat": args.repeat,
        "concurrency": args.concurrency or "each tool's default",
        "migrator_workers_option": workers,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "results": rows,
        "migrator_over_faster": ratios,
        "migrator_over_faster_on_disk": on_disk,
        "bar": RATIO_BAR,
    }


def _migrator_over_faster(seconds: dict[str, list[float]]) -> float | None:
    """The faster of rclone's and the AWS CLI's median times over migrator's (its speed over theirs),
    from each tool's runs; None without migrator's runs or both others'."""
    medians = {tool: statistics.median(runs) for tool, runs in seconds.items() if runs}
    others = [medians[tool] for tool in ("rclone", "aws") if tool in medians]
    return round(min(others) / medians["migrator"], 2) if "migrator" in medians and others else None


def print_report(summary: dict[str, Any]) -> None:
    headers = ["direction", "tool", "MB/s", "seconds (each run)", "with files on disk", "peak RSS MB", ""]
    table = [
        [
            {"up": "local -> S3", "down": "S3 -> local"}[row["direction"]],
            row["tool"],
            "-" if row["mb_per_s"] is None else f"{row['mb_per_s']:.1f}",
            " ".join(f"{s:.2f}" for s in row["seconds"]) or "-",
            " ".join(f"{s:.2f}" for s in row["seconds_on_disk"]) or "-",
            "-" if row["peak_rss_mb"] is None else f"{row['peak_rss_mb']:.0f}",
            "FAILED (below)" if row["failure"] else "",
        ]
        for row in summary["results"]
    ]
    workload = summary["workload"]
    print(f"\n{workload['objects']:,} objects, {workload['bytes'] / MB:,.1f} MB; concurrency: {summary['concurrency']}")
    print(text_table(headers, table))
    for row in summary["results"]:
        if row["failure"]:
            print(f"FAILED {row['direction']} {row['tool']}: {row['failure']}")
    for direction, ratio in summary["migrator_over_faster"].items():
        if ratio is None:
            print(f"{direction}: no ratio (migrator, or both rclone and aws, did not finish or did not run)")
        else:
            verdict = "meets" if ratio >= RATIO_BAR else "MISSES"
            print(f"{direction}: migrator / faster of rclone and aws = {ratio:.2f} ({verdict} the {RATIO_BAR} bar)")
            durable = summary["migrator_over_faster_on_disk"].get(direction)
            if durable is not None:
                print(f"{direction}: the same with every copy's files on disk (its time plus a sync) = {durable:.2f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", type=int, default=4, help="large objects (default 4)")
    parser.add_argument("--large-mib", type=int, default=64, help="size of a large object in MiB (default 64)")
    parser.add_argument("--small", type=int, default=2000, help="small objects (default 2000)")
    parser.add_argument("--small-kib", type=int, default=256, help="size of a small object in KiB (default 256)")
    parser.add_argument("--repeat", type=int, default=1, help="copies per tool and direction; medians reported")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of {', '.join(TOOLS)} (all)")
    parser.add_argument("--directions", default=",".join(DIRECTIONS), help="up (local -> S3), down (S3 -> local)")
    parser.add_argument("--concurrency", type=int, help="objects in flight for every tool (default: each its own)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one copy may take (default 1800)")
    parser.add_argument("--workdir", type=Path, help="where the files and the server's data go (default: temporary)")
    parser.add_argument(
        "--migrator-from", type=Path, default=REPO, help="folder with the migrator package to run (default: the repo)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    args.migrator_from = args.migrator_from.resolve()
    byte_compiled(args.migrator_from)
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    args.directions = [d.strip() for d in args.directions.split(",") if d.strip()]
    if set(args.tools) - set(TOOLS) or set(args.directions) - set(DIRECTIONS) or not args.tools:
        parser.error(f"--tools: some of {', '.join(TOOLS)}; --directions: some of {', '.join(DIRECTIONS)}")
    for name in ("large", "small"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} must be 0 or more")
    missing = [tool for tool in args.tools if tool != "migrator" and shutil.which(tool) is None]
    if missing:
        parser.error(f"not on PATH: {', '.join(missing)} (rclone: apt install rclone; aws: pip install awscli)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="migrator-bench-objects-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        summary = benchmark(args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 1 if any(row["failure"] for row in summary["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
