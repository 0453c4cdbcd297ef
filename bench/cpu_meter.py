"""CPU seconds of one timed command, per group of processes: the command itself, its children, and
the PostgreSQL backends of each database it works on.

    measured = run_with_cpu(command, env, cwd, timeout, databases={"bench_src": "source", ...})

- **client**: the command's own process (user + system), read from its zombie before it is reaped
  (`waitid(WNOWAIT)`), so its last instant counts too.
- **workers**: its Dask worker processes (descendants started by multiprocessing), each sampled every
  `interval` seconds, its last sample kept.
- **helpers**: its other descendants (pg_dump, pg_restore, psql), sampled the same way.
- What the reaped children used in all (the zombie's `children_*` times, exact) beyond what was
  sampled of them is added to the workers when there were any (a worker's shutdown after its last
  sample), else to the helpers (a helper too short for a sample).
- **per database**: PostgreSQL backends, the children of the postmaster, whose process title names
  the database (`postgres: 15/main: USER DB HOST(PORT) ...`), sampled the same way, their times
  since the start of the command.
- **server, other**: the rest of the server's CPU in the same interval: the postmaster's reaped
  children (ended backends, exactly) plus its live children, less what was attributed to a database.
  Checkpointer, WAL writer, autovacuum, backends too short-lived for a sample, and any other
  session's work on the same server land here.
- any `extra` process (the delaying proxy), by pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from run import _default_sigint

WORKER_MARKS = ("multiprocessing",)  # a Dask worker is a multiprocessing child (spawn_main in its command line)


@dataclass
class CpuRun:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    cpu: dict[str, float] = field(default_factory=dict)  # group -> CPU seconds
    helpers: dict[str, float] = field(default_factory=dict)  # each sampled helper's command line -> CPU seconds

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def failure(self) -> str:
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s"
        lines = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return f"exit {self.returncode}: {' | '.join(lines[-3:])[:400]}"


def _cpu(times: psutil._common.pcputimes) -> float:  # type: ignore[name-defined]
    return float(times.user + times.system)


def _cpu_with_children(times: psutil._common.pcputimes) -> float:  # type: ignore[name-defined]
    return float(times.user + times.system + times.children_user + times.children_system)


def postmaster() -> psutil.Process:
    """The PostgreSQL server's main process: a `postgres` whose parent is not one."""
    for proc in psutil.process_iter(["name", "ppid"]):
        if proc.info["name"] == "postgres":
            try:
                if psutil.Process(proc.info["ppid"]).name() != "postgres":
                    return proc
            except psutil.Error:
                continue
    raise SystemExit("no PostgreSQL server process found on this machine (the CPU figures need one)")


def _database_of(title: str, databases: dict[str, str]) -> str | None:
    """The label of the database a backend's process title names (its 3rd word after the prefix)."""
    words = title.split()
    for name, label in databases.items():
        if name in words:
            return label
    return None


class _Sampler:
    """Keeps the latest CPU times of the processes it watches, keyed by (pid, start time)."""

    def __init__(self, root: int, server: psutil.Process, databases: dict[str, str], extra: dict[str, int]):
        self.root = root
        self.server = server
        self.databases = databases
        self.extra = extra
        self.workers: dict[tuple[int, float], float] = {}
        self.helpers: dict[tuple[int, float], float] = {}
        self.names: dict[tuple[int, float], str] = {}  # the helpers' command lines, for the record
        self.backends: dict[tuple[int, float], tuple[str, float]] = {}
        self.baseline: dict[tuple[int, float], float] = {}  # server children alive before the command
        self.extra_start = {label: self._extra_cpu(pid) for label, pid in extra.items()}
        self.extra_last = dict(self.extra_start)
        self.server_reaped_start = self._reaped()
        for child in server.children():
            try:
                self.baseline[(child.pid, child.create_time())] = _cpu(child.cpu_times())
            except psutil.Error:
                continue
        self.stop = threading.Event()

    def _reaped(self) -> float:
        times = self.server.cpu_times()
        return float(times.children_user + times.children_system)

    @staticmethod
    def _extra_cpu(pid: int) -> float:
        try:
            return _cpu_with_children(psutil.Process(pid).cpu_times())
        except psutil.Error:
            return 0.0

    def sample(self) -> None:
        try:
            descendants = psutil.Process(self.root).children(recursive=True)
        except psutil.Error:
            descendants = []
        for proc in descendants:
            try:
                key = (proc.pid, proc.create_time())
                spent = _cpu_with_children(proc.cpu_times())
                command = " ".join(proc.cmdline())
            except psutil.Error:
                continue
            # A worker is forked from the client before it execs: its first sample may show the
            # client's command line. Once a worker, always a worker (and never counted twice).
            if key in self.workers or any(mark in command for mark in WORKER_MARKS):
                self.workers[key] = spent
                self.helpers.pop(key, None)
                self.names.pop(key, None)
            else:
                self.helpers[key] = spent
                self.names[key] = command[:80]
        for child in self.server.children():
            try:
                key = (child.pid, child.create_time())
                label = _database_of(" ".join(child.cmdline()), self.databases)
                spent = _cpu(child.cpu_times())
            except psutil.Error:
                continue
            if label is not None:
                self.backends[key] = (label, spent)
        for label, pid in self.extra.items():
            self.extra_last[label] = max(self.extra_last[label], self._extra_cpu(pid))

    def loop(self, interval: float) -> None:
        while not self.stop.wait(interval):
            self.sample()

    def server_totals(self) -> dict[str, float]:
        """CPU per database since the start, and the rest of the server's as `server, other`."""
        per_database: dict[str, float] = dict.fromkeys(self.databases.values(), 0.0)
        for key, (label, spent) in self.backends.items():
            per_database[label] += spent - self.baseline.get(key, 0.0)
        total = self._reaped() - self.server_reaped_start
        alive = set()
        for child in self.server.children():
            try:
                key = (child.pid, child.create_time())
                total += _cpu(child.cpu_times()) - self.baseline.get(key, 0.0)
                alive.add(key)
            except psutil.Error:
                continue
        # A child alive at the start that has ended since is in the reaped times with its whole life.
        total -= sum(spent for key, spent in self.baseline.items() if key not in alive)
        per_database["server, other"] = max(0.0, total - sum(per_database.values()))
        return per_database


def run_with_cpu(
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    databases: dict[str, str],
    extra: dict[str, int] | None = None,
    interval: float = 0.1,
) -> CpuRun:
    """Run `command`, timed, with its CPU per group (see the module's docstring). `databases` maps a
    database name to the label its backends' CPU is reported under. On timeout: SIGINT, then SIGKILL."""
    server = postmaster()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        # As bench/run.py's measure(): SIGINT restored, so that a timed-out command can stop cleanly.
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=cwd, preexec_fn=_default_sigint)
        sampler = _Sampler(proc.pid, server, databases, extra or {})
        thread = threading.Thread(target=sampler.loop, args=(interval,), daemon=True)
        thread.start()
        timed_out = False
        try:
            deadline = started + timeout
            while True:
                # Exited but not reaped: its /proc entry still holds its final CPU times.
                info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
                if info is not None:
                    break
                if time.monotonic() > deadline and not timed_out:
                    timed_out = True
                    os.kill(proc.pid, signal.SIGINT)
                    deadline += 20
                elif time.monotonic() > deadline:
                    os.kill(proc.pid, signal.SIGKILL)
                time.sleep(0.02)
        except BaseException:  # Ctrl-C: the child must not outlive the benchmark
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        ended = time.monotonic()
        final = psutil.Process(proc.pid).cpu_times()
        sampler.stop.set()
        thread.join()
        proc.wait()
        time.sleep(0.3)  # the server reaps the command's last backends
        sampler.sample()
        workers = sum(sampler.workers.values())
        helpers = sum(sampler.helpers.values())
        # The reaped children's exact total, less what was sampled, is what ran after a last sample
        # (a worker shutting down) or between two (a short helper): the workers', if there were any.
        unsampled = max(0.0, final.children_user + final.children_system - workers - helpers)
        if sampler.workers:
            workers += unsampled
        else:
            helpers += unsampled
        cpu = {"client": _cpu(final), "workers": workers, "helpers": helpers}
        cpu |= sampler.server_totals()
        cpu |= {label: sampler.extra_last[label] - sampler.extra_start[label] for label in sampler.extra}
        out.seek(0)
        err.seek(0)
        return CpuRun(
            seconds=round(ended - started, 3),
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            timed_out=timed_out,
            cpu={k: round(v, 2) for k, v in cpu.items()},
            helpers={f"{sampler.names[key]} [{key[0]}]": round(spent, 2) for key, spent in sampler.helpers.items()},
        )
