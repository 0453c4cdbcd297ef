"""What a run writes to its audit trail (SPEC §6): events in STATE/audit.jsonl, then a receipt.

Nothing is written before the stores have answered and the run has started: a run refused at its
first connection (a wrong port, a bad password) leaves no state folder behind. Retries met before the
start are held and written, with the time they happened, right after the run's first line.

Everything is redacted before it is logged (URLs without passwords); the log redacts again by
structure, and is told the key material the run holds (the hash key, the signing key) to hide too.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from migrator.audit import SIGNING_KEY_VARIABLE, AuditLog, audit_log_path, load_signing_key, write_receipt
from migrator.clock import utc_now
from migrator.variables import HASH_KEY_VARIABLE
from migrator.version import __version__


class RunTrail:
    def __init__(self, state_dir: Path, environ: Mapping[str, str]):
        self.state_dir = state_dir
        signing = environ.get(SIGNING_KEY_VARIABLE)
        # Loaded now: a bad key must stop the run before it writes anything, not after.
        self.signing_key = load_signing_key(signing) if signing else None
        secrets = [environ.get(HASH_KEY_VARIABLE)]
        if self.signing_key:
            secrets.append(self.signing_key.decode(errors="ignore"))
        self._secrets = [s for s in secrets if s]
        self._log: AuditLog | None = None
        self._held: list[tuple[str, dict[str, Any]]] = []
        self.run_id = ""

    @property
    def log(self) -> AuditLog:
        """Opened at the run's first line, so that a run refused before it starts writes nothing."""
        if self._log is None:
            self._log = AuditLog(audit_log_path(self.state_dir))
            for secret in self._secrets:
                self._log.add_secret(secret)
        return self._log

    def event(self, event: str, **fields: Any) -> None:
        if not self.run_id:  # not started: the stores may yet refuse us, and then nothing is written
            self._held.append((event, {**fields, "at": utc_now()}))
            return
        self.log.append(self.run_id, event, **fields)

    def events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Several events written at once (one fsync): the objects part's per-object events."""
        if not self.run_id:
            for event, fields in events:
                self.event(event, **fields)
            return
        self.log.append_many(self.run_id, events)

    def started(self, run_id: str, plan: str, plan_sha256: str, source: str, target: str, resumed: bool) -> None:
        """The run's first line. `source` and `target` name the first part's stores, passwords hidden;
        the parts after it log their own stores as they start."""
        if self.run_id:
            return  # an earlier part started the run
        self.run_id = run_id
        self.event(
            "run resumed" if resumed else "run started",
            plan=plan,
            plan_sha256=plan_sha256,
            tool_version=__version__,
            user=_user(),
            host=socket.gethostname(),
            source=source,
            target=target,
        )
        held, self._held = self._held, []
        for event, fields in held:
            self.event(event, **fields)

    def receipt(self, body: dict[str, Any]) -> Path:
        return write_receipt(self.state_dir, self.run_id, body, self.log, self.signing_key)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
