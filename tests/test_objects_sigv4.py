"""The hand-written SigV4 signer of the lean request path (stores/objects/sigv4.py) signs exactly as
botocore's S3 signer does: the same Authorization header for the same request and instant. (SeaweedFS
checks the signatures of every direct request in tests/test_objects_s3_direct.py as well.)"""

from __future__ import annotations

import calendar
import hashlib
import time
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from migrator.stores.objects.sigv4 import SigV4Signer


class _GivenPayload(S3SigV4Auth):
    def payload(self, request: AWSRequest) -> str:
        return str(request.context["payload_sha256"])


def _botocore_signed(
    method: str, url: str, headers: dict[str, str], sha256: str, creds: Credentials, region: str
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, headers=headers, data=b"")
    request.context["payload_sha256"] = sha256
    _GivenPayload(creds, "s3", region).add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


@pytest.mark.parametrize("token", [None, "a-session-token/with+chars="])
@pytest.mark.parametrize(
    ("method", "key", "headers"),
    [
        ("GET", "models/tokenizer spaced ü+%.json", {"x-amz-checksum-mode": "ENABLED", "If-Match": '"abc"'}),
        (
            "PUT",
            "a/b~c/weights (1).safetensors",
            {
                "x-amz-meta-residency": "us",
                "x-amz-meta-note": "  two  spaces inside  ",
                "Content-Type": "application/octet-stream",
                "Cache-Control": "max-age=60",
                "x-amz-checksum-sha256": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
                "content-length": "1",
            },
        ),
    ],
)
def test_the_signature_is_botocores(method: str, key: str, headers: dict[str, str], token: str | None) -> None:
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    region, host = "eu-central-1", "127.0.0.1:8333"
    path = "/bucket-1/" + quote(key, safe="/~")
    sha256 = hashlib.sha256(b"x" if method == "PUT" else b"").hexdigest()
    theirs = _botocore_signed(method, f"http://{host}{path}", dict(headers), sha256, creds, region)
    instant = calendar.timegm(time.strptime(theirs["x-amz-date"], "%Y%m%dT%H%M%SZ"))
    ours = SigV4Signer(region).sign(
        method,
        host,
        path,
        headers,
        sha256,
        access_key=creds.access_key,
        secret_key=creds.secret_key,
        token=token,
        now=instant,
    )
    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-content-sha256"] == theirs["x-amz-content-sha256"] == sha256
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token") == token


def test_the_signing_key_follows_the_day_and_the_secret() -> None:
    signer = SigV4Signer("us-east-1")
    day_one, day_two = 1_780_000_000.0, 1_780_000_000.0 + 86_400

    def authorization(secret: str, now: float) -> str:
        return signer.sign("GET", "h", "/b/k", {}, "0" * 64, access_key="A", secret_key=secret, now=now)[
            "authorization"
        ]

    first = authorization("s1", day_one)
    assert authorization("s1", day_one) == first  # the kept key gives the same signature
    assert authorization("s2", day_one) != first  # a refreshed secret is not signed with the old key
    next_day = time.strftime("%Y%m%d", time.gmtime(day_two))
    assert f"Credential=A/{next_day}/us-east-1/s3/aws4_request" in authorization("s1", day_two)
    assert authorization("s1", day_two) != first
