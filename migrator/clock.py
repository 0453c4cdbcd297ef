"""The one clock format of ledgers, records and the audit log: UTC, ISO 8601, to the second."""

from __future__ import annotations

import datetime as dt


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
