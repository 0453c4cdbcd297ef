"""What a run writes to its audit trail (SPEC §6): events in STATE/audit.jsonl, then a receipt.

Everything is redacted before it is logged (URLs without passwords), and the secrets the run knows
(database passwords, the hash key, the signing key) are registered with the log, which refuses any
line that would contain one: a second lock on the same door.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from migrator.audit import SIGNING_KEY_VARIABLE, AuditLog, audit_log_path, load_signing_key, write_receipt
from migrator.stores.sql import connect
from migrator.variables import HASH_KEY_VARIABLE
from migrator.version import __version__

MIN_SECRET_LENGTH = 6


class RunTrail:
    def __init__(self, state_dir: Path, environ: Mapping[str, str], urls: list[URL]):
        self.state_dir = state_dir
        signing = environ.get(SIGNING_KEY_VARIABLE)
        # Loaded now: a bad key must stop the run before it writes anything, not after.
        self.signing_key = load_signing_key(signing) if signing else None
        secrets = [environ.get(HASH_KEY_VARIABLE), signing, *(u.password for u in urls)]
        if self.signing_key:
            secrets.append(self.signing_key.decode(errors="ignore"))
        # A value this short would match ordinary words; the URL redaction already keeps it out.
        self._secrets = [str(s) for s in secrets if s and len(str(s)) >= MIN_SECRET_LENGTH]
        self._log: AuditLog | None = None
        self.run_id = ""

    @property
    def log(self) -> AuditLog:
        """Opened at the first event, so that a run refused before it starts writes nothing."""
        if self._log is None:
            self._log = AuditLog(audit_log_path(self.state_dir))
            for secret in self._secrets:
                self._log.add_secret(secret)
        return self._log

    def event(self, event: str, **fields: Any) -> None:
        self.log.append(self.run_id, event, **fields)

    def started(self, run_id: str, plan: str, plan_sha256: str, source: URL, target: URL, resumed: bool) -> None:
        self.run_id = run_id
        self.event(
            "run resumed" if resumed else "run started",
            plan=plan,
            plan_sha256=plan_sha256,
            tool_version=__version__,
            user=_user(),
            host=socket.gethostname(),
            source=connect.redact(source),
            target=connect.redact(target),
        )

    def receipt(self, body: dict[str, Any]) -> Path:
        return write_receipt(self.state_dir, self.run_id, body, self.log, self.signing_key)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
