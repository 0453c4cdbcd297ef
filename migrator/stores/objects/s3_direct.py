"""A lean request path for the two calls a copy of many small objects makes: a whole-object GET and a PUT.

Why: botocore spends about a millisecond of CPU on each request before and after the network (the
endpoint rule set, the event hooks, serialising, the user agent, parsing the answer), about half of
what a copy of a 256 KiB object costs us in all; measured on a loop of GETs of 256 KiB objects from
SeaweedFS, 1.7 ms of CPU per object through boto3 and 0.8 ms through this path with urllib3 and
botocore's signer, and less again with the hand-written signer (sigv4.py) and wire client
(http_wire.py) it uses now. Here a request is built by hand (the URL as botocore itself resolves it
for the bucket, once per store), signed with SigV4 and the client's own credentials (refreshed as the
client would), and sent on kept-alive connections of our own. A large object's part reads (ranged
GETs of a part's size) take this path too; everything else (listing, HEAD, multipart uploads, longer
ranged reads) stays on the boto3 client: those are few, or large.

What it keeps of botocore's behaviour, on purpose:
- the payload hash is signed: a PUT's body is hashed by the copy anyway (its SHA-256 is the one the
  target stores), so the server checks the body against the signature for free; a GET signs the empty
  body's;
- `request_checksum_calculation`: the PUT carries `x-amz-checksum-sha256` unless it is `when_required`;
- `response_checksum_validation`: a GET asks for the server's checksum (`x-amz-checksum-mode`) unless
  it is `when_required`, and a CRC32 answer is checked here (a SHA-256 one by the copy, which compares
  it with the bytes' own; other algorithms are left to `migrator verify`);
- no retries of its own (the copier's policy retries, and reports each), and the same timeouts.

Errors come back as botocore's ClientError (status, code and message from the XML answer) or a
`DirectRequestFailed` for the network, so the store classifies them as it does botocore's.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

import botocore.exceptions as bex
from botocore.httpsession import get_cert_path

from migrator.stores.objects.http_wire import ConnectionPool, WireError, WireTLSError
from migrator.stores.objects.sigv4 import SigV4Signer

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


class DirectRequestFailed(Exception):
    """The request did not get an answer (refused, dropped, timed out): `refused` when no connection was made."""

    def __init__(self, message: str, refused: bool):
        super().__init__(message)
        self.refused = refused


class NotServedDirectly(Exception):
    """An answer this path does not follow (a redirect to the bucket's region, a TLS failure): the store
    leaves every later request to botocore, which follows redirects and honours its own TLS settings."""


_REDIRECT_CODES = {"PermanentRedirect", "TemporaryRedirect", "AuthorizationHeaderMalformed"}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # looked up in any case (http_wire.Headers)
    body: bytes


class DirectRequests:
    """Signed GETs and PUTs of whole objects of one bucket, over a pool of connections of our own."""

    def __init__(
        self,
        client: Any,
        credentials: Any,
        bucket: str,
        *,
        pool_size: int,
        timeouts: tuple[float, float],
        ca_bundle: str | None = None,
    ):
        # The object URL exactly as botocore resolves it (addressing style, endpoint, region rules):
        # a presigned URL of a placeholder key, cut before that key. Computed once, locally.
        marker = "migrator-direct-placeholder"
        presigned = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": marker})
        url = presigned.split("?", 1)[0]
        if not url.endswith("/" + marker):
            raise ValueError(f"unexpected object URL {url}")
        self._base = url[: -len(marker)]
        parts = urlsplit(self._base)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        self._path = parts.path  # the bucket's path (path style) or "/", each key's quoted form after it
        # The Host header, signed: the port only when it is not the scheme's default (as botocore).
        self._host = parts.netloc if parts.port not in (None, 443 if scheme == "https" else 80) else host
        if ":" in host and not self._host.startswith("["):
            self._host = f"[{host}]"  # an IPv6 literal
        self._credentials = credentials
        self._signer = SigV4Signer(client.meta.region_name or "us-east-1")
        ca = (ca_bundle or get_cert_path(True)) if scheme == "https" else None  # the profile's or AWS_CA_BUNDLE
        self._pool = ConnectionPool(scheme, host, port, maxsize=pool_size, timeouts=timeouts, ca_bundle=ca)

    @staticmethod
    def usable(client: Any, credentials: Any) -> bool:
        """Whether this path can serve the store like its client would: signed requests (credentials), no
        proxy and no custom CA bundle in the client's configuration (those stay botocore's to honour)."""
        if credentials is None or any(os.environ.get(name) for name in _PROXY_VARIABLES):
            return False
        config = client.meta.config
        return not getattr(config, "proxies", None) and not getattr(config, "client_cert", None)

    def get(self, key: str, headers: dict[str, str]) -> Answer:
        return self._send("GET", key, headers, b"", EMPTY_SHA256)

    def put(self, key: str, headers: dict[str, str], body: bytes, sha256: str) -> Answer:
        return self._send("PUT", key, {**headers, "content-length": str(len(body))}, body, sha256)

    def _send(self, method: str, key: str, headers: dict[str, str], body: bytes, sha256: str) -> Answer:
        path = self._path + quote(key, safe="/~")
        frozen = self._credentials.get_frozen_credentials()  # refreshed by botocore when it expires
        signed = self._signer.sign(
            method,
            self._host,
            path,
            headers,
            sha256,
            access_key=frozen.access_key,
            secret_key=frozen.secret_key,
            token=frozen.token,
        )
        try:
            answer = self._pool.request(method, path, signed, body)
        except WireTLSError as error:
            raise NotServedDirectly(f"TLS: {error}") from error
        except WireError as error:  # refused, timed out, dropped, not HTTP
            raise DirectRequestFailed(str(error), refused=error.refused) from error
        if answer.status >= 300:
            refused = _client_error(method, answer.status, answer.headers, answer.body)
            if answer.status in (301, 307) or refused.response["Error"]["Code"] in _REDIRECT_CODES:
                raise NotServedDirectly(str(refused)) from refused
            raise refused
        return Answer(answer.status, answer.headers, answer.body)


def _client_error(method: str, status: int, headers: Mapping[str, str], body: bytes) -> bex.ClientError:
    """The error as botocore would raise it: the S3 XML error's Code and Message, else the status."""
    code, message = str(status), ""
    if body:
        try:
            root = ElementTree.fromstring(body)
            code = root.findtext("Code") or code
            message = root.findtext("Message") or ""
        except ElementTree.ParseError:
            message = body[:200].decode("utf-8", "replace")
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": dict(headers)},
    }
    return bex.ClientError(response, "GetObject" if method == "GET" else "PutObject")  # type: ignore[arg-type]


def response_checksum_ok(headers: Mapping[str, str], body: bytes) -> bool:
    """A GET's body against the CRC32 the server sent with it (when it sent one of the whole object)."""
    crc32 = headers.get("x-amz-checksum-crc32")
    if not crc32 or "-" in crc32:
        return True
    return base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode("ascii") == crc32
