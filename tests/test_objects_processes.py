"""A copy spread over several processes (copy_processes.py) is the same copy: the same objects, bytes,
metadata and manifest as in one process; it resumes a killed multipart upload part by part, and its
children go with a killed parent; Ctrl-C stops it with exit 130 and a rerun copies only what is left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from migrator.artifacts import copier as copier_module
from migrator.artifacts import copy_objects, copy_processes, copy_run, verify_objects
from tests.object_servers import MotoEndpoint
from tests.objects_cases import (
    Recorder,
    blob,
    files_under,
    kill_after_parts,
    make_plan,
    s3_settings,
    write_local_object,
)

MIB = 1024 * 1024
PART = 5 * MIB
REPO = Path(__file__).resolve().parent.parent
LARGE = "models/large.safetensors"
SLOW_PART = 0.3  # seconds the server takes to answer a part, in the kill test


@pytest.fixture(autouse=True)
def five_mib_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(copier_module, "MULTIPART_THRESHOLD", PART)
    monkeypatch.setattr(copier_module, "PART_SIZE", PART)


@pytest.fixture
def process_copies(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The number of processes of each copy that was spread over processes (the real ones run)."""
    calls: list[int] = []
    real = copy_processes.copy_in_processes

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["processes"])
        return real(*args, **kwargs)

    monkeypatch.setattr(copy_run, "copy_in_processes", counting)
    yield calls


def _model_folder(root: Path, small: int) -> dict[str, bytes]:
    """`small` small objects with metadata and content types, and two multipart ones (3 parts each)."""
    written = {}
    for index in range(small):
        key = f"models/shard-{index // 50}/tokenizer {index:03d}.json"
        data = blob(1000 + index * 37, index)
        write_local_object(root, key, data, {"residency": "us", "revision": str(index % 3)}, "application/json")
        written[key] = data
    for index, key in enumerate([LARGE, "models/other/weights.bin"]):
        data = blob(2 * PART + 1234 * (index + 1), 100 + index)
        write_local_object(root, key, data, {"residency": "us"}, "application/octet-stream")
        written[key] = data
    return written


def test_several_processes_copy_what_one_process_copies(tmp_path: Path, process_copies: list[int]) -> None:
    written = _model_folder(tmp_path / "source", 120)
    one = make_plan("source", "one")
    several = make_plan("source", "several")

    alone = copy_objects(one, tmp_path, tmp_path / "state-one", workers=4, events=Recorder(), processes=1)
    events = Recorder()
    spread = copy_objects(several, tmp_path, tmp_path / "state-several", workers=4, events=events, processes=2)

    assert process_copies == [2]  # only the second copy used processes
    assert spread.manifest == alone.manifest
    assert spread.manifest_sha256 == alone.manifest_sha256
    assert (spread.objects, spread.copied, spread.bytes) == (
        len(written),
        len(written),
        sum(map(len, written.values())),
    )
    assert files_under(tmp_path / "several") == files_under(tmp_path / "one") == written
    assert sorted(key for key, *_ in events.done) == sorted(written)  # one event per object, from this process
    assert set(events.actions().values()) == {"copied"}
    for plan, state in ((one, "state-one"), (several, "state-several")):
        verification = verify_objects(plan, tmp_path, tmp_path / state)
        assert verification.ok, verification.failures


def test_a_copy_to_s3_in_processes_verifies_and_a_rerun_skips_without_processes(
    tmp_path: Path, moto_s3: MotoEndpoint, process_copies: list[int]
) -> None:
    written = _model_folder(tmp_path / "source", 80)
    bucket = moto_s3.bucket()
    plan = make_plan("source", f"s3://{bucket}/us", target_s3=s3_settings(moto_s3.endpoint_url, moto_s3.admin))

    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=6, events=Recorder(), processes=3)
    assert process_copies == [3]
    assert result.copied == len(written)
    head = moto_s3.client().head_object(Bucket=bucket, Key=f"us/{LARGE}")
    assert head["Metadata"]["residency"] == "us" and head["ContentType"] == "application/octet-stream"
    verification = verify_objects(plan, tmp_path, tmp_path / "state")
    assert verification.ok, verification.failures

    again = Recorder()
    rerun = copy_objects(plan, tmp_path, tmp_path / "state", workers=6, events=again, processes=3)
    assert process_copies == [3]  # everything is skipped: no process started for it
    assert rerun.skipped == len(written) and set(again.actions().values()) == {"skipped"}


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc), for checking that none outlives a killed copy."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _wait_gone(pids: set[int], seconds: float = 20) -> set[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _alive(pids)


def _part_numbers(moto_s3: MotoEndpoint) -> list[int]:
    return [
        int(request.query.split("partNumber=")[1].split("&")[0])
        for request in moto_s3.requests.all()
        if request.method == "PUT" and "partNumber=" in request.query
    ]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the copy's processes through /proc")
def test_a_killed_copy_in_processes_resumes_without_resending_finished_parts(
    tmp_path: Path, moto_s3: MotoEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = blob(8 * PART - 1000, 7)
    write_local_object(tmp_path / "source", LARGE, data, {"residency": "us"})
    for index in range(6):
        write_local_object(tmp_path / "source", f"configs/{index}.json", blob(500, index))
    bucket = moto_s3.bucket()
    plan = make_plan("source", f"s3://{bucket}/us", target_s3=s3_settings(moto_s3.endpoint_url, moto_s3.admin))
    moto_s3.faults.slow(SLOW_PART, method="PUT", query_contains="partNumber")  # the kill lands mid-upload

    below: set[int] = set()

    def note_descendants(pid: int) -> None:
        below.update(_descendants(pid))

    finished = kill_after_parts(tmp_path, plan, LARGE, 3, PART, processes=2, watch=note_descendants)
    assert below, "the copy started no process of its own"
    assert not _wait_gone(below), "a copying process outlived its killed parent"

    moto_s3.faults.clear()
    # A part a killed child had sent is still in the server's slow answer: let it end before counting.
    time.sleep(2 * SLOW_PART)
    moto_s3.requests.reset()
    monkeypatch.setattr(copy_processes, "MIN_REQUESTS_FOR_PROCESSES", 1)
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=2, events=Recorder(), processes=2)
    resent = _part_numbers(moto_s3)
    assert not set(resent) & set(finished), f"finished parts {finished} sent again: {resent}"
    assert result.resumed == [{"key": LARGE, "parts_reused": len(finished), "parts_sent": len(resent)}]
    body = moto_s3.client().get_object(Bucket=bucket, Key=f"us/{LARGE}")["Body"].read()
    assert body == data
    verification = verify_objects(plan, tmp_path, tmp_path / "state")
    assert verification.ok, verification.failures


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the copy's processes through /proc")
def test_ctrl_c_stops_a_copy_in_processes_with_130_and_a_rerun_sends_only_the_rest(
    tmp_path: Path, moto_s3: MotoEndpoint
) -> None:
    count = 120
    for index in range(count):
        write_local_object(tmp_path / "source", f"small/{index:03d}.bin", blob(2000, index), {"n": str(index)})
    bucket = moto_s3.bucket()
    keys = {"access_key_id": "${TEST_S3_KEY}", "secret_access_key": "${TEST_S3_SECRET}"}
    document = {
        "version": 1,
        "name": "objects-interrupted",
        "source": {"objects": "source"},
        "target": {"objects": f"s3://{bucket}/", "s3": s3_settings(moto_s3.endpoint_url, moto_s3.admin, **keys)},
        "state": str(tmp_path / "state"),
        "artifacts": [{"prefix": ""}],
    }
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(json.dumps(document))  # JSON is YAML
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "MIGRATOR_OBJECT_PROCESSES": "2",
        "TEST_S3_KEY": moto_s3.admin.access_key,
        "TEST_S3_SECRET": moto_s3.admin.secret_key,
    }
    moto_s3.faults.slow(0.1, method="PUT")
    client = moto_s3.client()

    run = subprocess.Popen(
        [sys.executable, "-m", "migrator", "run", str(plan_file)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    below: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            below |= _descendants(run.pid)
            if client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) >= 10:
                break
            assert run.poll() is None, run.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("no object copied within 60 s")
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 130, err
    assert below and not _wait_gone(below), "a copying process outlived the interrupted run"
    copied_before = client.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
    assert 10 <= copied_before < count

    moto_s3.faults.clear()
    moto_s3.requests.reset()
    rerun = subprocess.run(
        [sys.executable, "-m", "migrator", "run", str(plan_file)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    puts = moto_s3.requests.count("PUT", path_contains="/small/")
    assert puts == count - copied_before, rerun.stdout  # what the interrupted run finished is not sent again
    plan = make_plan("source", f"s3://{bucket}/", target_s3=s3_settings(moto_s3.endpoint_url, moto_s3.admin))
    verification = verify_objects(plan, tmp_path, tmp_path / "state")
    assert verification.ok, verification.failures
