"""The object benchmark's workload, the SeaweedFS endpoint it runs against, and the check of each target.

Used by bench/objects.py (see its docstring and bench/README.md).
"""

from __future__ import annotations

import hashlib
import random
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests/ holds the SeaweedFS starter the tests use

from tests.s3_local import Credentials, empty_and_delete_bucket, s3_client  # noqa: E402
from tests.seaweedfs_server import SeaweedFS  # noqa: E402

__all__ = ["REPO", "Endpoint", "SeaweedFS", "Workload", "check_bucket", "check_folder", "generate_workload"]

CHECK_EVERY_SMALL = 100  # SHA-256 of every 100th small object (and of every large one) after each copy


# --- the workload -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    folder: Path
    sizes: dict[str, int]  # key -> size

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())

    def checked_keys(self) -> list[str]:
        small = sorted(key for key in self.sizes if key.startswith("small/"))
        return sorted(key for key in self.sizes if key.startswith("large/")) + small[::CHECK_EVERY_SMALL]


def generate_workload(folder: Path, large: int, large_mib: int, small: int, small_kib: int) -> Workload:
    """Random bytes (incompressible: no tool gains by compressing), seeded so reruns write the same files."""
    rng = random.Random(13)
    sizes: dict[str, int] = {}
    for index in range(large):
        sizes[f"large/{index:02d}.bin"] = large_mib * 1024 * 1024
    for index in range(small):
        sizes[f"small/{index // 500:02d}/{index:05d}.bin"] = small_kib * 1024
    for key, size in sizes.items():
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            left = size
            while left:
                chunk = min(left, 8 * 1024 * 1024)
                file.write(rng.randbytes(chunk))
                left -= chunk
    return Workload(folder, sizes)


def sha256_of(chunks: Any) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def file_chunks(path: Path) -> Any:
    with path.open("rb") as file:
        while chunk := file.read(1024 * 1024):
            yield chunk


# --- the server and its buckets ---------------------------------------------------------------------


@dataclass
class Endpoint:
    server: SeaweedFS

    @property
    def url(self) -> str:
        return self.server.endpoint_url

    @property
    def creds(self) -> Credentials:
        return self.server.admin

    def client(self) -> Any:
        return s3_client(self.url, self.creds, max_pool_connections=32)

    def new_bucket(self, name: str) -> str:
        bucket = f"{name}-{uuid.uuid4().hex[:8]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def drop_bucket(self, bucket: str) -> None:
        empty_and_delete_bucket(self.client(), bucket)

    def upload(self, workload: Workload, bucket: str) -> None:
        """Fill the `down` source, with boto3's transfer manager (not timed)."""
        client = self.client()
        config = TransferConfig(multipart_threshold=8 * 1024 * 1024, max_concurrency=4)
        with ThreadPoolExecutor(8) as pool:
            for future in [
                pool.submit(client.upload_file, str(workload.folder / key), bucket, key, Config=config)
                for key in workload.sizes
            ]:
                future.result()


# --- checking a target ------------------------------------------------------------------------------


def check_bucket(endpoint: Endpoint, bucket: str, workload: Workload) -> str | None:
    """None when the bucket holds exactly the workload (sizes; SHA-256 of a sample); else what is wrong."""
    client = endpoint.client()
    held: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        held.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
    wrong = _compare(held, workload)
    if wrong:
        return wrong
    for key in workload.checked_keys():
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        if sha256_of(iter(lambda body=body: body.read(1024 * 1024), b"")) != sha256_of(
            file_chunks(workload.folder / key)
        ):
            return f"{key}: SHA-256 differs from the source's"
    return None


def check_folder(folder: Path, workload: Workload) -> str | None:
    held = {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in folder.rglob("*")
        if path.is_file() and not path.relative_to(folder).as_posix().startswith(".migrator/")
    }
    wrong = _compare(held, workload)
    if wrong:
        return wrong
    for key in workload.checked_keys():
        if sha256_of(file_chunks(folder / key)) != sha256_of(file_chunks(workload.folder / key)):
            return f"{key}: SHA-256 differs from the source's"
    return None


def _compare(held: dict[str, int], workload: Workload) -> str | None:
    missing = sorted(set(workload.sizes) - set(held))
    extra = sorted(set(held) - set(workload.sizes))
    resized = sorted(key for key in set(held) & set(workload.sizes) if held[key] != workload.sizes[key])
    if missing or extra or resized:
        return f"{len(missing)} missing (e.g. {missing[:2]}), {len(extra)} extra, {len(resized)} of another size"
    return None
