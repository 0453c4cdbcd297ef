"""The secrets scanner (migrator/codebase/secrets.py): each rule on a planted, obviously fake but
well-formed secret; what a finding hashes; the allowlist; redaction; no findings in ordinary code;
lines; binary blobs; git-lfs pointers; gitleaks' own fixtures."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.codebase.findings import SecretMatch
from migrator.codebase.secrets import (
    RULE_IDS,
    SecretScanner,
    is_binary,
    is_lfs_pointer,
    redact,
    secret_hash,
)

GITLEAKS = Path(__file__).parent / "data" / "secrets" / "gitleaks"

# Fake values in each token's real shape.
ALNUM36 = "0123456789abcdefghijklmnopqrstuvwxyz"  # 36 characters
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documented example
GITHUB_FINE_GRAINED = "github_pat_" + "11FAKEFAKE0123456789ab" + "_" + "FAKE" * 14 + "012"  # 22 + "_" + 59
GITLAB = "glpat-FAKEfake0123456789ab"
SLACK = "xoxb-1234567890-1234567890123-FAKEfakeFAKEfake12345678"
SLACK_HOOK = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"  # Slack's docs
STRIPE = "sk_live_FAKE0123456789abcdefWXYZ"
GOOGLE = "AIzaSyFAKE-0123456789_abcdefghijklmnopq"  # AIza + 35


def key_body(kind: str, lines: int = 4) -> str:
    """A made-up base64 body, wrapped at 64 columns like PEM."""
    body = base64.b64encode(hashlib.sha512(kind.encode()).digest() * lines).decode()
    return "\n".join(body[i : i + 64] for i in range(0, len(body), 64))


def pem(kind: str) -> str:
    """A private-key block of the given kind ("" for PKCS #8's plain PRIVATE KEY)."""
    label = f"{kind} PRIVATE KEY" if kind else "PRIVATE KEY"
    return f"-----BEGIN {label}-----\n{key_body(kind)}\n-----END {label}-----"


PGP = f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{key_body('PGP')}\n=FAKE\n-----END PGP PRIVATE KEY BLOCK-----"


def found(text: str | bytes, allow: frozenset[str] = frozenset()) -> list[tuple[str, bytes]]:
    data = text.encode() if isinstance(text, str) else text
    return [(match.rule, data[match.start : match.end]) for match in SecretScanner(allow).scan(data)]


PLANTED = [
    ("aws-access-key-id", f'aws_access_key_id = "{AWS_KEY_ID}"\n', AWS_KEY_ID),
    ("aws-access-key-id", "export AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE\n", "ASIAIOSFODNN7EXAMPLE"),
    ("aws-secret-access-key", f"aws_secret_access_key = {AWS_SECRET}\n", AWS_SECRET),
    ("aws-secret-access-key", f'{{"SecretAccessKey": "{AWS_SECRET}"}}', AWS_SECRET),
    ("private-key", f"key = '''\n{pem('RSA')}\n'''\n", pem("RSA")),
    ("private-key", pem("EC") + "\n", pem("EC")),
    ("private-key", pem("DSA") + "\n", pem("DSA")),
    ("private-key", pem("OPENSSH") + "\n", pem("OPENSSH")),
    ("private-key", pem("") + "\n", pem("")),  # PKCS #8
    ("private-key", pem("ENCRYPTED") + "\n", pem("ENCRYPTED")),
    ("private-key", f"{PGP}\n", PGP),
    (
        "private-key",  # a service account's JSON: the block with its newlines escaped
        json.dumps({"type": "service_account", "private_key": pem("") + "\n"}),
        pem("").replace("\n", "\\n"),
    ),
    ("github-pat", f"GITHUB_TOKEN=ghp_{ALNUM36}\n", f"ghp_{ALNUM36}"),
    ("github-oauth", f"token: gho_{ALNUM36}\n", f"gho_{ALNUM36}"),
    ("github-app-token", f"Authorization: token ghu_{ALNUM36}\n", f"ghu_{ALNUM36}"),
    ("github-app-token", f"'ghs_{ALNUM36}'", f"ghs_{ALNUM36}"),
    ("github-refresh-token", f"refresh = ghr_{ALNUM36}\n", f"ghr_{ALNUM36}"),
    ("github-fine-grained-pat", f"gh auth login --with-token {GITHUB_FINE_GRAINED}\n", GITHUB_FINE_GRAINED),
    ("gitlab-pat", f"git clone https://oauth2:{GITLAB}@gitlab.example.com/g/p.git\n", GITLAB),
    ("slack-access-token", f'slack_client = WebClient("{SLACK}")\n', SLACK),
    ("slack-webhook-url", f"webhook_url: {SLACK_HOOK}\n", SLACK_HOOK),
    ("stripe-access-token", f"stripe.api_key = '{STRIPE}'\n", STRIPE),
    ("stripe-access-token", "const key = 'rk_live_FAKE0123456789abcdef';\n", "rk_live_FAKE0123456789abcdef"),
    ("gcp-api-key", f'<script src="https://maps.googleapis.com/maps/api/js?key={GOOGLE}"></script>', GOOGLE),
    ("url-password", "DATABASE_URL=postgresql://app:x7Kq2mWv9Lz@db:5432/app\n", "x7Kq2mWv9Lz"),
    ("url-password", 'redis.from_url("redis://:Zq8xW2vN5bL1mK4j@cache:6379/0")\n', "Zq8xW2vN5bL1mK4j"),
    ("generic-password", 'password = "Tr0ub4dor&3"\n', "Tr0ub4dor&3"),
    ("generic-password", "DB_PASSWORD=8ae31cacf141669ddfb5da\n", "8ae31cacf141669ddfb5da"),
    ("generic-password", "database:\n  PASSWORD: s3cr3t-Pa55\n", "s3cr3t-Pa55"),
    ("generic-password", '{"db": {"password": "hunter2hunter2"}}', "hunter2hunter2"),
    ("generic-password", "<settings><password>P@ssw0rd!9</password></settings>", "P@ssw0rd!9"),
    ("generic-password", "    smtp_pass: 'x7Kq2mWv9Lz'\n", "x7Kq2mWv9Lz"),
    ("generic-password", "db_password: str = 'n0t-So-Secure!'\n", "n0t-So-Secure!"),
    ("generic-password", "url = 'https://svc/login?user=bob&password=9f8e7d6c5b&lang=en'\n", "9f8e7d6c5b"),
    ("generic-password", "spring.datasource.password=x7Kq2mWv9Lz\n", "x7Kq2mWv9Lz"),
    ("generic-password", 'conn = "Server=db;User Id=app;Password=x7Kq2mWv9Lz;"\n', "x7Kq2mWv9Lz"),
    ("generic-password", '\tcfg := Config{User: "app", Password: "x7Kq2mWv9Lz"}\n', "x7Kq2mWv9Lz"),
    ("generic-password", "Rotate the db creds\n\nold password: x7Kq2mWv9Lz\n", "x7Kq2mWv9Lz"),  # a commit message
    ("generic-api-key", 'api_key: "9f8e7d6c5b4a3210fedc"\n', "9f8e7d6c5b4a3210fedc"),
    ("generic-api-key", "clientSecret := `Zq8xW2vN5bL1mK4j`\n", "Zq8xW2vN5bL1mK4j"),
    ("generic-api-key", "AUTH_TOKEN=3b1f0c9e-77d2-4c1a-9a51-c0ffee5ca1ab\n", "3b1f0c9e-77d2-4c1a-9a51-c0ffee5ca1ab"),
    ("generic-api-key", "config['SECRET_KEY'] = 'dj4ngo-1ns3cure-k3y'\n", "dj4ngo-1ns3cure-k3y"),
]


@pytest.mark.parametrize(("rule", "text", "secret"), PLANTED, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(PLANTED)])
def test_each_rule_finds_its_planted_secret(rule: str, text: str, secret: str) -> None:
    assert found(text) == [(rule, secret.encode())]


def test_every_rule_id_is_planted_somewhere() -> None:
    assert {rule for rule, _, _ in PLANTED} == set(RULE_IDS)


def test_the_hash_is_of_the_secret_alone_wherever_it_stands() -> None:
    value = b"8ae31cacf141669ddfb5da"
    contexts = [
        b"DB_PASSWORD=" + value + b"\n",
        b'password: "' + value + b'"\n',
        b"x = 1\n  db.password = '" + value + b"'",
    ]
    digests = {match.sha256 for context in contexts for match in SecretScanner().scan(context)}
    assert digests == {secret_hash(value)} == {"sha256:" + hashlib.sha256(value).hexdigest()}


def test_the_allowlist_removes_exactly_the_allowed_secret() -> None:
    text = f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\nTEST_PASSWORD=x7Kq2mWv9Lz\nPASSWORD=8ae31cacf141669ddfb5da\n"
    everything = found(text)
    assert [rule for rule, _ in everything] == ["aws-access-key-id", "generic-password", "generic-password"]
    allowed = found(text, frozenset({secret_hash(b"x7Kq2mWv9Lz")}))
    assert allowed == [everything[0], everything[2]]
    assert found(text, frozenset({secret_hash(b"something else entirely")})) == everything


def test_allowing_a_value_does_not_allow_a_token_inside_a_longer_match() -> None:
    # The generic value here is the whole string; the token inside it is still its own secret.
    text = f'token = "prefix-ghp_{ALNUM36}"\n'
    assert found(text) == [("generic-api-key", f"prefix-ghp_{ALNUM36}".encode())]
    assert found(text, frozenset({secret_hash(f"prefix-ghp_{ALNUM36}".encode())})) == [
        ("github-pat", f"ghp_{ALNUM36}".encode())
    ]


def test_redact_replaces_the_secrets_and_nothing_else() -> None:
    data = f"id = {AWS_KEY_ID}\n# keep this line\npassword: 'Tr0ub4dor&3'  # and this comment\n{pem('RSA')}\nend\n"
    matches = SecretScanner().scan(data.encode())
    assert len(matches) == 3
    expected = "id = REDACTED\n# keep this line\npassword: 'REDACTED'  # and this comment\nREDACTED\nend\n"
    assert redact(data.encode(), matches) == expected.encode()
    assert SecretScanner().scan(redact(data.encode(), matches)) == []
    assert redact(data.encode(), []) == data.encode()


def test_redact_refuses_overlapping_matches() -> None:
    overlapping = [SecretMatch("x", 0, 4, 1, "sha256:a"), SecretMatch("y", 2, 6, 1, "sha256:b")]
    with pytest.raises(ValueError, match="overlapping"):
        redact(b"0123456789", overlapping)


def test_a_short_key_word_must_start_a_part_of_the_key() -> None:
    assert found('bypass = "x7Kq2mWv9Lz"\n') == []
    assert found('dbPass = "x7Kq2mWv9Lz"\n') == [("generic-password", b"x7Kq2mWv9Lz")]
    assert found('SMTP_PASS="x7Kq2mWv9Lz"\n') == [("generic-password", b"x7Kq2mWv9Lz")]
    assert found('max_tokens = "x7Kq2mWv9Lz"\n') == []


def test_a_token_in_an_assignment_gets_its_own_rule_once() -> None:
    assert found(f"GITHUB_TOKEN=ghp_{ALNUM36}\n") == [("github-pat", f"ghp_{ALNUM36}".encode())]
    assert found(f"aws_secret_access_key: '{AWS_SECRET}'") == [("aws-secret-access-key", AWS_SECRET.encode())]


def test_a_token_inside_a_rejected_assignment_is_still_found() -> None:
    assert found(f'password = "${{PREFIX}}{AWS_KEY_ID}"\n') == [("aws-access-key-id", AWS_KEY_ID.encode())]


def test_matches_are_sorted_and_never_overlap() -> None:
    text = (
        f"{pem('RSA')}\napi_key = 'Zq8xW2vN5bL1mK4j'\nGITHUB_TOKEN=ghp_{ALNUM36}\n{AWS_KEY_ID} {STRIPE}\n"
        "password = 'aws_secret_access_key=" + AWS_SECRET + "'\n"
    )
    matches = SecretScanner().scan(text.encode())
    # The last line's generic value holds a key word ("secret"): only the AWS secret inside it counts.
    assert [match.rule for match in matches] == [
        "private-key",
        "generic-api-key",
        "github-pat",
        "aws-access-key-id",
        "stripe-access-token",
        "aws-secret-access-key",
    ]
    assert all(left.end <= right.start for left, right in itertools.pairwise(matches))


def test_lines_are_one_based_and_exact() -> None:
    text = (
        f"{AWS_KEY_ID}\r\n"  # line 1, CRLF
        "\n"
        "def connect():\n"
        "    password = 'Tr0ub4dor&3'\n"  # line 4
        "    return None\n"
        f"{pem('EC')}\n"  # lines 6..
        f"x = '{STRIPE}'; y = 'ghs_{ALNUM36}'\n"
    )
    pem_lines = pem("EC").count("\n") + 1
    matches = SecretScanner().scan(text.encode())
    assert [(m.rule, m.line) for m in matches] == [
        ("aws-access-key-id", 1),
        ("generic-password", 4),
        ("private-key", 6),
        ("stripe-access-token", 6 + pem_lines),
        ("github-app-token", 6 + pem_lines),
    ]


IAM_POLICY = """{
  "Effect": "Allow",
  "Action": ["secretsmanager:GetSecretValue"],
  "Resource": "arn:aws:secretsmanager:*:*:secret:aws-datasync!*"
}
"""
ORDINARY_CODE = {
    "policy.json": IAM_POLICY,
    "settings.py": """
import os
from functools import lru_cache

DATABASE = {
    "host": os.environ.get("DB_HOST", "localhost"),
    "user": os.environ["DB_USER"],
    "password": os.environ["DB_PASSWORD"],
}
SECRET_KEY = os.environ.get("SECRET_KEY")
API_KEY = settings.API_KEY
TOKEN_EXPIRY_SECONDS = 3600
password_hash = hashlib.sha256(password.encode()).hexdigest()


def login(user, password=None, token=None):
    if password == "":
        raise ValueError("password required")
    token = get_token(user, password=password)
    headers = {"Authorization": f"Bearer {token}", "X-Api-Key": api_key}
    for tokenizer in ("bert-base-uncased", "gpt2"):
        pass
    return requests.post(url, json={"password": password, "grant_type": "password"})


class Credentials:
    password: str
    token: str | None = None
    secret_name = "prod/db/credentials"
""",
    "docker-compose.yml": """
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
      POSTGRES_USER: app
  app:
    environment:
      - DATABASE_URL=postgresql://app:${POSTGRES_PASSWORD}@db/app
      - API_TOKEN=${API_TOKEN:-}
      - SECRET_KEY=$SECRET_KEY
    env_file: .env
kind: Secret
stringData:
  password: "{{ .Values.db.password }}"
  token: <your-token-here>
""",
    ".env.example": """
# Copy to .env and fill in
DB_PASSWORD=<db password>
API_KEY=
SLACK_TOKEN=xoxb-your-bot-token
STRIPE_SECRET_KEY=sk_live_...
GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX
AUTH_TOKEN=********
PASSWORD=xxxxxxxxxxxx
MASKED_SECRET=abc***xyz
""",
    "package.json": """{
  "name": "web",
  "version": "1.2.3",
  "dependencies": {"jsonwebtoken": "^9.0.0", "passport": "^0.7.0"},
  "scripts": {"token": "node scripts/token.js"},
  "tokenizer": "bert-base-uncased",
  "apiKeyHeader": "X-Api-Key"
}
""",
    "test_fixtures.py": """
TEST_PASSWORD = "<password>"
FAKE_TOKEN = "${TOKEN}"
MASK = "************"
PLACEHOLDER_SECRET = "%(secret)s"
client.login(username="alice", password=TEST_PASSWORD)
assert response.json()["token_type"] == "bearer"
assert user.check_password(password) is True
""",
    "pem.py": """
PEM_HEADER = "-----BEGIN RSA PRIVATE KEY-----"
PEM_FOOTER = "-----END RSA PRIVATE KEY-----"

def is_private_key(text: str) -> bool:
    return text.startswith(PEM_HEADER) and text.rstrip().endswith(PEM_FOOTER)
""",
    "README.md": """
Set the token: export it as `GITHUB_TOKEN` before running. The password: never commit it.
Run `migrator run --token-file ~/.token`. Clone https://gitlab.example.com/group/app.git or
ssh://git@example.com:2222/app.git; in docs, postgresql://user:password@localhost/db or
socks5h://<username>:<password>@proxy-host; several hosts: https://foo.com:123,foo:bar@bar.com/path.
Commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it,
see 3f78685. Request id 123e4567-e89b-12d3-a456-426614174000.
""",
}


def test_no_findings_in_ordinary_code() -> None:
    image = base64.b64encode(hashlib.sha512(b"png").digest() * 40).decode()
    corpus = {
        **ORDINARY_CODE,
        "logo.html": f'<img alt="logo" src="data:image/png;base64,{image}">\n',
        "ids.py": f'REQUEST_ID = "{uuid.UUID(int=7)}"\nHEAD = "{hashlib.sha1(b"x").hexdigest()}"\n',
    }
    for name, text in corpus.items():
        assert found(text) == [], name


def test_binary_blobs_are_scanned_for_private_keys_only() -> None:
    blob = b"\x89PNG\r\n\x1a\n\0\0\0" + f"AWS={AWS_KEY_ID}\npassword='Tr0ub4dor&3'\n".encode() + pem("RSA").encode()
    assert is_binary(blob)
    assert found(blob) == [("private-key", pem("RSA").encode())]
    # git looks at the first 8000 bytes only: a NUL after them leaves the blob text.
    late_nul = b"x" * 8000 + b"\0" + AWS_KEY_ID.encode()
    assert not is_binary(late_nul)
    assert found(late_nul) == [("aws-access-key-id", AWS_KEY_ID.encode())]
    assert is_binary(b"x" * 7999 + b"\0")
    assert not is_binary(b"")


def test_a_truncated_private_key_is_still_a_secret() -> None:
    block = pem("RSA").rsplit("\n", 2)[0]  # the footer and the last line lost
    assert found(f"{block}\n\nnext: line\n") == [("private-key", block.encode())]


LFS_CONTENT = b"weights " * 4096
# What `git lfs pointer --file` writes for LFS_CONTENT: the spec's three keys, the content's SHA-256 and size.
LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    + b"oid sha256:"
    + hashlib.sha256(LFS_CONTENT).hexdigest().encode()
    + b"\n"
    + f"size {len(LFS_CONTENT)}\n".encode()
)


def test_lfs_pointers_as_the_spec_defines_them() -> None:
    assert is_lfs_pointer(LFS_POINTER)
    assert not is_lfs_pointer(LFS_CONTENT)
    extended = LFS_POINTER.replace(b"oid", b"ext-0-foo sha256:" + b"0" * 64 + b"\noid")
    assert is_lfs_pointer(extended)  # other keys, in order, are allowed
    assert is_lfs_pointer(LFS_POINTER.replace(b"git-lfs.github.com", b"hawser.github.com"))  # the pre-release alias
    not_pointers = [
        LFS_POINTER[:-1],  # every line ends in a newline
        LFS_POINTER.replace(b"\n", b"\r\n"),
        LFS_POINTER.replace(b"spec/v1", b"spec/v2"),
        b"oid sha256:" + b"0" * 64 + b"\nversion https://git-lfs.github.com/spec/v1\nsize 1\n",  # version first
        b"version https://git-lfs.github.com/spec/v1\nsize 1\noid sha256:" + b"0" * 64 + b"\n",  # keys sorted
        LFS_POINTER.replace(b"size 32768", b"size -1"),
        LFS_POINTER.replace(b"size 32768", b"size 32k"),
        LFS_POINTER.replace(b"sha256:", b"sha256:0"),  # 65 hex digits
        LFS_POINTER.replace(b"sha256:", b"md5:"),
        LFS_POINTER.replace(b"size 32768\n", b""),
        LFS_POINTER.replace(b"oid ", b"oid  "),
        LFS_POINTER + b"x" * 1024 + b" y\n",  # git-lfs reads at most 1024 bytes as a pointer
        b"",
        b"version https://git-lfs.github.com/spec/v1\n",
    ]
    assert [data for data in not_pointers if is_lfs_pointer(data)] == []


def test_gitleaks_fixtures_give_gitleaks_findings() -> None:
    env = SecretScanner().scan((GITLEAKS / ".env.prod").read_bytes())
    assert [(m.rule, m.line) for m in env] == [("generic-password", 4)]
    assert env[0].sha256 == secret_hash(b"8ae31cacf141669ddfb5da")
    go = SecretScanner().scan((GITLEAKS / "api.go").read_bytes())
    assert [(m.rule, m.line, m.sha256) for m in go] == [("aws-access-key-id", 20, secret_hash(b"AKIALALEMEL33243OLIA"))]
    key = (GITLEAKS / "id_ed25519").read_bytes()
    assert found(key) == [("private-key", key.rstrip(b"\n"))]


FRAGMENTS = [text for _, text, _ in PLANTED] + [*ORDINARY_CODE.values(), "\n", "\r\n", "x = 1\n"]


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12), st.frozensets(st.sampled_from(PLANTED), max_size=3))
def test_any_mix_gives_sorted_disjoint_matches_with_their_lines_and_hashes(
    parts: list[str], allowed: frozenset[tuple[str, str, str]]
) -> None:
    data = "".join(parts).encode()
    allow = frozenset(secret_hash(secret.encode()) for _, _, secret in allowed)
    matches = SecretScanner(allow).scan(data)
    assert all(left.end <= right.start for left, right in itertools.pairwise(matches))
    for match in matches:
        assert match.line == data.count(b"\n", 0, match.start) + 1
        assert match.sha256 == secret_hash(data[match.start : match.end])
        assert match.sha256 not in allow
    planted = {secret.encode() for _, text, secret in PLANTED if text in parts}
    hidden = {secret for secret in planted if secret_hash(secret) in allow}
    assert {data[m.start : m.end] for m in matches} >= planted - hidden - _covered_by_others(planted)


def _covered_by_others(planted: set[bytes]) -> set[bytes]:
    """Planted secrets that stand inside another planted secret (found as part of the larger one)."""
    return {small for small in planted for large in planted if small != large and small in large}
