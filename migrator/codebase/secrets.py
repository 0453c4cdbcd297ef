"""Secrets in the bytes about to be pushed: built-in patterns in the style of gitleaks.

The scan runs over every blob and message new in a rewrite, so it must be fast. Python's `re` has
no multi-pattern search: one pattern with every rule as an alternative tries each alternative at
almost every byte (measured: 2 MB/s), while a pattern that starts with a literal is searched with a
fast substring scan (over 1 GB/s). So every rule is anchored on a literal (`AKIA`, `ghp_`,
`-----BEGIN`, and for the case-insensitive ones `password`, `token`... in the lower-cased bytes,
whose offsets are the same) and each literal's pattern runs once through the bytes; a candidate is
then checked in Python (the rare part).

A secret is identified by the SHA-256 of its own bytes only (the value, never the key name or the
line around it): that hash is what a finding records and what the plan's allowlist names, so it
stays the same wherever the secret moves.

Every candidate is looked at, even inside another one turned down (a `${VAR}`, a placeholder), so
a token hidden in a rejected assignment is still found. Of overlapping accepted secrets the one
starting first (then the longer, then the more specific rule) is kept, after the allowlist has
removed its own: allowing a secret allows that secret only, not what its match happens to cover.
The matches returned never overlap, so `redact` can replace each one in place.

Binary blobs (git's own test: a NUL in the first 8000 bytes) are searched for private-key blocks
only: a PEM file stored in an archive or a keystore is still text inside, while the short text
patterns would only misfire on random bytes.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from migrator.codebase.findings import SecretMatch

REDACTED = b"REDACTED"

# git's buffer_is_binary(): a NUL among the first 8000 bytes (FIRST_FEW_BYTES) makes a blob binary.
_GIT_BINARY_PROBE = 8000

# A generic value below this Shannon entropy (bits per character) is a repetition, not a secret:
# "testtest" 1.5, "abcabcabc" 1.58, "aaaabbbb" 1.0. Human-chosen passwords sit around 2.7
# ("P@ssw0rd", "hunter22") and 8 random hex characters fall below 2.0 only 2% of the time, 8 random
# alphanumerics practically never. gitleaks' 3.5 suits long random API keys, but 8 characters
# cannot exceed 3.0 bits: it would let every short password through, and a leak costs more than a
# finding the allowlist has to name.
_MIN_ENTROPY = 2.0
_MIN_GENERIC_LENGTH = 8
_MAX_GENERIC_LENGTH = 2000  # a JSON Web Token runs to a kilobyte


def secret_hash(secret: bytes) -> str:
    """What a finding records and the allowlist names: "sha256:<hex>" of the secret's bytes."""
    return "sha256:" + hashlib.sha256(secret).hexdigest()


def is_binary(data: bytes) -> bool:
    """Git's test: a NUL byte among the first 8000."""
    return b"\0" in data[:_GIT_BINARY_PROBE]


def redact(data: bytes, matches: Sequence[SecretMatch]) -> bytes:
    """`data` with each match's bytes replaced by b"REDACTED" (matches as `scan` returns them:
    non-overlapping; their order does not matter)."""
    pieces: list[bytes] = []
    position = 0
    for match in sorted(matches, key=lambda m: m.start):
        if match.start < position:
            raise ValueError(f"overlapping secret matches at byte {match.start}")
        pieces += (data[position : match.start], REDACTED)
        position = match.end
    pieces.append(data[position:])
    return b"".join(pieces)


# --- git-lfs pointers (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md) -----------------

# The spec's URL and the two earlier aliases git-lfs still reads as v1.
_LFS_VERSIONS = frozenset(
    {b"https://git-lfs.github.com/spec/v1", b"https://hawser.github.com/spec/v1", b"http://git-media.io/v/2"}
)
_LFS_MAX_SIZE = 1024  # git-lfs never reads a larger blob as a pointer (blobSizeCutoff)
_LFS_KEY = re.compile(rb"[a-z0-9.-]+")
_LFS_OID = re.compile(rb"sha256:[0-9a-f]{64}")
_LFS_SIZE = re.compile(rb"0|[1-9][0-9]*")


def is_lfs_pointer(data: bytes) -> bool:
    """A git-lfs v1 pointer file: `key value` lines each ending in a newline, `version` first, the
    other keys in ascending order without repeats, and a sha256 `oid` and a decimal `size` among them."""
    if len(data) > _LFS_MAX_SIZE or not data.endswith(b"\n"):
        return False
    fields: list[tuple[bytes, bytes]] = []
    for line in data[:-1].split(b"\n"):
        key, space, value = line.partition(b" ")
        if not space or not _LFS_KEY.fullmatch(key) or not value or b"\r" in value:
            return False
        fields.append((key, value))
    (first_key, version), rest = fields[0], fields[1:]
    keys = [key for key, _ in rest]
    if first_key != b"version" or version not in _LFS_VERSIONS or keys != sorted(set(keys)):
        return False
    values = dict(rest)
    oid, size = values.get(b"oid"), values.get(b"size")
    return oid is not None and size is not None and bool(_LFS_OID.fullmatch(oid) and _LFS_SIZE.fullmatch(size))


# --- the rules -------------------------------------------------------------------------------------

Span = tuple[str, int, int]  # rule id, start and end of the secret
Check = Callable[[re.Match[bytes], bytes], Span | None]  # (the pattern's match, the original bytes)


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[bytes]  # starts with a literal, so that `re` searches it fast
    check: Check
    case: Literal["exact", "lower"] = "exact"  # "lower": searched in the lower-cased bytes (key words)
    priority: int = 0  # of two matches with the same span the lower wins: a token's own rule over generic


def _all_same(value: bytes) -> bool:
    return len(set(value)) <= 1


def _is_word_char(data: bytes, index: int, extra: bytes) -> bool:
    """Whether data[index] exists and is an ASCII letter or digit or one of `extra`."""
    char = data[index : index + 1] if index >= 0 else b""
    return bool(char) and char.isascii() and (char.isalnum() or char in extra)


def _token(rule_id: str, prefix: int, group: int | str = 0, edge: bytes = b"_", closed: bool = False) -> Check:
    """A token whose shape is the test. It must not continue a longer word (`edge`: the characters
    besides letters and digits such a word has) nor, if `closed`, run on. A filler after its fixed
    prefix (ghp_xxxx...) makes it a placeholder."""

    def check(match: re.Match[bytes], data: bytes) -> Span | None:
        start, end = match.span(group)
        if _is_word_char(data, start - 1, edge) or (closed and _is_word_char(data, end, edge)):
            return None
        return None if _all_same(data[start + prefix : end]) else (rule_id, start, end)

    return check


_GITHUB_IDS = {b"p": "github-pat", b"o": "github-oauth", b"u": "github-app-token", b"s": "github-app-token"}


def _github(match: re.Match[bytes], data: bytes) -> Span | None:
    rule_id = _GITHUB_IDS.get(data[match.start() + 2 : match.start() + 3], "github-refresh-token")
    return _token(rule_id, 4)(match, data)


def _slack_webhook(match: re.Match[bytes], data: bytes) -> Span | None:
    """The whole URL, with its scheme when it has one."""
    start, end = match.span()
    for scheme in (b"https://", b"http://"):
        if data[max(0, start - len(scheme)) : start] == scheme:
            return "slack-webhook-url", start - len(scheme), end
    return "slack-webhook-url", start, end


_aws_secret_value = _token("aws-secret-access-key", 0, group="aws_v", edge=b"/+")


def _aws_secret(match: re.Match[bytes], data: bytes) -> Span | None:
    """secret_access_key / SecretAccessKey, or aws_secret_key (a bare secret_key is generic's)."""
    start = match.start()
    if match.group("aws_access") is None and not re.search(rb"(?i)aws[_-]?\Z", data[max(0, start - 4) : start]):
        return None
    return _aws_secret_value(match, data)


# --- private keys

# A key's body has long base64 runs mixing digits and both cases; code that merely names the header
# and the footer (a PEM parser, its tests' constants) has none.
_KEY_BODY_RUN = re.compile(rb"[A-Za-z0-9+/]{40,}")
_KEY_END = re.compile(rb"-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_KEY_MAX_BODY = 64 * 1024  # a PGP secret key with its subkeys stays well below
# After a header with no footer (a truncated key): base64 lines, PEM headers, blank lines.
_KEY_LINES = re.compile(
    rb"(?:\r?\n(?:[A-Za-z0-9+/=]*|(?:Proc-Type|DEK-Info|Version|Comment|Charset|Hash): [^\r\n]*)(?=\r?\n|\Z))+"
)


def _looks_like_key_body(body: bytes) -> bool:
    return any(
        re.search(rb"[0-9]", run) and re.search(rb"[A-Z]", run) and re.search(rb"[a-z]", run)
        for run in _KEY_BODY_RUN.findall(body)
    )


def _private_key(match: re.Match[bytes], data: bytes) -> Span | None:
    """The whole block, header to footer: a key is a secret as a whole. A header without a footer
    (a truncated key) covers the key-like lines that follow it."""
    start, header_end = match.span()
    # The footer comes before the next header: so many headers cost no more than one.
    next_header = data.find(b"-----BEGIN", header_end, header_end + _KEY_MAX_BODY)
    footer = _KEY_END.search(data, header_end, header_end + _KEY_MAX_BODY if next_header < 0 else next_header)
    if footer is not None:
        end, body = footer.end(), data[header_end : footer.start()]
    else:
        lines = _KEY_LINES.match(data, header_end)
        body = data[header_end : lines.end()].rstrip() if lines else b""
        end = header_end + len(body)
    return ("private-key", start, end) if _looks_like_key_body(body) else None


# --- generic assignments: a key ending in password, secret, token, api_key... and a value

_GENERIC_TAIL = (
    # the end of a quoted key ("password": ...), of a subscript (config["password"] = ...)
    rb"[\"'`]?\]?[ \t]*"
    rb"(?P<sep>:=|=>|\?=|=(?!=)|:[ \t]*[a-z_][\w.\[\]|, ]{0,40}?[ \t]*=(?!=)|:(?![:=])|>)[ \t]*"
    # (values are bounded: a longer one is turned down anyway, and an unclosed quote costs no more)
    rb"(?:[rbfu]{0,2}\"(?P<dq>(?:[^\"\\\r\n]|\\.){0,%d})\""
    rb"|'(?P<sq>(?:[^'\\\r\n]|\\.){0,%d})'"
    rb"|`(?P<bq>[^`\r\n]{0,%d})`"
    rb"|(?P<bare>[^\s\"'`,;<>(){}\[\]]{1,%d})(?=[\s,;<)\]}]|[\"'`]|\Z))"
).replace(b"%d", str(_MAX_GENERIC_LENGTH).encode())
_GENERIC_WORDS = (rb"pass(?:word|wd|phrase)?", rb"secret(?:[_-]?key)?", rb"token", rb"api[_-]?key", rb"access[_-]?key")
_WORD_IN_VALUE = re.compile(rb"password|passwd|secret|token|apikey|accesskey")
_IDENTIFIER_PATH = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_SNAKE_CASE_NAME = re.compile(rb"[a-z]+(?:_[a-z]+)+")
_TEMPLATE = re.compile(rb"\$\{|\{\{|#\{|%\(|^\$[A-Za-z_(]|^%[A-Za-z_]+%$|\{[A-Za-z_][\w.]*\}")
_MAX_KEY_PREFIX = 64  # how far back a key's start is looked for (MYSQL_ROOT_PASSWORD, spring.datasource.password)
_KEY_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def _entropy(value: bytes) -> float:
    """Shannon entropy in bits per character."""
    length = len(value)
    return -sum(count / length * math.log2(count / length) for count in Counter(value).values())


def _plausible_value(value: bytes, bare: bool) -> bool:
    if not _MIN_GENERIC_LENGTH <= len(value) <= _MAX_GENERIC_LENGTH:
        return False
    if not value.isascii() or any(c <= 0x20 or c == 0x7F for c in value):
        return False  # prose or a translation, not a credential
    if value == REDACTED or _TEMPLATE.search(value) or (value.startswith(b"<") and value.endswith(b">")):
        return False  # already redacted, a reference to where the secret lives, a placeholder
    if b"**" in value or b"..." in value:
        return False  # masked ("abc***"), emphasised ("**DEPRECATED**"), elided ("sk_live_...")
    if _WORD_IN_VALUE.search(value.lower().replace(b"_", b"").replace(b"-", b"").replace(b".", b"")):
        return False  # "your-api-token-here", password=password, "X-Api-Key"
    if bare and _IDENTIFIER_PATH.fullmatch(value) and not re.search(rb"[0-9]", value):
        return False  # code: password = password_hash, token = self.token, key = settings.API_KEY
    if _SNAKE_CASE_NAME.fullmatch(value):
        return False  # a name (a parameter, a column, a dict key): "input_token": "next_marker"
    return _entropy(value) >= _MIN_ENTROPY


def _generic(match: re.Match[bytes], data: bytes) -> Span | None:
    word_start = match.start()
    word = match.group("word")
    before, first = data[word_start - 1 : word_start], data[word_start : word_start + 1]
    if word == b"pass" and before.isalpha() and not (before.islower() and first.isupper()):
        return None  # `pass` must start a part of the key (DB_PASS, dbPass), not end a word (bypass)
    key_start, key_limit = word_start, max(0, word_start - _MAX_KEY_PREFIX)
    while key_start > key_limit and data[key_start - 1] in _KEY_CHARS:
        key_start -= 1
    if b"public" in data[key_start:word_start].lower():
        return None  # publicKeyToken, public_key: what may be known
    before_key = data[key_start - 1 : key_start]
    if match.group("sep") == b">" and (before_key != b"<" or not data.startswith(b"</", match.end())):
        return None  # ">" only as XML's <password>...</password>
    group = next(name for name in ("dq", "sq", "bq", "bare") if match.group(name) is not None)
    start, end = match.span(group)
    if group == "bare" and match.group("sep") == b":" and start == match.end("sep"):
        return None  # YAML puts a space after a key's colon; "arn:aws:...:secret:name" is not a key
    if group == "bare" and before_key in (b"?", b"&"):
        ampersand = data.find(b"&", start, end)  # a URL's query: the next parameter ends the value
        end = end if ampersand < 0 else ampersand
    if not _plausible_value(data[start:end], bare=group == "bare"):
        return None
    return ("generic-password" if word.startswith(b"pass") else "generic-api-key"), start, end


def _url_password(match: re.Match[bytes], data: bytes) -> Span | None:
    """scheme://user:PASSWORD@host, the password judged like a generic value."""
    start, end = match.span("url_v")
    return ("url-password", start, end) if _plausible_value(data[start:end], bare=False) else None


def _generic_rule(word: bytes) -> _Rule:
    return _Rule(re.compile(rb"(?P<word>" + word + rb")" + _GENERIC_TAIL), _generic, case="lower", priority=1)


_PRIVATE_KEY = _Rule(re.compile(rb"-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----"), _private_key)
_TEXT_RULES = (
    _PRIVATE_KEY,
    *(
        _Rule(re.compile(prefix + rb"[A-Z0-9]{16}"), _token("aws-access-key-id", 4, closed=True))
        for prefix in (b"AKIA", b"ASIA")
    ),
    _Rule(
        re.compile(
            rb"secret[_-]?(?P<aws_access>access[_-]?)?key[\"'`\]]*[ \t]*(?::=|=>|=|:)[ \t]*[\"'`]?"
            rb"(?P<aws_v>[a-z0-9/+]{40})(?![a-z0-9/+=])"
        ),
        _aws_secret,
        case="lower",
    ),
    _Rule(re.compile(rb"gh[pousr]_[A-Za-z0-9]{36}"), _github),
    _Rule(re.compile(rb"github_pat_[A-Za-z0-9_]{82}"), _token("github-fine-grained-pat", 11)),
    _Rule(re.compile(rb"glpat-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]+)*"), _token("gitlab-pat", 6)),
    _Rule(re.compile(rb"xox[baprs]-[0-9]{1,13}-[A-Za-z0-9-]{8,}"), _token("slack-access-token", 5)),
    _Rule(re.compile(rb"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{30,}"), _slack_webhook),
    *(
        _Rule(re.compile(prefix + rb"[A-Za-z0-9]{10,99}"), _token("stripe-access-token", 8))
        for prefix in (b"sk_live_", b"rk_live_")
    ),
    _Rule(re.compile(rb"AIza[A-Za-z0-9_-]{35}"), _token("gcp-api-key", 4, edge=b"_-", closed=True)),
    _Rule(re.compile(rb"://[^:/@\s\"'`<>]{0,100}:(?P<url_v>[^:@\s\"'`<>/]{1,200})@"), _url_password),
    *(_generic_rule(word) for word in _GENERIC_WORDS),
)
# Binary blobs: private keys only (see the module's docstring).
_BINARY_RULES = (_PRIVATE_KEY,)

RULE_IDS = (
    "private-key",
    "aws-access-key-id",
    "aws-secret-access-key",
    "github-pat",
    "github-oauth",
    "github-app-token",
    "github-refresh-token",
    "github-fine-grained-pat",
    "gitlab-pat",
    "slack-access-token",
    "slack-webhook-url",
    "stripe-access-token",
    "gcp-api-key",
    "url-password",
    "generic-password",
    "generic-api-key",
)


# --- the scan

_Candidate = tuple[int, int, int, str]  # start, -end, priority, rule id: sorted, the one to keep comes first


def _candidates(data: bytes, rules: Sequence[_Rule], allow: frozenset[str]) -> Iterator[_Candidate]:
    lower = data.lower() if any(rule.case == "lower" for rule in rules) else data
    for rule in rules:
        haystack = lower if rule.case == "lower" else data
        position = 0
        # Every occurrence of the literal is a candidate, even inside one turned down.
        while (match := rule.pattern.search(haystack, position)) is not None:
            position = match.start() + 1
            found = rule.check(match, data)
            if found is not None and secret_hash(data[found[1] : found[2]]) not in allow:
                rule_id, start, end = found
                yield start, -end, rule.priority, rule_id


class SecretScanner:
    """The built-in rules with one repository's allowlist (hashes of secrets known to be harmless)."""

    def __init__(self, allow: frozenset[str] = frozenset()) -> None:
        self._allow = allow

    def scan(self, data: bytes) -> list[SecretMatch]:
        """The secrets in `data` not allowlisted, by start, none overlapping; lines are 1-based."""
        rules = _BINARY_RULES if is_binary(data) else _TEXT_RULES
        matches: list[SecretMatch] = []
        line, counted_to, covered_to = 1, 0, 0
        for start, negative_end, _, rule_id in sorted(_candidates(data, rules, self._allow)):
            if start < covered_to:
                continue  # overlaps the secret kept before it
            line += data.count(b"\n", counted_to, start)
            counted_to, covered_to = start, -negative_end
            secret = data[start:covered_to]
            matches.append(
                SecretMatch(rule=rule_id, start=start, end=covered_to, line=line, sha256=secret_hash(secret))
            )
        return matches
