"""STATE/receipts/RUN.json: a run's summary, anchored to the audit chain's head and signed.

The chain alone proves that the lines it has agree with each other; it cannot tell that its last lines
were cut off. The receipt names the head (seq and SHA-256) at the end of the run, so a verifier finds
the cut; signing it with Ed25519 means nobody without the private key can write a matching new one.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from migrator.audit.canonical import canonical_bytes, canonical_json
from migrator.audit.durable import write_atomically
from migrator.audit.keys import raw_public_key, signing_key
from migrator.audit.log import AuditLog

RECEIPTS_DIR = "receipts"
MANIFEST_SUFFIX = ".objects.json"  # a run's object manifest, beside its receipt RUN.json
SIGNATURE_ALGORITHM = "ed25519"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # it becomes a file name


def receipts_dir(state_dir: Path) -> Path:
    return state_dir / RECEIPTS_DIR


def signed_payload(receipt: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the canonical JSON of the receipt without its `signature`."""
    return canonical_bytes({key: value for key, value in receipt.items() if key != "signature"})


def write_receipt(
    state_dir: Path, run_id: str, body: dict[str, Any], log: AuditLog, signing_key_pem: bytes | None
) -> Path:
    """Write body + audit_head (+ signature when a key is given), atomically; returns the file's path."""
    if not _RUN_ID.fullmatch(run_id):
        raise ValueError(f"run id {run_id!r} cannot name a receipt file")
    clash = {"audit_head", "signature"} & body.keys()
    if clash:
        raise ValueError(f"receipt fields {sorted(clash)} are set by write_receipt itself")
    body = log.redacted(body)  # the same rules as the log's lines: passwords hidden where they stand
    seq, sha256 = log.head()
    if seq < 0:
        raise ValueError("the audit log is empty: a receipt must name the head of a chain")
    # Round-trip through canonical JSON so the dict holds exactly the values the file will: what is
    # signed is what a verifier will read back (datetimes as strings, and so on).
    receipt: dict[str, Any] = json.loads(canonical_json({**body, "audit_head": {"seq": seq, "sha256": sha256}}))
    if signing_key_pem is not None:
        receipt["signature"] = _sign(receipt, signing_key_pem)
    directory = receipts_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_id}.json"
    text = json.dumps(receipt, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_atomically(path, text.encode("utf-8"))
    return path


def _sign(receipt: dict[str, Any], signing_key_pem: bytes) -> dict[str, str]:
    key = signing_key(signing_key_pem)
    return {
        "algorithm": SIGNATURE_ALGORITHM,
        "public_key": base64.b64encode(raw_public_key(key.public_key())).decode("ascii"),
        "value": base64.b64encode(key.sign(signed_payload(receipt))).decode("ascii"),
    }
