"""The S3 test servers answer, enforce what the object-store tests rely on, and inject faults on demand."""

from __future__ import annotations

import base64
import hashlib

import pytest
from botocore.exceptions import ClientError

from tests.object_servers import MotoEndpoint, SeaweedEndpoint


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_seaweedfs_stores_and_returns_an_object_with_its_metadata(seaweedfs: SeaweedEndpoint) -> None:
    bucket = seaweedfs.bucket()
    client = seaweedfs.client()
    client.put_object(Bucket=bucket, Key="models/a b/ü.json", Body=b"{}", Metadata={"residency": "us"})

    head = client.head_object(Bucket=bucket, Key="models/a b/ü.json")
    assert head["ContentLength"] == 2
    assert head["Metadata"] == {"residency": "us"}


def test_seaweedfs_readonly_identity_reads_but_cannot_write(seaweedfs: SeaweedEndpoint) -> None:
    bucket = seaweedfs.bucket()
    seaweedfs.client().put_object(Bucket=bucket, Key="kept", Body=b"source")
    reader = seaweedfs.client(seaweedfs.readonly)

    assert reader.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"source"
    assert [item["Key"] for item in reader.list_objects_v2(Bucket=bucket)["Contents"]] == ["kept"]
    with pytest.raises(ClientError) as refused:
        reader.put_object(Bucket=bucket, Key="written", Body=b"no")
    assert _error_code(refused) == "AccessDenied"
    with pytest.raises(ClientError) as refused:
        reader.delete_object(Bucket=bucket, Key="kept")
    assert _error_code(refused) == "AccessDenied"


def test_seaweedfs_rejects_a_wrong_sha256_or_md5_and_keeps_a_right_sha256(seaweedfs: SeaweedEndpoint) -> None:
    bucket = seaweedfs.bucket()
    client = seaweedfs.client(retries={"total_max_attempts": 1})

    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=bucket, Key="bad", Body=b"data", ChecksumSHA256=_sha256_b64(b"other"))
    assert _error_code(refused) == "BadDigest"
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=bucket, Key="bad-md5", Body=b"data", ContentMD5=_md5_b64(b"other"))
    assert _error_code(refused) == "BadDigest"
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)

    client.put_object(Bucket=bucket, Key="good", Body=b"data", ChecksumSHA256=_sha256_b64(b"data"))
    head = client.head_object(Bucket=bucket, Key="good", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == _sha256_b64(b"data")


def test_seaweedfs_multipart_sha256_is_the_composite_of_the_parts(seaweedfs: SeaweedEndpoint) -> None:
    bucket = seaweedfs.bucket()
    client = seaweedfs.client()
    parts = [b"a" * (5 * 1024 * 1024), b"b" * 1000]
    upload = client.create_multipart_upload(Bucket=bucket, Key="big", ChecksumAlgorithm="SHA256")
    sent = []
    for number, data in enumerate(parts, start=1):
        answer = client.upload_part(
            Bucket=bucket, Key="big", UploadId=upload["UploadId"], PartNumber=number, Body=data,
            ChecksumSHA256=_sha256_b64(data),
        )  # fmt: skip
        sent.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": answer["ChecksumSHA256"]})
    client.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=upload["UploadId"], MultipartUpload={"Parts": sent}
    )

    head = client.head_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    composite = base64.b64encode(hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest())
    assert head["ChecksumSHA256"] == f"{composite.decode()}-2"
    assert head["ChecksumType"] == "COMPOSITE"
    assert head["ChecksumSHA256"] != _sha256_b64(b"".join(parts))


def test_moto_answers_and_records_requests(moto_s3: MotoEndpoint) -> None:
    bucket = moto_s3.bucket()
    client = moto_s3.client()
    client.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"owner": "ml"})

    assert client.head_object(Bucket=bucket, Key="k")["Metadata"] == {"owner": "ml"}
    assert moto_s3.requests.count("PUT", path_contains="/k") == 1
    assert moto_s3.requests.count("HEAD") == 1


def test_moto_injected_fault_is_answered_then_cleared(moto_s3: MotoEndpoint) -> None:
    bucket = moto_s3.bucket()
    client = moto_s3.client(retries={"total_max_attempts": 1})
    moto_s3.faults.add(method="PUT", path_contains="/k", status=503, code="SlowDown", times=2)

    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            client.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert _error_code(refused) == "SlowDown"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    client.put_object(Bucket=bucket, Key="k", Body=b"x")  # the fault is used up

    moto_s3.faults.add(method="GET", status=500, code="InternalError", times=None)
    with pytest.raises(ClientError) as refused:
        client.get_object(Bucket=bucket, Key="k")
    assert _error_code(refused) == "InternalError"
    moto_s3.faults.clear()
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    assert moto_s3.requests.count("PUT", path_contains="/k") == 3


def test_moto_retries_ride_out_slowdown_on_upload_part(moto_s3: MotoEndpoint) -> None:
    bucket = moto_s3.bucket()
    client = moto_s3.client(retries={"max_attempts": 4, "mode": "standard"})
    moto_s3.faults.add(method="PUT", query_contains="partNumber", status=503, code="SlowDown", times=2)

    upload = client.create_multipart_upload(Bucket=bucket, Key="big")
    part = client.upload_part(Bucket=bucket, Key="big", UploadId=upload["UploadId"], PartNumber=1, Body=b"p")
    client.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )  # fmt: skip

    assert client.get_object(Bucket=bucket, Key="big")["Body"].read() == b"p"
    assert moto_s3.requests.count("PUT", query_contains="partNumber") == 3  # two refused, one stored


def test_moto_fault_after_the_write_stores_it_but_answers_an_error(moto_s3: MotoEndpoint) -> None:
    bucket = moto_s3.bucket()
    client = moto_s3.client(retries={"total_max_attempts": 1})
    moto_s3.faults.add(method="PUT", path_contains="/k", status=500, code="InternalError", after=True)

    with pytest.raises(ClientError):
        client.put_object(Bucket=bucket, Key="k", Body=b"landed")
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"landed"
