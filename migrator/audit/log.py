"""STATE/audit.jsonl: an append-only, hash-chained record of every run of a plan (SPEC §6).

Each line is the canonical JSON of {seq, time, run, event, ...fields, prev}, where `prev` is the
SHA-256 of the previous line's exact bytes (without its newline) and the first line's `prev` is
GENESIS. `seq` counts from 0 across runs, so a gap or a repeat shows where lines went missing or came in.

One process writes the log at a time (the run's coordinator); threads inside it may share an AuditLog.

Secrets are kept out by structure: every string written (keys and values, however deeply nested) has
the password of any URL it holds replaced in its userinfo field, and any `password=` parameter
hidden (migrator.redaction). Callers redact first; this is the second lock, and it cannot misfire: a
password equal to the user name, the database name or a common word is found where it stands, not
by its text, so a harmless field is never refused and never mangled. Key material the log is told
about (add_secret: the hash key, the signing key) has no structure to go by; it is replaced where it
occurs, and only when it is long enough that it cannot be an ordinary word.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from migrator.audit.canonical import GENESIS, canonical_bytes, sha256_hex
from migrator.audit.durable import append_line, fsync_directory, truncate
from migrator.clock import utc_now
from migrator.errors import RunError
from migrator.redaction import HIDDEN, redact_text

AUDIT_LOG_NAME = "audit.jsonl"
REPAIRED_EVENT = "audit repaired"
RESERVED_FIELDS = frozenset({"seq", "time", "run", "event", "prev"})
_TAIL_BLOCK = 64 * 1024
# Shorter values could be ordinary words ("secret", a table name): searching for them would mangle
# harmless fields. Key material this short is weak anyway, and is never written by the callers.
MIN_SECRET_LENGTH = 16


def audit_log_path(state_dir: Path) -> Path:
    return state_dir / AUDIT_LOG_NAME


def split_log(data: bytes) -> tuple[list[bytes], bytes]:
    """The committed lines (newline-terminated, returned without it) and the torn bytes after them."""
    *lines, torn = data.split(b"\n")
    return lines, torn


def read_lines(path: Path) -> list[str]:
    """The committed lines of a log; a torn last line is left out.

    Decoded with surrogateescape, so `line.encode("utf-8", "surrogateescape")` gives back the exact bytes
    that were hashed, even where someone wrote invalid UTF-8 into the file.
    """
    if not path.exists():
        return []
    lines, _ = split_log(path.read_bytes())
    return [line.decode("utf-8", "surrogateescape") for line in lines]


class AuditLog:
    """Appends events to one log file, chaining each line to the one before it.

    Opening reads only the last line (for seq and prev). A torn tail left by a crash is cut away then,
    and an `audit repaired` event records it under the run of the last intact line: the run the crash
    interrupted, as far as the log can tell.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            fsync_directory(path.parent)
        last_line, torn = _read_tail(path)
        last = _parse_last(path, last_line)
        self._next_seq = last["seq"] + 1 if last else 0
        self._head = sha256_hex(last_line) if last_line is not None else GENESIS
        if torn:
            self._cut_torn_tail(torn, run=last["run"] if last else "")

    def add_secret(self, text: str) -> None:
        """Register key material that must never reach the log; `append` writes *** in its place.
        Values shorter than MIN_SECRET_LENGTH are not searched for (see there). Database passwords
        need no registering: they are found by where they stand."""
        if text and len(text) >= MIN_SECRET_LENGTH:
            self._secrets.add(text)

    def redacted(self, value: Any) -> Any:
        """`value` (a field's value or name) as it may be written: every string in it redacted."""
        if isinstance(value, str):
            text = redact_text(value)
            for secret in self._secrets:
                text = text.replace(secret, HIDDEN)
            return text
        if isinstance(value, Mapping):
            return {self.redacted(k) if isinstance(k, str) else k: self.redacted(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redacted(item) for item in value]
        return value

    def append(self, run: str, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event durably and return it as written."""
        clash = RESERVED_FIELDS & fields.keys()
        if clash:
            raise ValueError(f"audit fields {sorted(clash)} are set by the log itself")
        safe: dict[str, Any] = self.redacted({"run": run, "event": event, **fields})
        with self._lock:
            record = {
                "seq": self._next_seq,
                "time": utc_now(),
                **safe,
                "prev": self._head,
            }
            line = canonical_bytes(record)
            append_line(self.path, line + b"\n")
            self._next_seq += 1
            self._head = sha256_hex(line)
        written: dict[str, Any] = json.loads(line)
        return written

    def append_many(self, run: str, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Write several events, each its own chained line, in one append and one fsync: a run that
        logs an event per object (thousands of small objects) pays one fsync per group, not per line.
        A crash mid-write keeps the whole lines before the torn one, as for a single line."""
        if not events:
            return
        for _, fields in events:
            clash = RESERVED_FIELDS & fields.keys()
            if clash:
                raise ValueError(f"audit fields {sorted(clash)} are set by the log itself")
        safe = [self.redacted({"run": run, "event": event, **fields}) for event, fields in events]
        with self._lock:
            lines = []
            seq, head = self._next_seq, self._head
            for fields in safe:
                line = canonical_bytes({"seq": seq, "time": utc_now(), **fields, "prev": head})
                lines.append(line)
                seq, head = seq + 1, sha256_hex(line)
            append_line(self.path, b"".join(line + b"\n" for line in lines))
            self._next_seq, self._head = seq, head

    def head(self) -> tuple[int, str]:
        """The last line's seq and SHA-256; (-1, GENESIS) for an empty log."""
        with self._lock:
            return self._next_seq - 1, self._head

    def _cut_torn_tail(self, torn: bytes, run: str) -> None:
        # A crash mid-write left bytes without a newline: they were never committed. Cut them so the
        # next line starts clean, and record what was cut, so even the repair is evidence.
        truncate(self.path, self.path.stat().st_size - len(torn))
        self.append(run, REPAIRED_EVENT, cut_bytes=len(torn), cut_sha256=sha256_hex(torn))


def _read_tail(path: Path) -> tuple[bytes | None, bytes]:
    """The last committed line (None if there is none) and the torn bytes after it.

    Read backwards from the end: the log spans every run of the plan, and opening it should not cost
    a read of all of them.
    """
    with path.open("rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        tail = b""
        while position > 0:
            step = min(_TAIL_BLOCK, position)
            position -= step
            handle.seek(position)
            tail = handle.read(step) + tail
            last_newline = tail.rfind(b"\n")
            if last_newline != -1 and tail.rfind(b"\n", 0, last_newline) != -1:
                break  # the whole last line is in hand: it lies between these two newlines
    lines, torn = split_log(tail)
    return (lines[-1] if lines else None), torn


def _parse_last(path: Path, line: bytes | None) -> dict[str, Any] | None:
    if line is None:
        return None
    try:
        record = json.loads(line)
        if isinstance(record, dict) and isinstance(record.get("seq"), int) and isinstance(record.get("run"), str):
            return record
    except ValueError:
        pass
    # Appending after a line we cannot read would chain new evidence onto a log that is already broken.
    raise RunError(f"{path}: the last line is not an audit record; check the log with `migrator audit verify`")
