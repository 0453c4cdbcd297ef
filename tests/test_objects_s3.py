"""Objects through real S3 servers over HTTP: SeaweedFS (checksums, a read-only identity) and moto behind
the fault-injecting middleware (tests/object_servers.py). Parts are 5 MiB, S3's minimum, so the
multipart objects stay at a few MiB."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from migrator.artifacts import copier as copier_module
from migrator.artifacts import copy_objects, plan_objects, retry, verify_objects
from migrator.errors import PermanentError, SafetyError, StoreUnavailable
from migrator.plan.model import S3Settings
from migrator.stores.objects.open import open_store
from tests.object_servers import MotoEndpoint, SeaweedEndpoint
from tests.objects_cases import Recorder, blob, files_under, make_plan, s3_settings, write_local_object
from tests.s3_local import Credentials

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def small_parts_and_quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(copier_module, "MULTIPART_THRESHOLD", 5 * MIB)
    monkeypatch.setattr(copier_module, "PART_SIZE", 5 * MIB)
    monkeypatch.setattr(retry, "WAIT_MULTIPLIER", 0.01)
    monkeypatch.setattr(retry, "WAIT_MAX", 0.05)


def _local_source(root: Path) -> dict[str, bytes]:
    objects = {
        "models/big.safetensors": blob(12 * MIB + 123, 1),  # three parts
        "models/small.safetensors": blob(2 * MIB, 2),
        "models/empty.json": b"",
        "models/mit Leerzeichen ü/config.json": b'{"x": 1}',
    }
    for key, data in objects.items():
        write_local_object(
            root,
            key,
            data,
            {"Residency": "us", "owner": "recsys"},
            content_type="application/x-model",
            headers={"Cache-Control": "max-age=600", "Content-Language": "en"},
        )
    return objects


def test_local_to_seaweedfs_sets_metadata_and_checksums_on_both_sides_of_the_threshold(
    tmp_path: Path, seaweedfs: SeaweedEndpoint
) -> None:
    bucket = seaweedfs.bucket()
    objects = _local_source(tmp_path / "source")
    plan = make_plan(
        "source",
        f"s3://{bucket}/us",
        [{"prefix": "models/", "metadata": {"residency": "us"}}],
        target_s3=s3_settings(seaweedfs.endpoint_url, seaweedfs.admin),
    )
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=4, events=Recorder())
    assert result.copied == len(objects)

    client = seaweedfs.client()
    for key, data in objects.items():
        head = client.head_object(Bucket=bucket, Key=f"us/{key}", ChecksumMode="ENABLED")
        sha = hashlib.sha256(data).hexdigest()
        assert head["ContentLength"] == len(data)
        assert {k.lower(): v for k, v in head["Metadata"].items()} == {
            "residency": "us",
            "owner": "recsys",
            "migrator-sha256": sha,
        }
        assert head["ContentType"] == "application/x-model"
        assert head["CacheControl"] == "max-age=600" and head["ContentLanguage"] == "en"
        if len(data) > 5 * MIB:
            assert head["ChecksumSHA256"].endswith("-3")  # composite: the parts' SHA-256s
        else:
            assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(sha)).decode()
        assert client.get_object(Bucket=bucket, Key=f"us/{key}")["Body"].read() == data

    verification = verify_objects(plan, tmp_path, tmp_path / "state")
    assert verification.ok, verification.failures
    assert verify_objects(plan, tmp_path, tmp_path / "fresh-state", manifest=result.manifest).ok

    again = Recorder()
    copy_objects(plan, tmp_path, tmp_path / "state", workers=4, events=again)
    assert set(again.actions().values()) == {"skipped"}

    # A changed object (same size, other bytes, put by someone else) and changed metadata are caught.
    old = client.head_object(Bucket=bucket, Key="us/models/small.safetensors")
    client.put_object(
        Bucket=bucket,
        Key="us/models/small.safetensors",
        Body=blob(2 * MIB, 9),
        Metadata=old["Metadata"],  # the stored SHA-256 claims the old bytes: the server's checksum does not
        ChecksumAlgorithm="SHA256",
    )
    client.copy_object(
        Bucket=bucket,
        Key="us/models/empty.json",
        CopySource={"Bucket": bucket, "Key": "us/models/empty.json"},
        Metadata={"residency": "eu", "owner": "recsys", "migrator-sha256": hashlib.sha256(b"").hexdigest()},
        MetadataDirective="REPLACE",
    )
    client.put_object(Bucket=bucket, Key="us/models/extra.bin", Body=b"x")
    failed = {(c.check, c.key) for c in verify_objects(plan, tmp_path, tmp_path / "state").failures}
    assert failed == {
        ("sha256", "models/small.safetensors"),
        ("metadata", "models/empty.json"),
        ("extra", "models/extra.bin"),
    }


def _put_source_objects(client: Any, bucket: str, prefix: str = "") -> dict[str, bytes]:
    """Objects as another tool would have put them: no migrator-sha256, boto3's default CRC32 checksum."""
    objects = {
        "models/big.bin": blob(11 * MIB, 4),
        "models/small.bin": blob(300_000, 5),
        "models/ünïcode key.json": b"{}",
        "models/eu/skip.bin": b"eu",
        # Last: after a zero-byte PUT, SeaweedFS leaves the connection out of step and the client's next
        # request on it waits for its read timeout (the S3 store closes such connections; see s3.py).
        "models/zero.bin": b"",
    }
    for key, data in objects.items():
        client.put_object(
            Bucket=bucket,
            Key=prefix + key,
            Body=data,
            Metadata={"Residency": "eu" if "/eu/" in key else "us"},
            ContentType="application/octet-stream",
            CacheControl="no-cache",
        )
    return objects


def test_seaweedfs_to_local_with_a_read_only_identity(tmp_path: Path, seaweedfs: SeaweedEndpoint) -> None:
    bucket = seaweedfs.bucket()
    objects = _put_source_objects(seaweedfs.client(), bucket)
    plan = make_plan(
        f"s3://{bucket}",
        str(tmp_path / "target"),
        [{"prefix": "models/", "exclude": ["**/eu/**"]}],
        source_s3=s3_settings(seaweedfs.endpoint_url, seaweedfs.readonly),
    )
    report = plan_objects(plan, tmp_path, tmp_path / "state")
    assert report.entries[0].skipped["exclude"].sample == ["models/eu/skip.bin"]
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=3, events=Recorder())
    selected = {k: v for k, v in objects.items() if "/eu/" not in k}
    assert files_under(tmp_path / "target") == selected
    assert {line["key"]: line["sha256"] for line in result.manifest} == {
        k: hashlib.sha256(v).hexdigest() for k, v in selected.items()
    }
    assert verify_objects(plan, tmp_path, tmp_path / "state").ok
    # The hashes the first run read are cached: the second run skips everything without reading the source.
    again = Recorder()
    copy_objects(plan, tmp_path, tmp_path / "state", workers=3, events=again)
    assert set(again.actions().values()) == {"skipped"}


def test_seaweedfs_to_moto_with_different_credentials_and_a_read_only_source(
    tmp_path: Path, seaweedfs: SeaweedEndpoint, moto_s3: MotoEndpoint
) -> None:
    source_bucket, target_bucket = seaweedfs.bucket(), moto_s3.bucket()
    objects = _put_source_objects(seaweedfs.client(), source_bucket, prefix="global/")
    plan = make_plan(
        f"s3://{source_bucket}/global",
        f"s3://{target_bucket}/us/",
        [{"prefix": "models/", "metadata": {"RESIDENCY": "us"}}],
        source_s3=s3_settings(seaweedfs.endpoint_url, seaweedfs.readonly),
        target_s3=s3_settings(moto_s3.endpoint_url, moto_s3.admin),
    )
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=4, events=Recorder())
    assert result.copied == 4
    client = moto_s3.client()
    for key, data in objects.items():
        if "/eu/" in key:
            continue
        head = client.head_object(Bucket=target_bucket, Key=f"us/{key}")
        assert head["Metadata"]["migrator-sha256"] == hashlib.sha256(data).hexdigest()  # set by the self-copy
        assert head["Metadata"]["residency"] == "us" and head["CacheControl"] == "no-cache"
        assert client.get_object(Bucket=target_bucket, Key=f"us/{key}")["Body"].read() == data
    assert verify_objects(plan, tmp_path, tmp_path / "state").ok
    # No write reached the source: the read-only identity would have refused it, and its objects are as they were.
    assert (
        "migrator-sha256"
        not in seaweedfs.client().head_object(Bucket=source_bucket, Key="global/models/big.bin")["Metadata"]
    )


def test_injected_slowdown_and_500_answers_are_ridden_out(tmp_path: Path, moto_s3: MotoEndpoint) -> None:
    bucket = moto_s3.bucket()
    objects = _local_source(tmp_path / "source")
    plan = make_plan("source", f"s3://{bucket}", target_s3=s3_settings(moto_s3.endpoint_url, moto_s3.admin))
    moto_s3.faults.add(method="PUT", query_contains="partNumber=2", status=503, code="SlowDown", times=2)
    moto_s3.faults.add(method="PUT", path_contains="small.safetensors", status=500, code="InternalError", times=1)
    moto_s3.faults.add(method="PUT", path_contains="empty.json", status=500, code="InternalError", after=True)
    moto_s3.faults.add(method="GET", status=503, code="SlowDown", times=1)  # the target's listing
    events = Recorder()
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=2, events=events)
    assert result.copied == len(objects)
    assert len(events.retries) == 5 == result.retries
    assert any("SlowDown" in error and "part 2" in what for what, error in events.retries)
    verification = verify_objects(plan, tmp_path, tmp_path / "state")
    assert verification.ok, verification.failures


def test_two_thousand_small_objects(tmp_path: Path, seaweedfs: SeaweedEndpoint) -> None:
    source = tmp_path / "source"
    for n in range(2_050):
        path = source / f"shard-{n % 7}" / f"object {n:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{n}".encode())
    bucket = seaweedfs.bucket()
    plan = make_plan("source", f"s3://{bucket}", target_s3=s3_settings(seaweedfs.endpoint_url, seaweedfs.admin))
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=8, events=Recorder())
    assert result.copied == 2_050 and len(result.manifest) == 2_050
    verification = verify_objects(plan, tmp_path, tmp_path / "state", manifest=result.manifest)
    assert verification.ok and len(verification.checks) == 4 * 2_050


def test_overlapping_buckets_are_refused_and_apart_prefixes_are_not(tmp_path: Path, moto_s3: MotoEndpoint) -> None:
    bucket = moto_s3.bucket()
    moto_s3.client().put_object(Bucket=bucket, Key="models/a.bin", Body=b"a")
    settings = s3_settings(moto_s3.endpoint_url, moto_s3.admin)
    localhost = s3_settings(moto_s3.endpoint_url.replace("127.0.0.1", "localhost"), moto_s3.admin)
    for source, target, target_s3 in [
        (f"s3://{bucket}/models", f"s3://{bucket}/models/us", settings),
        (f"s3://{bucket}", f"s3://{bucket}/copy", settings),
        (f"s3://{bucket}/models/", f"s3://{bucket}/models", localhost),
    ]:
        plan = make_plan(source, target, source_s3=settings, target_s3=target_s3, existing="merge")
        assert plan_objects(plan, tmp_path, tmp_path / "state").refusals, (source, target)
        with pytest.raises(SafetyError):
            copy_objects(plan, tmp_path, tmp_path / "state", workers=1, events=Recorder())
    apart = make_plan(f"s3://{bucket}/models", f"s3://{bucket}/models-us", source_s3=settings, target_s3=settings)
    assert plan_objects(apart, tmp_path, tmp_path / "state").refusals == []


def test_a_store_that_refuses_us_is_unavailable(tmp_path: Path, moto_s3: MotoEndpoint) -> None:
    cases = [
        (f"s3://no-such-bucket-{tmp_path.name.lower()[:20]}", s3_settings(moto_s3.endpoint_url, moto_s3.admin)),
        ("s3://bucket", s3_settings("http://127.0.0.1:9", moto_s3.admin)),
    ]
    for url, settings in cases:
        plan = make_plan(url, str(tmp_path / "t"), source_s3=settings)
        with pytest.raises(StoreUnavailable) as caught:
            plan_objects(plan, tmp_path, tmp_path / "state")
        assert url in str(caught.value) and "testing" not in str(caught.value)


def test_bad_credentials_are_unavailable(tmp_path: Path, seaweedfs: SeaweedEndpoint) -> None:
    bucket = seaweedfs.bucket()
    plan = make_plan(
        f"s3://{bucket}",
        str(tmp_path / "t"),
        source_s3=s3_settings(seaweedfs.endpoint_url, Credentials("nobody", "wrong-secret")),
    )
    with pytest.raises(StoreUnavailable, match=bucket):
        plan_objects(plan, tmp_path, tmp_path / "state")


def test_folder_markers_are_not_objects_and_non_ascii_metadata_is_named(tmp_path: Path, moto_s3: MotoEndpoint) -> None:
    bucket = moto_s3.bucket()
    client = moto_s3.client()
    client.put_object(Bucket=bucket, Key="models/", Body=b"")  # an S3 console's folder
    client.put_object(Bucket=bucket, Key="models/a.bin", Body=b"a")
    settings = s3_settings(moto_s3.endpoint_url, moto_s3.admin)
    plan = make_plan(f"s3://{bucket}", str(tmp_path / "t"), source_s3=settings)
    result = copy_objects(plan, tmp_path, tmp_path / "state", workers=1, events=Recorder())
    assert [line["key"] for line in result.manifest] == ["models/a.bin"]

    write_local_object(tmp_path / "source", "b.bin", b"b", {"owner": "Jürgen"})
    to_s3 = make_plan("source", f"s3://{bucket}/copy", target_s3=settings)
    with pytest.raises(PermanentError, match=r"(?s)put object b\.bin: .*Non ascii characters"):
        copy_objects(to_s3, tmp_path, tmp_path / "state", workers=1, events=Recorder())


def test_a_read_of_a_version_that_changed_is_refused(moto_s3: MotoEndpoint) -> None:
    bucket = moto_s3.bucket()
    moto_s3.client().put_object(Bucket=bucket, Key="k.bin", Body=b"first")
    store = open_store(f"s3://{bucket}", S3Settings(**s3_settings(moto_s3.endpoint_url, moto_s3.admin)), Path("."))
    listed = next(iter(store.list()))
    moto_s3.client().put_object(Bucket=bucket, Key="k.bin", Body=b"second")
    with pytest.raises(PermanentError, match=r"k\.bin: changed since it was listed"):
        b"".join(store.read("k.bin", 0, 3, etag=listed.etag))


def test_a_run_into_a_new_target_heads_only_the_objects_changed_since_an_earlier_copy(
    tmp_path: Path, moto_s3: MotoEndpoint
) -> None:
    """The same plan and state folder, a new target each run: the objects an earlier run copied are not
    HEADed again while their listed size and ETag are those the state hashed (found first: every one
    HEADed, 2,000 HEADs for 2,000 objects in the benchmark); one rewritten in the source is HEADed and
    reported as changed."""
    bucket, client = moto_s3.bucket(), moto_s3.client()
    for n in range(6):
        client.put_object(Bucket=bucket, Key=f"models/{n}.bin", Body=blob(1000 + n, n))
    source_s3 = s3_settings(moto_s3.endpoint_url, moto_s3.admin)
    state = tmp_path / "state"

    def run_into(target: str) -> tuple[Any, int]:
        plan = make_plan(f"s3://{bucket}/models", str(tmp_path / target), source_s3=source_s3)
        moto_s3.requests.reset()
        result = copy_objects(plan, tmp_path, state, workers=2, events=Recorder())
        heads = moto_s3.requests.count("HEAD")
        assert verify_objects(plan, tmp_path, state).ok
        return result, heads

    first, _ = run_into("first")
    assert len(first.manifest) == 6 and not first.source_changes
    again, heads = run_into("second")
    assert heads == 0 and not again.source_changes
    # Rewritten with its SHA-256 stored, which the HEAD reads: the change is then known before the copy.
    client.put_object(Bucket=bucket, Key="models/3.bin", Body=b"rewritten", ChecksumAlgorithm="SHA256")
    changed, heads = run_into("third")
    assert heads == 1
    assert changed.source_changes == ["3.bin: changed in the source since an earlier run copied it"]
    assert (tmp_path / "third" / "3.bin").read_bytes() == b"rewritten"
