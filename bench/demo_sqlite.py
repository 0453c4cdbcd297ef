"""The tutorial's larger demo, timed: the embedded default on a SQLite file with no statistics.

    python bench/demo_sqlite.py --users 30000

Generates the demo (`python -m migrator.demo.generate`, which runs no ANALYZE; any statistics are
dropped all the same unless `--analyze`), copies plans/demo.yaml next to it and times, each as a
process of its own with its peak RSS:

1. plan                      the dry run, exact counts;
2. run                       the whole run as the tutorial shows it, verification included;
3. run --no-verify           the copy alone, into a fresh target (the base of the shares below);
4. verify                    against the digests the run recorded;
5. verify --against-source   the source read again.

Bars: `run` under 10 s at 30,000 users (issue 11), the dry run and each verification at most 30%
of the copy. Exit 1 if a stage fails or a bar is missed. Needs no database server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RUN_BAR_SECONDS = 10.0  # at 30,000 users
SHARE_BAR = 0.30


def measure(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `command` from the repository (so that `-m migrator` is this checkout's), timed, with the
    peak RSS of that one child (os.wait4's rusage)."""
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": round(time.monotonic() - started, 2),
        "rss_mb": round(usage.ru_maxrss / 1024, 1),
        "returncode": proc.returncode,
        "tail": output.strip().splitlines()[-3:],
    }


def statistics_in(path: Path, *, analyze: bool) -> list[str]:
    """Make the source's statistics what was asked (none, or ANALYZE's); return the stat tables."""
    with sqlite3.connect(path) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'").fetchall():
            conn.execute(f"DELETE FROM {name}")
        if analyze:
            conn.execute("ANALYZE")
        rows = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'").fetchall()
        return [name for (name,) in rows if conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]]


def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MIGRATOR_HASH_KEY": "bench-demo-key"}
    python = sys.executable
    stages: dict[str, dict[str, Any]] = {}
    stages["generate"] = measure(
        [python, "-m", "migrator.demo.generate", str(workdir / "demo"), "--users", str(args.users)], env
    )
    (workdir / "plans").mkdir()
    plan = workdir / "plans" / "demo.yaml"
    shutil.copy(REPO / "plans" / "demo.yaml", plan)
    source = workdir / "demo" / "source" / "global.db"
    stats = statistics_in(source, analyze=args.analyze)

    def fresh_target() -> None:
        shutil.rmtree(workdir / "demo" / "us", ignore_errors=True)
        shutil.rmtree(workdir / "demo" / ".migrator", ignore_errors=True)

    migrator = [python, "-m", "migrator"]
    stages["plan"] = measure([*migrator, "plan", str(plan)], env)
    stages["run"] = measure([*migrator, "run", str(plan)], env)
    fresh_target()
    stages["copy"] = measure([*migrator, "run", str(plan), "--no-verify"], env)
    stages["verify"] = measure([*migrator, "verify", str(plan)], env)
    stages["verify-source"] = measure([*migrator, "verify", str(plan), "--against-source"], env)
    copy = stages["copy"]["seconds"]
    bars = {
        "run": stages["run"]["seconds"] <= RUN_BAR_SECONDS * max(1.0, args.users / 30000),
        "plan": stages["plan"]["seconds"] <= SHARE_BAR * copy,
        "verify": stages["verify"]["seconds"] <= SHARE_BAR * copy,
        "verify-source": stages["verify-source"]["seconds"] <= SHARE_BAR * copy,
    }
    return {"users": args.users, "statistics": stats, "stages": stages, "bars": bars}


def report(result: dict[str, Any]) -> str:
    stages, bars = result["stages"], result["bars"]
    copy = stages["copy"]["seconds"]
    stats = ", ".join(result["statistics"]) or "none"
    lines = [f"demo with {result['users']:,} users, SQLite statistics: {stats}", ""]
    lines.append(f"{'stage':<16}{'seconds':>9}{'of copy':>9}{'peak RSS':>11}  bar")
    for name, stage in stages.items():
        share = f"{stage['seconds'] / copy:.0%}" if copy and name not in ("generate", "copy") else ""
        bar = {True: "ok", False: "MISSED", None: ""}[bars.get(name)]
        failed = "" if stage["returncode"] == 0 else f"  FAILED: {' | '.join(stage['tail'])}"
        lines.append(f"{name:<16}{stage['seconds']:>9.2f}{share:>9}{stage['rss_mb']:>8.0f} MB  {bar}{failed}")
    lines.append("")
    lines.append(f"bars: run <= {RUN_BAR_SECONDS:.0f} s at 30,000 users; plan, verify <= {SHARE_BAR:.0%} of the copy")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=30000, help="demo users (default 30000)")
    parser.add_argument("--analyze", action="store_true", help="run ANALYZE on the source first (default: none)")
    parser.add_argument("--json", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True)
        result = bench(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="migrator-demo-bench-") as workdir:
            result = bench(args, Path(workdir))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    failed = any(stage["returncode"] != 0 for stage in result["stages"].values())
    return 1 if failed or not all(result["bars"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
