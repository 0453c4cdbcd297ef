"""The collector held off while a command starts (migrator/startup_gc.py): off from the CLI's first
line, back on, with what start-up made frozen, when the copy begins, or after HOLD_LIMIT seconds
whatever the command does; and nothing changes for code that never held it (tests, library calls)."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrator import startup_gc
from tests.entry_probe import run_entry

PLANS = Path(__file__).parent / "plans"
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as this test process had it, whatever the test does to it."""
    assert gc.isenabled() and not startup_gc._held
    try:
        yield
    finally:
        startup_gc._held = False
        gc.unfreeze()
        gc.enable()


def test_held_until_start_up_is_done_then_frozen_and_collecting(collector: None) -> None:
    startup_gc.hold_collection()
    assert not gc.isenabled()
    startup_gc.hold_collection()  # a second hold changes nothing
    assert not gc.isenabled()
    startup_gc.start_up_done()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # what start-up made, out of every later collection
    frozen = gc.get_freeze_count()
    startup_gc.start_up_done()  # once only
    assert gc.get_freeze_count() == frozen


def test_start_up_done_without_a_hold_changes_nothing(collector: None) -> None:
    startup_gc.start_up_done()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # held by someone else: not ours to give back
    startup_gc.start_up_done()
    assert not gc.isenabled()


def test_a_hold_ends_after_its_limit_whatever_the_command(collector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup_gc, "HOLD_LIMIT", 0.05)
    startup_gc.hold_collection()
    assert not gc.isenabled()
    deadline = time.monotonic() + 10
    while not gc.isenabled() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gc.isenabled()


def test_a_run_collects_again_when_its_copy_begins(chinook_sqlite: Path, tmp_path: Path) -> None:
    """Through the CLI, in a process of its own, with a limit no run reaches: the run itself ends the
    hold, at the copy's start."""
    plan = PLANS / "chinook_us_sqlite.yaml"
    env = {
        "SOURCE_URL": f"sqlite:///{chinook_sqlite}",
        "TARGET_URL": f"sqlite:///{tmp_path / 'us.db'}",
        "STATE_DIR": str(tmp_path / "state"),
    }
    done = run_entry(
        ["run", str(plan), "--format", "json"],
        env,
        before="import gc\nimport migrator.startup_gc as held\nheld.HOLD_LIMIT = 3600.0\n",
        report="'collecting:', gc.isenabled(), gc.get_freeze_count() > 0",
    )
    assert done.returncode == 0, done.stderr
    assert '"status": "finished"' in done.stdout
    assert done.stdout.strip().endswith("collecting: True True")
