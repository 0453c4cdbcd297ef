"""A copy killed with SIGKILL in the middle of a large multipart upload resumes part by part: the next run
continues the same upload and sends none of the parts the killed one had checkpointed (counted from the
requests moto saw); a source changed meanwhile is reported and its upload started over."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from migrator.artifacts import copier as copier_module
from migrator.artifacts import copy_objects, verify_objects
from migrator.artifacts.ledger import ObjectsState
from migrator.plan.model import Plan
from tests.object_servers import MotoEndpoint
from tests.objects_cases import Recorder, blob, kill_after_parts, make_plan, s3_settings, write_local_object

MIB = 1024 * 1024
PART = 5 * MIB
PARTS = 8
KEY = "models/large.safetensors"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def five_mib_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(copier_module, "MULTIPART_THRESHOLD", PART)
    monkeypatch.setattr(copier_module, "PART_SIZE", PART)


def _kill_after_parts(tmp_path: Path, plan: Plan, finished: int) -> list[int]:
    """Run the copy in a child process, SIGKILL it once `finished` parts are checkpointed; their numbers."""
    return kill_after_parts(tmp_path, plan, KEY, finished, PART)


def _part_numbers(requests: Any) -> list[int]:
    numbers = []
    for request in requests.all():
        if request.method == "PUT" and "partNumber=" in request.query:
            numbers.append(int(request.query.split("partNumber=")[1].split("&")[0]))
    return numbers


def test_a_killed_multipart_upload_resumes_without_resending_finished_parts(
    tmp_path: Path, moto_s3: MotoEndpoint
) -> None:
    data = blob(PARTS * PART - 1000, 7)
    write_local_object(tmp_path / "source", KEY, data, {"residency": "us"})
    bucket = moto_s3.bucket()
    plan = make_plan("source", f"s3://{bucket}/us", target_s3=s3_settings(moto_s3.endpoint_url, moto_s3.admin))

    finished = _kill_after_parts(tmp_path, plan, 3)
    assert finished[:3] == [1, 2, 3]
    sent_before = _part_numbers(moto_s3.requests)
    moto_s3.requests.reset()

    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=2, events=Recorder())
    resent = _part_numbers(moto_s3.requests)
    assert not set(resent) & set(finished), f"finished parts {finished} sent again: {resent}"
    assert sorted(resent) == [n for n in range(1, PARTS + 1) if n not in finished]
    assert result.resumed == [{"key": KEY, "parts_reused": len(finished), "parts_sent": len(resent)}]
    assert len(sent_before) >= len(finished)
    print(f"\nresume figures: parts sent before the kill {len(sent_before)}, checkpointed {len(finished)}, "
          f"sent after {len(resent)}, finished parts re-sent 0")  # fmt: skip

    body = moto_s3.client().get_object(Bucket=bucket, Key=f"us/{KEY}")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    assert ObjectsState(tmp_path / "state").upload(KEY) is None
    verification = verify_objects(plan, tmp_path, tmp_path / "state")
    assert verification.ok, verification.failures


def test_a_source_changed_after_the_kill_is_reported_and_started_over(tmp_path: Path) -> None:
    source = tmp_path / "source"
    write_local_object(source, KEY, blob(PARTS * PART, 8))
    plan = make_plan("source", "target")
    _kill_after_parts(tmp_path, plan, 2)

    changed = blob(PARTS * PART - 10, 9)
    write_local_object(source, KEY, changed)
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=1, events=Recorder())
    assert any("changed in the source since its interrupted upload began" in c for c in result.source_changes)
    assert (tmp_path / "target" / KEY).read_bytes() == changed
    assert not list((tmp_path / "target" / ".migrator" / "partial").iterdir())
    assert verify_objects(plan, tmp_path, tmp_path / "state").ok


def test_a_killed_copy_into_a_local_folder_resumes_part_by_part(tmp_path: Path) -> None:
    data = blob(PARTS * PART, 10)
    write_local_object(tmp_path / "source", KEY, data)
    plan = make_plan("source", "target")
    finished = _kill_after_parts(tmp_path, plan, 3)
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=1, events=Recorder())
    assert result.resumed[0]["parts_reused"] >= len(finished)
    assert result.resumed[0]["parts_reused"] + result.resumed[0]["parts_sent"] == PARTS
    assert (tmp_path / "target" / KEY).read_bytes() == data
    assert verify_objects(plan, tmp_path, tmp_path / "state").ok
