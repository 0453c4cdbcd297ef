"""The lean request path for whole-object GETs and PUTs (stores/objects/s3_direct.py) is the boto3 path's
equal: the same object in the target, the same answer read back, the same errors, against a real server."""

from __future__ import annotations

import hashlib

import pytest

from migrator.errors import PermanentError, StoreUnavailable, TransientError
from migrator.plan.model import S3Settings
from migrator.stores.objects.base import ObjectInfo
from migrator.stores.objects.s3 import S3Store
from tests.object_servers import MotoEndpoint, SeaweedEndpoint
from tests.objects_cases import blob, s3_settings


def _store(url: str, endpoint: MotoEndpoint | SeaweedEndpoint, **more: str) -> S3Store:
    return S3Store(url, S3Settings.model_validate(s3_settings(endpoint.endpoint_url, endpoint.admin, **more)))


def _boto3_only(store: S3Store) -> S3Store:
    _ = store.client
    store._direct = None  # the store's own switch: without it, every call goes through boto3
    return store


@pytest.mark.parametrize("server", ["moto", "seaweedfs"])
def test_a_direct_put_and_get_equal_boto3s(server: str, request: pytest.FixtureRequest) -> None:
    endpoint = request.getfixturevalue("moto_s3" if server == "moto" else "seaweedfs")
    bucket = endpoint.bucket()
    direct, plain = _store(f"s3://{bucket}/a", endpoint), _boto3_only(_store(f"s3://{bucket}/b", endpoint))
    assert direct.direct is not None
    data = blob(300_000, 3)
    sha256 = hashlib.sha256(data).hexdigest()
    info = ObjectInfo(
        key="models/tokenizer spaced ü+%.json",
        size=len(data),
        metadata={"residency": "us", "revision": "3"},
        content_type="application/json",
        headers={"Cache-Control": "max-age=60", "Content-Encoding": "gzip", "Content-Language": "en"},
    )
    written = [direct.put(info, data, sha256), plain.put(info, data, sha256)]
    assert written[0].etag == written[1].etag

    heads = [direct.head(info.key), plain.head(info.key)]
    assert heads[0] == heads[1] and heads[0] is not None
    assert (heads[0].sha256, heads[0].metadata, heads[0].headers) == (sha256, info.metadata, info.headers)
    got = [store.get(info.key, etag=written[0].etag) for store in (direct, plain)]
    assert got[0][1] == got[1][1] == data  # gzip-encoded bytes are copied as they are, not decoded
    assert got[0][0] == got[1][0] == heads[0]


def test_direct_requests_fail_as_boto3s_do(moto_s3: MotoEndpoint) -> None:
    bucket = moto_s3.bucket()
    store = _store(f"s3://{bucket}/", moto_s3)
    data = b"weights"
    written = store.put(ObjectInfo("w.bin", len(data)), data, hashlib.sha256(data).hexdigest())

    with pytest.raises(PermanentError, match="no longer there"):
        store.get("missing.bin")
    with pytest.raises(PermanentError, match="changed since it was listed"):
        store.get("w.bin", etag="0" * 32)
    moto_s3.faults.add(method="GET", path_contains="w.bin", status=503, code="SlowDown")
    with pytest.raises(TransientError, match="SlowDown"):
        store.get("w.bin", etag=written.etag)
    moto_s3.faults.add(method="PUT", path_contains="x.bin", status=500, code="InternalError")
    with pytest.raises(TransientError, match="InternalError"):
        store.put(ObjectInfo("x.bin", len(data)), data, hashlib.sha256(data).hexdigest())
    assert store.get("w.bin", etag=written.etag)[1] == data


def test_a_direct_request_to_nothing_listening_is_unavailable(moto_s3: MotoEndpoint) -> None:
    settings = s3_settings("http://127.0.0.1:9", moto_s3.admin)  # the discard port: nothing answers there
    store = S3Store("s3://nowhere/", S3Settings.model_validate(settings))
    assert store.direct is not None
    with pytest.raises(StoreUnavailable):
        store.get("any.bin")


def test_a_redirect_leaves_the_store_to_boto3(moto_s3: MotoEndpoint) -> None:
    """A bucket in another region answers 301 PermanentRedirect: botocore follows it, this path does not."""
    bucket = moto_s3.bucket()
    store = _store(f"s3://{bucket}/", moto_s3)
    data = b"config"
    written = store.put(ObjectInfo("c.json", len(data)), data, hashlib.sha256(data).hexdigest())
    moto_s3.faults.add(method="GET", path_contains="c.json", status=301, code="PermanentRedirect")
    assert store.get("c.json", etag=written.etag)[1] == data
    assert store.direct is None
    assert moto_s3.requests.count("GET", path_contains="c.json") == 2  # the redirected one, then boto3's


@pytest.mark.parametrize("server", ["moto", "seaweedfs"])
def test_a_direct_ranged_read_equals_boto3s(server: str, request: pytest.FixtureRequest) -> None:
    endpoint = request.getfixturevalue("moto_s3" if server == "moto" else "seaweedfs")
    bucket = endpoint.bucket()
    direct, plain = _store(f"s3://{bucket}/", endpoint), _boto3_only(_store(f"s3://{bucket}/", endpoint))
    data = blob(3_000_000, 5)
    written = plain.put(ObjectInfo("part source.bin", len(data)), data, hashlib.sha256(data).hexdigest())
    for start, end in [(0, len(data)), (1_000_000, 2_500_000), (2_999_999, 3_000_000)]:
        pieces = list(direct.read("part source.bin", start, end, etag=written.etag))
        assert len(pieces) == 1  # one GET, one buffer
        assert pieces[0] == b"".join(plain.read("part source.bin", start, end, etag=written.etag)) == data[start:end]
    with pytest.raises(PermanentError, match="changed since it was listed"):
        list(direct.read("part source.bin", 0, 10, etag="0" * 32))
    assert direct.direct is not None  # still the lean path after those answers
