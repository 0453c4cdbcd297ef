"""Files the user points at that are not what they should be: said plainly, with exit 2.

A plan file that is binary, not UTF-8, a folder or unreadable is a plan error naming the file; a
folder with no audit trail given to `audit verify` is a usage error, not a tampered trail; and an
unexpected error writes its traceback to a file of its own, never to a fixed path shared by all users.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import pytest
import typer

from migrator.cli.app import Format, _errors
from migrator.demo.generate import generate_demo


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (bytes(range(256)), "not a text file in UTF-8: byte 0x80 at offset 128"),
        ("name: x\nversion: 1\n".encode("utf-16"), "not a text file in UTF-8"),
        (b"version: 1\nname: \x00\x01\n", "not a text file: character U+0000"),
    ],
    ids=["bytes-0-255", "utf-16", "nul"],
)
@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_a_binary_plan_file_is_a_plan_error(run_cli, tmp_path: Path, content: bytes, says: str, command: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_bytes(content)
    result = run_cli(command, plan)
    assert result.returncode == 2, result.stderr
    assert f"{plan}" in result.stderr and says in result.stderr, result.stderr
    assert "unexpected" not in result.stderr


def test_a_folder_or_a_path_through_a_file_is_a_plan_error(run_cli, tmp_path: Path) -> None:
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "file").write_text("x")
    for plan, reason in (
        (tmp_path / "folder.yaml", "Is a directory"),
        (tmp_path / "file" / "plan.yaml", "Not a directory"),
    ):
        result = run_cli("validate", plan)
        assert result.returncode == 2, result.stderr
        assert f"{plan}: cannot read the plan: {reason}" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_an_unreadable_plan_file_is_a_plan_error(run_cli, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("version: 1\n")
    plan.chmod(0)
    result = run_cli("validate", plan)
    assert result.returncode == 2 and f"{plan}: cannot read the plan: Permission denied" in result.stderr


def test_audit_verify_of_a_folder_without_a_trail_says_so(run_cli, tmp_path: Path) -> None:
    """A mistyped path, or the plan's folder instead of its state folder: exit 2, never TAMPERED."""
    (tmp_path / "plans").mkdir()
    (tmp_path / "plan.yaml").write_text("version: 1\n")
    for folder, says in (
        (tmp_path / "stat", "does not exist"),
        (tmp_path / "plans", "holds no audit trail"),
        (tmp_path / "plan.yaml", "is not a folder"),
    ):
        for format in ("text", "json"):
            result = run_cli("audit", "verify", folder, "--format", format)
            assert result.returncode == 2, result.stdout + result.stderr
            assert says in result.stderr and "TAMPERED" not in result.stdout + result.stderr


def test_audit_verify_still_calls_a_deleted_log_tampering(run_cli, tmp_path: Path) -> None:
    """A receipt that anchors a log which is gone: someone deleted the log, which is tampering."""
    source = generate_demo(tmp_path / "demo", users=20).database
    plan = tmp_path / "plan.yaml"
    state = tmp_path / "state"
    plan.write_text(
        json.dumps(
            {
                "version": 1,
                "name": "tiny",
                "source": {"database": f"sqlite:///{source}"},
                "target": {"database": f"sqlite:///{tmp_path / 'target.db'}"},
                "state": str(state),
                "data": {"roots": {"users": "1 = 1"}, "tables": {"regions": "all", "audit_events": "skip"}},
            }
        )
    )
    assert run_cli("run", plan).returncode == 0
    (state / "audit.jsonl").unlink()
    result = run_cli("audit", "verify", state)
    assert result.returncode == 1 and "TAMPERED audit.jsonl: the audit log is missing" in result.stdout


def _unexpected(plan: Path | None) -> None:
    """The CLI's error boundary meeting a bug: an exception no part of migrator expects."""
    with _errors(Format.text, False, plan):
        raise RuntimeError("lost while talking to postgresql://postgres:postgres@127.0.0.1/shop (password=hunter2)")


def test_an_unexpected_error_is_logged_in_a_private_new_file(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    plan = tmp_path / "plan.yaml"
    plan.write_text("version: 1\nname: shop\n")
    logs = []
    for _ in range(2):
        with pytest.raises(typer.Exit) as stopped:
            _unexpected(plan)
        assert stopped.value.exit_code == 1
        logs += list((tmp_path / "tmp").glob("migrator-error-*.log"))
    assert len(set(logs)) == 2, "each error gets a file of its own, never a fixed shared name"
    said = capsys.readouterr().err.replace("\n", "")
    assert not (tmp_path / ".migrator").exists(), "an error before the run started creates no state folder"
    for log in set(logs):
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        text = log.read_text()
        assert "RuntimeError" in text and "Traceback" in text
        assert "postgres:postgres@" not in text and "hunter2" not in text and "postgres:***@127.0.0.1" in text
        assert str(log) in said


def test_an_unexpected_error_is_logged_in_the_state_folder_when_there_is_one(tmp_path: Path, capsys) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("version: 1\nname: shop\nstate: kept/here\n")
    state = tmp_path / "kept" / "here"
    state.mkdir(parents=True)
    with pytest.raises(typer.Exit):
        _unexpected(plan)
    (log,) = state.glob("migrator-error-*.log")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and "hunter2" not in log.read_text()
    assert str(log) in capsys.readouterr().err.replace("\n", "")
