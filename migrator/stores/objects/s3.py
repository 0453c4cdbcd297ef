"""An S3 bucket (any S3-compatible endpoint) as an object store, through boto3.

One boto3 session and client per store, so the two sides of an S3->S3 copy each use their own endpoint
and credentials (the plan's `s3` settings: endpoint_url, region, a profile or keys, addressing style
and the checksum behaviour). botocore's own retries are turned off: the copier's one retry policy
(tenacity) retries every request, and reports each retry, which botocore's silent ones would not.

Checksums: a single put sends `ChecksumSHA256` and every part of a multipart upload its own (the upload
is created with ChecksumAlgorithm=SHA256), so the server rejects damaged bytes; the object's full SHA-256
is also stored as user metadata `migrator-sha256`, which is what a later run compares to skip a copy
without reading it. A server that rejects the checksum headers (`request_checksum_calculation:
when_required` in the plan) gets none of them; the metadata key is still stored.

Errors are classified here, at the edge (see `_classify`): 5xx, SlowDown, throttling, timeouts and
dropped connections are TransientError; a refused connection, bad credentials, a missing bucket or a
denied access before the store ever answered us are StoreUnavailable; the rest PermanentError. Every
message names the store and the object.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

import boto3
import botocore.exceptions as bex
import botocore.session
from botocore.config import Config
from botocore.loaders import create_loader

from migrator.errors import PermanentError, StoreUnavailable, TransientError
from migrator.plan.model import S3Settings
from migrator.stores.objects.base import SHA256_METADATA_KEY, ObjectInfo, PartDone, Place, Written
from migrator.stores.objects.s3_direct import (
    Answer,
    DirectRequestFailed,
    DirectRequests,
    NotServedDirectly,
    response_checksum_ok,
)

_CHUNK = 1024 * 1024
# A ranged read up to this size (a multipart copy's part: 8 MiB) is one direct GET read into one buffer,
# as the copier holds a part whole anyway; longer reads stream through botocore in _CHUNK pieces.
_DIRECT_RANGE_MAX = 64 * 1024 * 1024
_POOL_CONNECTIONS = 32
_TIMEOUTS = (10.0, 60.0)  # connect, read (seconds)
_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "RequestTimeout", "InternalError",
    "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequestsException", "503", "500", "502", "504",
}  # fmt: skip
_UNAVAILABLE_CODES = {
    "NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
    "403", "InvalidBucketName", "AuthorizationHeaderMalformed", "ExpiredToken", "InvalidToken",
}  # fmt: skip
_NETWORK_ERRORS = (
    bex.ConnectionClosedError, bex.ReadTimeoutError, bex.ConnectTimeoutError, bex.ResponseStreamingError,
    bex.IncompleteReadError, bex.EndpointConnectionError, bex.ConnectionError, bex.HTTPClientError,
)  # fmt: skip
# Headers carried over: botocore's parameter names, and the names in ObjectInfo.headers.
_HEADER_PARAMS = {
    "CacheControl": "Cache-Control",
    "ContentEncoding": "Content-Encoding",
    "ContentDisposition": "Content-Disposition",
    "ContentLanguage": "Content-Language",
}


# botocore's service descriptions (the S3 model is a large JSON file), loaded once per process: every
# client a run makes (each side, the plan pass, the verification) shares them. Only data: the
# credentials and settings stay each client's own.
_LOADER_LOCK = threading.Lock()
_loader: Any = None


def _shared_loader() -> Any:
    global _loader
    with _LOADER_LOCK:
        if _loader is None:
            _loader = create_loader()
        return _loader


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket[/prefix]` -> (bucket, prefix ending in `/`, or "")."""
    parts = urlsplit(url)
    prefix = parts.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"  # a prefix names a folder: s3://b/models never holds models-eu/...
    return parts.netloc, prefix


class S3Store:
    def __init__(self, url: str, settings: S3Settings | None):
        self.bucket, self.prefix = parse_s3_url(url)
        self.settings = settings or S3Settings()
        self._answered = False  # has this store answered us once? (then a refused connection is transient)
        self._lock = threading.Lock()
        self._send_checksums = self.settings.request_checksum_calculation != "when_required"
        self._client: Any = None
        self._direct: DirectRequests | None = None  # the lean path for whole-object GETs and PUTs (s3_direct.py)

    @property
    def client(self) -> Any:
        """Made at first use: a store asked only for its location (messages, the audit trail) costs
        nothing, and a run makes no client it does not call."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        try:
            core = botocore.session.Session()
            core.register_component("data_loader", _shared_loader())
            # Timestamps (LastModified) stay the text the server sent: nothing here reads them, and
            # dateutil's parsing of every listed object's took a fifth of listing a thousand objects.
            core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
            session = boto3.session.Session(
                botocore_session=core,
                profile_name=self.settings.profile,
                aws_access_key_id=self.settings.access_key_id,
                aws_secret_access_key=self.settings.secret_access_key,
                aws_session_token=self.settings.session_token,
                region_name=self.settings.region,
            )
            s3: dict[str, Any] = {"addressing_style": self.settings.addressing_style}
            if self._send_checksums:
                # Every write carries its SHA-256 (x-amz-checksum-sha256, a signed header) and the server
                # checks the body against it, so SigV4 need not hash each body once more to sign it (it
                # does on plain http unless told not to; https uploads skip it anyway): a second SHA-256
                # of every byte sent, a sixth of an upload's CPU time.
                s3["payload_signing_enabled"] = False
            options: dict[str, Any] = {
                "s3": s3,
                "retries": {"total_max_attempts": 1},
                "connect_timeout": _TIMEOUTS[0],
                "read_timeout": _TIMEOUTS[1],
                "max_pool_connections": _POOL_CONNECTIONS,
                # Every request is built by this module from typed values: botocore's check of each
                # request's parameters against the service model is CPU spent per request for nothing.
                "parameter_validation": False,
            }
            if self.settings.request_checksum_calculation:
                options["request_checksum_calculation"] = self.settings.request_checksum_calculation
            if self.settings.response_checksum_validation:
                options["response_checksum_validation"] = self.settings.response_checksum_validation
            client = session.client("s3", endpoint_url=self.settings.endpoint_url, config=Config(**options))
            client.meta.events.register("before-send.s3.PutObject", _close_after_an_empty_body)
            credentials = session.get_credentials()
            if DirectRequests.usable(client, credentials):
                self._direct = DirectRequests(
                    client,
                    credentials,
                    self.bucket,
                    pool_size=_POOL_CONNECTIONS,
                    timeouts=_TIMEOUTS,
                    ca_bundle=core.get_config_variable("ca_bundle"),
                )
        except (bex.ProfileNotFound, bex.NoRegionError, bex.PartialCredentialsError, ValueError) as error:
            raise StoreUnavailable(f"{self.location}: cannot set up the S3 client: {error}") from error
        return client

    @property
    def direct(self) -> DirectRequests | None:
        _ = self.client  # the direct path is made with the client, when it can serve the client's requests
        return self._direct

    @property
    def location(self) -> str:
        endpoint = self.settings.endpoint_url or "AWS"
        return f"s3://{self.bucket}/{self.prefix} ({endpoint})"

    @property
    def place(self) -> Place:
        endpoint = self.settings.endpoint_url
        authority = _normal_endpoint(endpoint) if endpoint else "aws"  # AWS bucket names are global
        return Place("s3", f"{authority}/{self.bucket}", self.prefix)

    # --- reading ---------------------------------------------------------------------------------------

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                self._answered = True
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"][len(self.prefix) :],
                        size=item["Size"],
                        etag=item.get("ETag", "").strip('"') or None,
                        described=False,
                    )
        except (bex.BotoCoreError, bex.ClientError) as error:
            self._classify(error, "list", prefix or "(every key)")

    def head(self, key: str) -> ObjectInfo | None:
        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key, ChecksumMode="ENABLED")
        except bex.ClientError as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                self._answered = True
                return None
            self._classify(error, "head", key)
        except bex.BotoCoreError as error:
            self._classify(error, "head", key)
        self._answered = True
        return _described(key, answer)

    def get(self, key: str, etag: str | None = None) -> tuple[ObjectInfo, bytes]:
        direct = self.direct
        if direct is not None:
            try:
                return self._get_direct(direct, key, etag)
            except NotServedDirectly:
                self._direct = None  # from now on botocore's path, which follows what this one does not
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.prefix + key}
        if etag:
            request["IfMatch"] = f'"{etag}"'
        try:
            answer = self.client.get_object(**request)
            self._answered = True
            body = answer["Body"]
            try:
                data = body.read()
            finally:
                body.close()
        except bex.ClientError as error:
            self._missing_or_classify(error, "read", key)
        except bex.BotoCoreError as error:
            self._classify(error, "read", key)
        except (ConnectionError, TimeoutError) as error:  # urllib3's own, surfacing mid-stream
            raise TransientError(f"{self.location}: reading {key}: {error}") from error
        return _described(key, answer), data

    def _get_direct(self, direct: DirectRequests, key: str, etag: str | None) -> tuple[ObjectInfo, bytes]:
        headers: dict[str, str] = {}
        if self.settings.response_checksum_validation != "when_required":
            headers["x-amz-checksum-mode"] = "ENABLED"  # as botocore asks by default, to check the body
        answer = self._direct_get(direct, key, headers, etag, self._missing_or_classify)
        if headers.get("x-amz-checksum-mode") and not response_checksum_ok(answer.headers, answer.body):
            raise TransientError(f"{self.location}: read {key}: the bytes do not match the CRC32 the server sent")
        return _described(key, _as_botocore_answer(answer)), answer.body

    def _missing_or_classify(self, error: bex.ClientError, doing: str, key: str) -> NoReturn:
        if _code(error) in ("404", "NoSuchKey", "NotFound"):
            raise PermanentError(
                f"{self.location}: {key} is no longer there: it was deleted while being copied"
            ) from error
        self._classify(error, doing, key)

    def _failed(self, error: DirectRequestFailed, doing: str, key: str) -> NoReturn:
        where = f"{self.location}: {doing} {key}"
        if error.refused and not self._answered:
            raise StoreUnavailable(f"{where}: cannot connect ({error})", "connection refused") from error
        raise TransientError(f"{where}: {error}") from error

    def read(self, key: str, start: int = 0, end: int | None = None, etag: str | None = None) -> Iterator[bytes]:
        if end is not None and end <= start:
            return  # nothing to read (a zero-byte object); an empty Range is not valid HTTP
        direct = self.direct
        if direct is not None and end is not None and end - start <= _DIRECT_RANGE_MAX:
            try:
                yield self._read_direct(direct, key, start, end, etag)
                return
            except NotServedDirectly:
                self._direct = None  # from now on botocore's path, which follows what this one does not
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.prefix + key}
        if start or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        if etag:
            request["IfMatch"] = f'"{etag}"'
        try:
            body = self.client.get_object(**request)["Body"]
            self._answered = True
            try:
                yield from body.iter_chunks(_CHUNK)
            finally:
                body.close()
        except (bex.BotoCoreError, bex.ClientError) as error:
            self._classify(error, "read", key)
        except (ConnectionError, TimeoutError) as error:  # urllib3's own, surfacing mid-stream
            raise TransientError(f"{self.location}: reading {key}: {error}") from error

    def _read_direct(self, direct: DirectRequests, key: str, start: int, end: int, etag: str | None) -> bytes:
        """Bytes `start` to `end` (exclusive) in one GET: a part of a large object, held whole by the copier
        anyway, read into one buffer rather than joined from botocore's chunks. No checksum is asked for:
        a server's checksum is of the whole object, not of a range (the copier hashes every part)."""
        answer = self._direct_get(direct, key, {"range": f"bytes={start}-{end - 1}"}, etag, self._classify)
        if answer.status == 200 and (start, end) != (0, len(answer.body)):
            # A server that ignores Range answers the whole object: never take it for the range asked.
            raise PermanentError(f"{self.location}: read {key}: the server answered a range with the whole object")
        return answer.body

    def _direct_get(
        self,
        direct: DirectRequests,
        key: str,
        headers: dict[str, str],
        etag: str | None,
        on_client_error: Callable[[bex.ClientError, str, str], NoReturn],
    ) -> Answer:
        """One GET on the lean path, of the version with that ETag if given, its errors raised as the store
        raises botocore's (`on_client_error` for the server's refusals)."""
        if etag:
            headers["if-match"] = f'"{etag}"'
        try:
            answer = direct.get(self.prefix + key, headers)
        except bex.ClientError as error:
            on_client_error(error, "read", key)
        except DirectRequestFailed as error:
            self._failed(error, "read", key)
        self._answered = True
        return answer

    def hash_object(self, key: str) -> str | None:
        return None  # reading the object back is what the stored SHA-256 and the server's checksum avoid

    # --- writing ---------------------------------------------------------------------------------------

    def put(self, info: ObjectInfo, data: bytes, sha256: str) -> Written:
        direct = self.direct
        if direct is not None and data and _ascii_only(info):  # else botocore's path and its errors
            try:
                return self._put_direct(direct, info, data, sha256)
            except NotServedDirectly:
                self._direct = None  # from now on botocore's path, which follows what this one does not
        request = self._described(info, sha256) | {"Body": data}
        if self._send_checksums:
            request["ChecksumSHA256"] = _b64(sha256)
        return _written(self._call("put_object", info.key, **request))

    def _put_direct(self, direct: DirectRequests, info: ObjectInfo, data: bytes, sha256: str) -> Written:
        headers = {f"x-amz-meta-{name}": value for name, value in info.metadata.items()}
        headers[f"x-amz-meta-{SHA256_METADATA_KEY}"] = sha256
        if info.content_type:
            headers["Content-Type"] = info.content_type
        for name in _HEADER_PARAMS.values():
            if info.headers.get(name):
                headers[name] = info.headers[name]
        if self._send_checksums:
            headers["x-amz-checksum-sha256"] = _b64(sha256)
        try:
            answer = direct.put(self.prefix + info.key, headers, data, sha256)
        except bex.ClientError as error:
            self._classify(error, "put object", info.key)
        except DirectRequestFailed as error:
            self._failed(error, "put object", info.key)
        self._answered = True
        return _written(
            {"ETag": answer.headers.get("ETag"), "ChecksumSHA256": answer.headers.get("x-amz-checksum-sha256")}
        )

    def commit(self) -> None:
        return None  # every write was durable when S3 answered it

    def create_upload(self, info: ObjectInfo, sha256: str | None, part_size: int) -> str:
        request = self._described(info, sha256)
        if self._send_checksums:
            request["ChecksumAlgorithm"] = "SHA256"
        upload_id: str = self._call("create_multipart_upload", info.key, **request)["UploadId"]
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes, sha256: str) -> str:
        request: dict[str, Any] = {"UploadId": upload_id, "PartNumber": number, "Body": data}
        if self._send_checksums:
            request["ChecksumSHA256"] = _b64(sha256)
        etag: str = self._call("upload_part", key, Bucket=self.bucket, Key=self.prefix + key, **request)["ETag"]
        return etag.strip('"')

    def list_parts(self, key: str, upload_id: str) -> Sequence[PartDone] | None:
        parts: list[PartDone] = []
        try:
            paginator = self.client.get_paginator("list_parts")
            for page in paginator.paginate(Bucket=self.bucket, Key=self.prefix + key, UploadId=upload_id):
                self._answered = True
                for part in page.get("Parts", []):
                    checksum = part.get("ChecksumSHA256")
                    sha = base64.b64decode(checksum).hex() if checksum else ""
                    parts.append(PartDone(part["PartNumber"], part["ETag"].strip('"'), part["Size"], sha))
        except bex.ClientError as error:
            if _code(error) in ("NoSuchUpload", "404"):
                return None
            self._classify(error, "list the parts of", key)
        except bex.BotoCoreError as error:
            self._classify(error, "list the parts of", key)
        return parts

    def complete_upload(
        self, info: ObjectInfo, upload_id: str, parts: Sequence[PartDone], sha256: str, sha256_in_metadata: bool
    ) -> Written:
        listed = []
        for part in parts:
            entry: dict[str, Any] = {"PartNumber": part.number, "ETag": f'"{part.etag}"'}
            if self._send_checksums:
                entry["ChecksumSHA256"] = _b64(part.sha256)
            listed.append(entry)
        key = self.prefix + info.key
        completed = self._call(
            "complete_multipart_upload",
            info.key,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": listed},
        )
        if not sha256_in_metadata:
            # The SHA-256 was not known when the upload was created, and S3 fixes metadata at creation:
            # a server-side copy of the object onto itself with REPLACE sets it, without moving the bytes
            # through us again. (CopyObject takes objects up to 5 GiB.)
            request = self._described(info, sha256) | {
                "CopySource": {"Bucket": self.bucket, "Key": key},
                "MetadataDirective": "REPLACE",
            }
            if self._send_checksums:
                request["ChecksumAlgorithm"] = "SHA256"
            copied = self._call("copy_object", info.key, **request).get("CopyObjectResult", {})
            return _written(copied)
        return _written(completed)

    def abort_upload(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.prefix + key, UploadId=upload_id)
        except bex.ClientError as error:
            if _code(error) not in ("NoSuchUpload", "404"):
                self._classify(error, "abort the upload of", key)
        except bex.BotoCoreError as error:
            self._classify(error, "abort the upload of", key)

    def delete(self, key: str) -> None:
        self._call("delete_object", key, Bucket=self.bucket, Key=self.prefix + key)

    # --- helpers ---------------------------------------------------------------------------------------

    def _described(self, info: ObjectInfo, sha256: str | None) -> dict[str, Any]:
        """The request parameters that set an object's metadata, content type and headers explicitly."""
        metadata = dict(info.metadata)
        if sha256:
            metadata[SHA256_METADATA_KEY] = sha256
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.prefix + info.key, "Metadata": metadata}
        if info.content_type:
            request["ContentType"] = info.content_type
        for param, name in _HEADER_PARAMS.items():
            if info.headers.get(name):
                request[param] = info.headers[name]
        return request

    def _call(self, operation: str, key: str, **request: Any) -> Any:
        try:
            answer = getattr(self.client, operation)(**request)
        except (bex.BotoCoreError, bex.ClientError) as error:
            self._classify(error, operation.replace("_", " "), key)
        except UnicodeEncodeError as error:  # headers are Latin-1 on the wire; S3 takes ASCII metadata only
            raise PermanentError(
                f"{self.location}: {operation.replace('_', ' ')} {key}: its user metadata or headers hold "
                "characters S3 cannot carry (S3 takes ASCII only)"
            ) from error
        self._answered = True
        return answer

    def _classify(self, error: Exception, doing: str, key: str) -> NoReturn:
        where = f"{self.location}: {doing} {key}"
        if isinstance(error, bex.NoCredentialsError | bex.PartialCredentialsError | bex.ProfileNotFound):
            raise StoreUnavailable(f"{where}: no usable credentials ({error})", "authentication failed") from error
        if isinstance(error, bex.ClientError):
            code = _code(error)
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            message = error.response.get("Error", {}).get("Message") or code
            if code in ("PreconditionFailed", "412"):
                raise PermanentError(
                    f"{where}: changed since it was listed (another ETag): run again to copy its new version"
                ) from error
            if code in _TRANSIENT_CODES or status >= 500 or status == 429:
                raise TransientError(f"{where}: {code} ({message})") from error
            if code in _UNAVAILABLE_CODES and not self._answered:
                hint = "check the bucket name, the endpoint and the credentials"
                raise StoreUnavailable(f"{where}: {code} ({message}); {hint}", code) from error
            if code in ("AccessDenied", "403"):
                raise PermanentError(f"{where}: access denied: the credentials may not do this") from error
            raise PermanentError(f"{where}: {code} ({message})") from error
        if isinstance(error, bex.EndpointConnectionError) and not self._answered:
            raise StoreUnavailable(f"{where}: cannot connect ({error})", "connection refused") from error
        if isinstance(error, _NETWORK_ERRORS):
            raise TransientError(f"{where}: {error}") from error
        raise PermanentError(f"{where}: {error}") from error


def _close_after_an_empty_body(request: Any, **_: Any) -> None:
    """SeaweedFS (4.48) answers a zero-byte PutObject in a way that leaves the kept-alive connection out of
    step: the next request on it waits for an answer until its read timeout. Closing the connection
    after an empty PUT costs one reconnection per zero-byte object and avoids that everywhere."""
    if request.headers.get("Content-Length") in ("0", b"0"):
        request.headers["Connection"] = "close"


def _described(key: str, answer: dict[str, Any]) -> ObjectInfo:
    """An object as a HEAD or a GET answers it: its size, metadata, headers and checksums."""
    metadata = {k.lower(): v for k, v in answer.get("Metadata", {}).items()}
    ours = metadata.pop(SHA256_METADATA_KEY, None)
    checksum = answer.get("ChecksumSHA256")
    etag = answer.get("ETag", "").strip('"')
    # A multipart object's checksum is of its parts unless the server says FULL_OBJECT: SeaweedFS and
    # AWS write "BASE64-N", moto the BASE64 alone (N is in the ETag's "-N" then).
    of_parts = "-" in (checksum or "") or answer.get("ChecksumType") == "COMPOSITE"
    if checksum and not of_parts and "-" in etag and answer.get("ChecksumType") != "FULL_OBJECT":
        checksum, of_parts = f"{checksum}-{etag.rsplit('-', 1)[1]}", True
    composite = checksum if checksum and of_parts else None
    full = base64.b64decode(checksum).hex() if checksum and not of_parts else None
    return ObjectInfo(
        key=key,
        size=answer["ContentLength"],
        metadata=metadata,
        content_type=answer.get("ContentType"),
        headers={name: answer[param] for param, name in _HEADER_PARAMS.items() if answer.get(param)},
        sha256=ours or full,
        etag=etag or None,
        checksum_sha256=full,
        composite_sha256=composite,
    )


def _as_botocore_answer(answer: Answer) -> dict[str, Any]:
    """A direct GET's headers in the shape of botocore's GetObject answer, for `_described`."""
    headers = answer.headers
    converted: dict[str, Any] = {
        "ContentLength": len(answer.body),
        "Metadata": {
            name[len("x-amz-meta-") :]: value
            for name, value in headers.items()
            if name.lower().startswith("x-amz-meta-")
        },
        "ContentType": headers.get("Content-Type"),
        "ETag": headers.get("ETag", ""),
        "ChecksumSHA256": headers.get("x-amz-checksum-sha256"),
        "ChecksumType": headers.get("x-amz-checksum-type"),
    }
    for param, name in _HEADER_PARAMS.items():
        converted[param] = headers.get(name)
    return converted


def _ascii_only(info: ObjectInfo) -> bool:
    texts = [*info.metadata, *info.metadata.values(), *info.headers.values(), info.content_type or ""]
    return all(text.isascii() for text in texts)


def _written(answer: dict[str, Any]) -> Written:
    """What a write answered: the new object's ETag, and the server's SHA-256 of the bytes it stored when
    it gives one of the whole object (a composite "BASE64-N" is of the parts: left out)."""
    etag = str(answer.get("ETag", "")).strip('"') or None
    checksum = answer.get("ChecksumSHA256")
    full = base64.b64decode(checksum).hex() if checksum and "-" not in checksum else None
    return Written(etag, full)


def _code(error: bex.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _b64(sha256_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def _normal_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if host in ("localhost", "::1"):
        host = "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"
