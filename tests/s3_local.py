"""What every local S3 test server has in common: credentials, free ports, a boto3 client, bucket clean-up.

Imports boto3, which only migrator/stores/ may do in the package: tests and the benchmark may too.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str

    def __repr__(self) -> str:
        # Test output may print a fixture; the secret stays out of it.
        return f"Credentials(access_key={self.access_key!r}, secret_key=***)"


class ServerFailed(RuntimeError):
    """A test server did not start or stopped answering; the message carries its log's tail."""


def free_port() -> int:
    # The port is free when asked; another process could take it before the server binds it, which on a
    # test machine is rare enough that a failed start (with its log) is an acceptable answer.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def s3_client(endpoint_url: str, creds: Credentials, **config: Any) -> Any:
    """A boto3 S3 client for a local server: path-style (bucket names are not host names here), us-east-1.

    `config` goes to botocore's Config, e.g. `request_checksum_calculation="when_required"` or
    `retries={"total_max_attempts": 1}`.
    """
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, **config),
    )


def empty_and_delete_bucket(client: Any, bucket: str) -> None:
    """Delete a bucket with its objects and unfinished multipart uploads (a killed copy leaves those)."""
    try:
        uploads = client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket)
        for page in uploads:
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise
