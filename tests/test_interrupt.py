"""Ctrl-C on a real `migrator run` process (issue 11, must-have 6).

The first Ctrl-C says at once that the run stops after the chunk being written and stops within
about a second of it, even while a read blocks for many seconds; the second stops at once, rolling
the chunk in flight back. Either way the next run completes the target exactly. The slow parts are
made slow on purpose, by a knob table that the test turns down before running again: a `where`
that burns CPU per row (SQLite source) or sleeps per row (PostgreSQL source), and a trigger that
does the same for each row written into the target.

Before the fix, Python ran its signal handler only when the driver's call came back: nothing showed
until then, the second Ctrl-C was lost, and the run went on for the whole slow chunk (15 s here).
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
A_ROWS, B_ROWS, CHUNK_ROWS = 500, 2000, 1000
SLOW_BYTES = 10_000_000  # SQLite: hex() of this many bytes per row, about 15 ms
SLOW_SECONDS = 0.015  # PostgreSQL: pg_sleep per row
STOPPING = "stopping after the chunk being written"
# Generous for a loaded machine, far below the 15 s of a slow chunk that the old code waited for.
MESSAGE_WITHIN, EXIT_WITHIN = 2.0, 5.0

SQLITE_SLOW_WHERE = "length(hex(zeroblob((SELECT n FROM knob) + id % 2))) >= 0"
PG_SLOW_WHERE = "pg_sleep((SELECT s FROM knob) * (1 + mod(id, 2)))::text = ''"
SQLITE_SLOW_TRIGGER = (
    "CREATE TRIGGER slow BEFORE INSERT ON b BEGIN "
    "SELECT length(hex(zeroblob((SELECT n FROM slowdown) + NEW.id % 2))); END"
)
PG_SLOW_TRIGGER = """
CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep((SELECT s FROM slowdown)); RETURN NEW; END $$;
CREATE TRIGGER slow BEFORE INSERT ON b FOR EACH ROW EXECUTE FUNCTION slow();
"""
MARIADB_SLOW_TRIGGER = (
    "CREATE TRIGGER slow BEFORE INSERT ON b FOR EACH ROW SET @slept = SLEEP((SELECT s FROM slowdown))"
)
TABLES = """
CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER NOT NULL REFERENCES a (id), note TEXT);
"""


def _fill(url: str, *, knob: str, knob_value: float, knob_table: str = "knob", extra: str = "") -> None:
    """Tables a and b (b belongs to a), and the knob that makes the slow parts slow."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in [*TABLES.split(";"), f"CREATE TABLE {knob_table} ({knob} {_knob_type(knob)} NOT NULL)"]:
            if statement.strip():
                conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f"INSERT INTO {knob_table} VALUES ({knob_value})")
        conn.execute(sa.text("INSERT INTO a VALUES (:id, :name)"), [{"id": i, "name": f"a{i}"} for i in _ids(A_ROWS)])
        conn.execute(
            sa.text("INSERT INTO b VALUES (:id, :a_id, :note)"),
            [{"id": i, "a_id": i % A_ROWS + 1, "note": f"b{i}"} for i in _ids(B_ROWS)],
        )
        if extra:
            conn.exec_driver_sql(extra)
    engine.dispose()


def _knob_type(knob: str) -> str:
    return "INTEGER" if knob == "n" else "DOUBLE PRECISION"


def _ids(rows: int) -> range:
    return range(1, rows + 1)


def _set_knob(url: str, value: float, knob_table: str = "knob") -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {knob_table} SET {'n' if url.startswith('sqlite') else 's'} = {value}")
    engine.dispose()


def _plan(tmp_path: Path, source: str, target: str, *, b_where: str | None, schema: str = "create") -> Path:
    tables: dict[str, Any] = {"knob": "skip"}
    if b_where:
        tables["b"] = {"where": b_where}
    plan = {
        "version": 1,
        "name": "ctrl-c",
        "source": {"database": source},
        "target": {"database": target},
        "state": str(tmp_path / "state"),
        "data": {"roots": {"a": "id > 0"}, "tables": tables, "chunk_rows": CHUNK_ROWS, "schema": schema},
    }
    path = tmp_path / "plan.yaml"
    path.write_text(json.dumps(plan))
    return path


@dataclass
class Running:
    """A `migrator run` process, its stderr lines timestamped as they arrive."""

    process: subprocess.Popen[str]
    lines: queue.Queue[tuple[float, str]] = field(default_factory=queue.Queue)
    seen: list[tuple[float, str]] = field(default_factory=list)
    pump: threading.Thread | None = None

    def line_with(self, text: str, deadline: float) -> float | None:
        """When a stderr line containing `text` arrived, waiting for it until `deadline`."""
        while True:
            for at, line in self.seen:
                if text in line:
                    return at
            try:
                self.seen.append(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                return None

    def stderr(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(line for _, line in self.seen)


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_run_left_behind() -> Any:
    """A failed assertion must not leave a run going on in the background."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _start(plan: Path, *options: str) -> Running:
    command = [sys.executable, "-m", "migrator", "run", str(plan), *options]
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _STARTED.append(process)
    running = Running(process)

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            running.lines.put((time.monotonic(), line))

    running.pump = threading.Thread(target=pump, daemon=True)
    running.pump.start()
    return running


def _units(target: str) -> list[str]:
    """The ledger's units, read from outside the running process."""
    try:
        if target.startswith("sqlite"):
            path = target.removeprefix("sqlite:///")
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.2) as conn:
                return [u for (u,) in conn.execute("SELECT unit FROM _migrator_units")]
        engine = sa.create_engine(target, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            return [str(u) for u in conn.execute(sa.text("SELECT unit FROM _migrator_units")).scalars()]
    except Exception:
        return []  # no ledger yet, or the file is busy


def _wait_for_unit(running: Running, target: str, unit: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while unit not in _units(target):
        assert running.process.poll() is None, f"the run ended before {unit}: {running.stderr()}"
        assert time.monotonic() < deadline, f"no {unit} after {timeout} s: {running.stderr()}"
        time.sleep(0.05)


def _exit_time(running: Running, timeout: float = 120.0) -> float:
    try:
        running.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        running.process.kill()
        raise
    ended = time.monotonic()
    if running.pump is not None:
        running.pump.join()
    if running.process.stderr is not None:
        running.process.stderr.close()
    return ended


def _assert_complete(plan: Path, target: str) -> None:
    """Run again: it finishes, its verification holds, and the target holds every row exactly once."""
    again = _cli("run", plan, "--format", "json")
    assert again.returncode == 0, again.stdout + again.stderr
    engine = sa.create_engine(target)
    with engine.connect() as conn:
        a = [r[0] for r in conn.exec_driver_sql("SELECT id FROM a ORDER BY id")]
        b = [tuple(r) for r in conn.exec_driver_sql("SELECT id, a_id, note FROM b ORDER BY id")]
    engine.dispose()
    assert a == list(_ids(A_ROWS))
    assert b == [(i, i % A_ROWS + 1, f"b{i}") for i in _ids(B_ROWS)]
    verified = _cli("verify", plan)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "migrator", *map(str, args)]
    return subprocess.run(command, env=_env(), capture_output=True, text=True, check=False)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "MIGRATOR_HASH_KEY": "interrupt-test"}


def _interrupt_during_slow_read(running: Running, target: str) -> tuple[float, float | None, float]:
    """Ctrl-C once a's only chunk is committed and b's slow read has begun: (sent, message, exit)."""
    _wait_for_unit(running, target, "complete:a:0")
    time.sleep(0.5)
    assert running.process.poll() is None, running.stderr()
    sent = time.monotonic()
    running.process.send_signal(signal.SIGINT)
    message = running.line_with(STOPPING, sent + MESSAGE_WITHIN + 1)
    return sent, message, _exit_time(running, timeout=30)


@pytest.mark.parametrize(("target_backend", "workers"), [("postgresql", 1), ("postgresql", 2), ("sqlite", 1)])
def test_first_ctrl_c_answers_at_once_and_cancels_a_slow_read_pg(
    tmp_path: Path, pg_url_factory: Any, target_backend: str, workers: int
) -> None:
    """A PostgreSQL source, read ahead in a thread of its own, or by two workers at once."""
    source = pg_url_factory()
    target = pg_url_factory() if target_backend == "postgresql" else f"sqlite:///{tmp_path / 'target.db'}"
    _fill(source, knob="s", knob_value=SLOW_SECONDS)
    plan = _plan(tmp_path, source, target, b_where=PG_SLOW_WHERE)
    running = _start(plan, "--workers", str(workers))
    sent, message, ended = _interrupt_during_slow_read(running, target)
    stderr = running.stderr()
    assert message is not None and message - sent < MESSAGE_WITHIN, stderr
    assert running.process.returncode == 130, stderr
    assert ended - sent < EXIT_WITHIN, stderr
    assert f"run `migrator run {plan}` to continue" in stderr
    assert not [u for u in _units(target) if u.startswith("table:b:")]  # b's read was cancelled, not copied
    _set_knob(source, 0)
    _assert_complete(plan, target)


def test_first_ctrl_c_answers_at_once_and_cancels_a_slow_read_sqlite(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"
    _fill(source, knob="n", knob_value=SLOW_BYTES)
    plan = _plan(tmp_path, source, target, b_where=SQLITE_SLOW_WHERE)
    running = _start(plan)  # the text format: the progress display is on
    sent, message, ended = _interrupt_during_slow_read(running, target)
    stderr = running.stderr()
    assert message is not None and message - sent < MESSAGE_WITHIN, stderr
    assert f"at most {CHUNK_ROWS:,} rows" in stderr
    assert running.process.returncode == 130, stderr
    assert ended - sent < EXIT_WITHIN, stderr
    _set_knob(source, 0)
    _assert_complete(plan, target)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_second_ctrl_c_rolls_the_chunk_in_flight_back(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    """The first Ctrl-C waits for the chunk being written (a slow trigger in the target makes that
    15 s); the second stops at once, and the chunk is neither kept nor marked done."""
    source = f"sqlite:///{tmp_path / 'source.db'}"
    _fill(source, knob="n", knob_value=0)
    if backend == "sqlite":
        target = f"sqlite:///{tmp_path / 'target.db'}"
        _fill(target, knob="n", knob_value=SLOW_BYTES, knob_table="slowdown", extra=SQLITE_SLOW_TRIGGER)
    elif backend == "postgresql":
        target = request.getfixturevalue("pg_url_factory")()
        _fill(target, knob="s", knob_value=SLOW_SECONDS, knob_table="slowdown", extra=PG_SLOW_TRIGGER)
    else:
        target = request.getfixturevalue("mariadb_url_factory")()
        _fill(target, knob="s", knob_value=SLOW_SECONDS, knob_table="slowdown", extra=MARIADB_SLOW_TRIGGER)
    engine = sa.create_engine(target)
    with engine.begin() as conn:  # the target's tables are there, empty, with their slow trigger
        conn.exec_driver_sql("DELETE FROM b")
        conn.exec_driver_sql("DELETE FROM a")
    engine.dispose()
    plan = _plan(tmp_path, source, target, b_where=None, schema="existing")
    running = _start(plan)
    _wait_for_unit(running, target, "complete:a:0")
    time.sleep(1.0)  # b's first chunk is read by now, and being written
    first = time.monotonic()
    running.process.send_signal(signal.SIGINT)
    message = running.line_with(STOPPING, first + MESSAGE_WITHIN + 1)
    assert message is not None and message - first < MESSAGE_WITHIN, running.stderr()
    time.sleep(1.0)
    assert running.process.poll() is None, "the first Ctrl-C lets the chunk in flight finish"
    second = time.monotonic()
    running.process.send_signal(signal.SIGINT)
    ended = _exit_time(running, timeout=30)
    stderr = running.stderr()
    assert running.process.returncode == 130, stderr
    assert ended - second < EXIT_WITHIN, stderr
    assert "rolled back" in stderr
    assert "exiting now" not in stderr  # stopped by cancelling the write, not by the last-resort exit
    assert not [u for u in _units(target) if u.startswith("table:b:")]
    engine = sa.create_engine(target)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM b").scalar_one() == 0
    engine.dispose()
    _set_knob(target, 0, "slowdown")  # a table of the target alone: the plan does not know it
    _assert_complete(plan, target)


def test_restart_is_audited_and_the_hint_to_continue_drops_it(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"
    _fill(source, knob="n", knob_value=0)
    plan = _plan(tmp_path, source, target, b_where=SQLITE_SLOW_WHERE)
    first = _cli("run", plan, "--format", "json")
    assert first.returncode == 0, first.stderr
    first_run = json.loads(first.stdout)["run_id"]
    _set_knob(source, SLOW_BYTES)
    running = _start(plan, "--restart")
    audit = tmp_path / "state" / "audit.jsonl"
    deadline = time.monotonic() + 60
    while "run restarted" not in audit.read_text():  # until then the ledger is the first run's
        assert running.process.poll() is None and time.monotonic() < deadline, running.stderr()
        time.sleep(0.05)
    _interrupt_during_slow_read(running, target)
    stderr = running.stderr()
    assert running.process.returncode == 130, stderr
    # Continuing must not start over again: --restart would remove what this run copied.
    assert f"run `migrator run {plan}` to continue" in stderr
    assert "--restart" not in stderr.split(STOPPING)[-1]
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    restarted = [e for e in events if e["event"] == "run restarted"]
    assert len(restarted) == 1
    assert restarted[0]["run"] == first_run  # the run whose writes it removed
    assert restarted[0]["removed"] == ["dropped a, b"]
    # The interrupted run says so last: the log tells it from a run still going or killed.
    assert events[-1]["event"] == "run stopped" and events[-1]["reason"] == "interrupted", events[-1]
    assert events[-1]["run"] != first_run
    _set_knob(source, 0)
    _assert_complete(plan, target)
    audited = _cli("audit", "verify", tmp_path / "state")
    assert audited.returncode == 0, audited.stdout + audited.stderr


def test_second_ctrl_c_stops_two_workers_at_once(tmp_path: Path, pg_url_factory: Any) -> None:
    """--workers 2, PostgreSQL to PostgreSQL: b's first chunk is read slowly, and meanwhile the test
    locks b in the target, so that its write waits (up to the 60 s lock timeout); the first Ctrl-C
    waits for it, the second cancels it."""
    source, target = pg_url_factory(), pg_url_factory()
    _fill(source, knob="s", knob_value=0.002)
    first_chunk_slow = f"pg_sleep(CASE WHEN id <= {CHUNK_ROWS} THEN (SELECT s FROM knob) ELSE 0 END)::text = ''"
    plan = _plan(tmp_path, source, target, b_where=first_chunk_slow)
    running = _start(plan, "--workers", "2")
    locker = sa.create_engine(target, poolclass=sa.pool.NullPool).connect()
    try:
        deadline = time.monotonic() + 60
        while locker.exec_driver_sql("SELECT to_regclass('b')").scalar_one() is None:
            locker.rollback()
            assert running.process.poll() is None and time.monotonic() < deadline, running.stderr()
            time.sleep(0.01)
        locker.exec_driver_sql("LOCK TABLE b IN ACCESS EXCLUSIVE MODE")  # held until the rollback below
        _wait_for_unit(running, target, "complete:a:0")
        time.sleep(2.5)  # b's first chunk is read by now, and its write waits for the lock
        first = time.monotonic()
        running.process.send_signal(signal.SIGINT)
        assert running.line_with(STOPPING, first + MESSAGE_WITHIN) is not None, running.stderr()
        time.sleep(1.0)
        assert running.process.poll() is None, "the first Ctrl-C lets the chunk in flight finish"
        second = time.monotonic()
        running.process.send_signal(signal.SIGINT)
        ended = _exit_time(running, timeout=30)
    finally:
        locker.rollback()
        locker.close()
    stderr = running.stderr()
    assert running.process.returncode == 130, stderr
    assert ended - second < EXIT_WITHIN, stderr
    assert not [u for u in _units(target) if u.startswith("table:b:")]
    _set_knob(source, 0)
    _assert_complete(plan, target)


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is POSIX")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # pty.fork, 3.12+
def test_ctrl_c_typed_in_a_terminal_shows_above_the_progress_bars(tmp_path: Path) -> None:
    """The real thing: the run in a terminal, where rich draws its live progress display and the
    terminal turns a typed Ctrl-C into SIGINT. The message must be readable on that screen at once."""
    import pty

    source, target = f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"
    _fill(source, knob="n", knob_value=SLOW_BYTES)
    plan = _plan(tmp_path, source, target, b_where=SQLITE_SLOW_WHERE)
    pid, terminal = pty.fork()
    if pid == 0:  # the child: becomes `migrator run`, with the terminal as its stdin, stdout and stderr
        os.execve(sys.executable, [sys.executable, "-m", "migrator", "run", str(plan)], {**_env(), "TERM": "xterm"})
    screen, done = b"", (0, 0)
    try:
        deadline = time.monotonic() + 120
        while "complete:a:0" not in _units(target):
            assert time.monotonic() < deadline, screen.decode(errors="replace")
            screen += _read_terminal(terminal, 0.05)
        time.sleep(0.5)
        typed = time.monotonic()
        os.write(terminal, b"\x03")
        while b"Ctrl-C: stopping" not in screen and time.monotonic() < typed + MESSAGE_WITHIN:
            screen += _read_terminal(terminal, 0.05)
        shown = time.monotonic() - typed
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < typed + EXIT_WITHIN:
            screen += _read_terminal(terminal, 0.05)
    finally:
        if done[0] == 0:  # not ended (or a failed assertion): no run left behind
            os.kill(pid, signal.SIGKILL)
            done = os.waitpid(pid, 0)
        os.close(terminal)
    text = screen.decode(errors="replace")
    assert shown < MESSAGE_WITHIN, text
    assert time.monotonic() - typed < EXIT_WITHIN + 1, text
    assert os.waitstatus_to_exitcode(done[1]) == 130, text
    # Printed above the live display, whole, as a line of its own that the display then leaves alone.
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert re.search(r"Ctrl-C: stopping after the chunk being written[^\r\n]*nothing is lost\)\.\r?\n", plain), text
    _set_knob(source, 0)
    _assert_complete(plan, target)


def _read_terminal(terminal: int, timeout: float) -> bytes:
    import select

    ready, _, _ = select.select([terminal], [], [], timeout)
    try:
        return os.read(terminal, 65536) if ready else b""
    except OSError:  # the child closed the terminal
        return b""
