"""Secrets taken out of text by where they stand, never by what they are.

A database password is hidden in the field that holds it: the password part of a URL's userinfo
(`scheme://user:PASSWORD@host`), a `password=` parameter of a URL's query or of a libpq-style
connection string. Searching for the password's text instead misfires both ways: a password equal
to the user name, the database name or a common word ("postgres", "root", "test") turns up in
harmless text, which a search would then refuse or mangle; and a password that happens to be
short would be skipped to avoid that, and leak.

This module depends on nothing but the standard library, so that the audit log, the CLI's error
boundary and the stores can all use the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

HIDDEN = "***"

# scheme://user:password@host — the userinfo ends at the last "@" before the host, so a password
# holding an unencoded "@" or "/" is still hidden whole; an "@" later in a path makes us hide more
# than the password, never less.
_URL_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"<>]*:)(?P<password>[^\s'\"<>]*)(?P<tail>@[^@\s'\"<>/]*)"
)
# password=... in a query string (?password=x&...) or a key/value connection string (password='x y').
_KEY_VALUE = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|sslpassword)\s*=\s*)(?P<password>'(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^\s&;,)'\"]+)",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """`text` with every password that stands in a URL's userinfo or a password parameter hidden."""
    text = _URL_USERINFO.sub(_hide, text)
    return _KEY_VALUE.sub(_hide, text)


def redact_value(value: Any) -> Any:
    """A JSON-like value (mappings, lists, strings) with `redact_text` applied to every string in it,
    keys included."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {redact_value(k) if isinstance(k, str) else k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def _hide(match: re.Match[str]) -> str:
    password = match.group("password")
    if password in (HIDDEN, f"'{HIDDEN}'", f'"{HIDDEN}"'):
        return match.group(0)
    return match.group("head") + HIDDEN + (match.group("tail") if "tail" in match.groupdict() else "")
