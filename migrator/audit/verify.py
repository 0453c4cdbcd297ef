"""Check a state folder offline: the audit chain, then each receipt's signature and anchored head.

Findings are migrator.errors.Problem values (file, line, key, message), the same shape plan errors
use, so the CLI renders both alike. A problem fails the check; a warning is said and does not.

A folder that holds no audit trail at all (no log, no receipt: a mistyped path, the plan's folder
instead of its state folder) is a UsageError, exit 2: there is nothing to call tampered. A log that is
gone while receipts still anchor it is a finding, since deleting the log is tampering too.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from migrator.audit.canonical import GENESIS, canonical_bytes, sha256_hex
from migrator.audit.keys import load_public_key, raw_public_key
from migrator.audit.log import AUDIT_LOG_NAME, audit_log_path, split_log
from migrator.audit.receipt import MANIFEST_SUFFIX, RECEIPTS_DIR, SIGNATURE_ALGORITHM, receipts_dir, signed_payload
from migrator.errors import Problem, UsageError

KeyUsed = Literal["given", "embedded"]


@dataclass(frozen=True)
class ChainLine:
    number: int  # 1-based line number in the file
    seq: int | None  # None when the line is not an audit record
    sha256: str


@dataclass
class ChainReport:
    lines: int
    head_seq: int  # -1 for an empty log
    head_sha256: str  # GENESIS for an empty log
    entries: list[ChainLine]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @cached_property
    def by_seq(self) -> dict[int, list[ChainLine]]:
        """The lines carrying each seq (more than one where a line was inserted with a repeated seq)."""
        index: dict[int, list[ChainLine]] = {}
        for entry in self.entries:
            if entry.seq is not None:
                index.setdefault(entry.seq, []).append(entry)
        return index


@dataclass
class ReceiptReport:
    file: str
    signed: bool
    key_used: KeyUsed | None = None  # which public key the signature was checked with
    signature_ok: bool | None = None  # None when unsigned
    head_ok: bool = False
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


@dataclass
class StateReport:
    chain: ChainReport
    receipts: list[ReceiptReport]
    problems: list[Problem]
    warnings: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "lines": self.chain.lines,
            "head": {"seq": self.chain.head_seq, "sha256": self.chain.head_sha256},
            "receipts": [
                {
                    "file": r.file,
                    "signed": r.signed,
                    "key_used": r.key_used,
                    "signature_ok": r.signature_ok,
                    "head_ok": r.head_ok,
                }
                for r in self.receipts
            ],
            "problems": [p.render() for p in self.problems],
            "warnings": [w.render() for w in self.warnings],
        }


def verify_chain(path: Path) -> ChainReport:
    """Check every line's seq and prev; each problem names the line where the chain breaks."""
    if not path.exists():
        missing = Problem(path.name, None, "", "the audit log is missing")
        return ChainReport(0, -1, GENESIS, [], problems=[missing])
    lines, torn = split_log(path.read_bytes())
    report = ChainReport(len(lines), -1, GENESIS, [])
    expected_seq, expected_prev = 0, GENESIS
    for number, line in enumerate(lines, start=1):
        digest = sha256_hex(line)
        record = _record(line)
        if record is None:
            report.problems.append(Problem(path.name, number, "", "not an audit record (bad JSON or missing fields)"))
            report.entries.append(ChainLine(number, None, digest))
            expected_seq, expected_prev = expected_seq + 1, digest
            continue
        report.problems.extend(_link_problems(path.name, number, record, expected_seq, expected_prev))
        if line != canonical_bytes(record):
            report.problems.append(Problem(path.name, number, "", "not canonical JSON: written by something else"))
        report.entries.append(ChainLine(number, record["seq"], digest))
        # Carry on from what the line says, so one tampering is reported where it is, not on every later line.
        expected_seq, expected_prev = record["seq"] + 1, digest
    if report.entries:
        report.head_seq, report.head_sha256 = expected_seq - 1, expected_prev
    if torn:
        message = f"{len(torn)} bytes without a newline: an interrupted write, cut away by the next append"
        report.warnings.append(Problem(path.name, len(lines) + 1, "", message))
    return report


def verify_state(
    state_dir: Path, public_key: Path | bytes | None = None, *, require_signature: bool = False
) -> StateReport:
    """Check STATE/audit.jsonl, then every STATE/receipts/*.json against it."""
    _require_a_trail(state_dir)
    chain = verify_chain(audit_log_path(state_dir))
    trusted = load_public_key(public_key) if public_key is not None else None
    paths = sorted(p for p in receipts_dir(state_dir).glob("*.json") if not p.name.endswith(MANIFEST_SUFFIX))
    receipts = [_check_receipt(path, chain, trusted, require_signature) for path in paths]
    problems = chain.problems + [p for r in receipts for p in r.problems]
    warnings = chain.warnings + [w for r in receipts for w in r.warnings]
    if not receipts:
        message = "no receipt anchors the log's head: deleting its last lines would go unnoticed"
        warnings.append(Problem(RECEIPTS_DIR, None, "", message))
    return StateReport(chain, receipts, problems, warnings)


def _require_a_trail(state_dir: Path) -> None:
    where = "the plan's `state` folder, or .migrator/PLAN_NAME beside the plan file"
    if not state_dir.is_dir():
        what = "does not exist" if not state_dir.exists() else "is not a folder"
        raise UsageError(f"{state_dir} {what}: give the state folder of a plan ({where})")
    if not audit_log_path(state_dir).exists() and not any(receipts_dir(state_dir).glob("*.json")):
        raise UsageError(
            f"{state_dir} holds no audit trail (no {AUDIT_LOG_NAME}, no {RECEIPTS_DIR}/): "
            f"give the state folder of a plan that has run ({where})"
        )


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:  # bad JSON or bad UTF-8
        return None
    if not isinstance(record, dict) or not _is_int(record.get("seq")):
        return None
    if not all(isinstance(record.get(key), str) for key in ("time", "run", "event", "prev")):
        return None
    return record


def _link_problems(
    file: str, number: int, record: dict[str, Any], expected_seq: int, expected_prev: str
) -> list[Problem]:
    problems = []
    if record["prev"] != expected_prev:
        if number == 1:
            message = "prev is not the genesis value: the lines before it were deleted, or it was edited"
            problems.append(Problem(file, 1, "prev", message))
        else:
            # The line whose bytes no longer match is the previous one: name it, not the messenger.
            message = (
                f"its SHA-256 is not the prev of line {number}: line {number - 1} was edited, "
                f"or lines were inserted, deleted or moved between lines {number - 1} and {number}"
            )
            problems.append(Problem(file, number - 1, "", message))
    seq = record["seq"]
    if seq != expected_seq:
        cause = "lines before it were deleted or moved" if seq > expected_seq else "it was inserted or moved here"
        problems.append(Problem(file, number, "seq", f"is {seq} where {expected_seq} was expected: {cause}"))
    return problems


def _check_receipt(
    path: Path, chain: ChainReport, trusted: Ed25519PublicKey | None, require_signature: bool
) -> ReceiptReport:
    file = f"{RECEIPTS_DIR}/{path.name}"
    try:
        receipt = json.loads(path.read_bytes())
    except ValueError:
        receipt = None
    if not isinstance(receipt, dict):
        return ReceiptReport(file, signed=False, problems=[Problem(file, None, "", "not a JSON object")])
    report = ReceiptReport(file, signed="signature" in receipt)
    if report.signed:
        _check_signature(report, receipt, trusted)
    else:
        message = "unsigned: nothing proves who wrote it or that it is unchanged (set MIGRATOR_SIGNING_KEY to sign)"
        (report.problems if require_signature else report.warnings).append(Problem(file, None, "signature", message))
    _check_head(report, receipt.get("audit_head"), chain)
    _check_manifest(report, path.parent, receipt.get("objects"))
    return report


def _check_manifest(report: ReceiptReport, folder: Path, objects: Any) -> None:
    """A run that copied objects keeps its manifest beside the receipt; the receipt holds the
    manifest's SHA-256, so a changed manifest is found here, offline, as a changed receipt is."""
    if not isinstance(objects, dict) or "manifest" not in objects:
        return
    path = folder / str(objects["manifest"])
    try:
        digest = sha256_hex(path.read_bytes())
    except OSError:
        report.problems.append(Problem(report.file, None, "objects.manifest", f"{path.name} is missing"))
        return
    if digest != objects.get("manifest_sha256"):
        message = f"{path.name} does not match the SHA-256 the receipt records: the manifest was changed"
        report.problems.append(Problem(report.file, None, "objects.manifest", message))


def _check_signature(report: ReceiptReport, receipt: dict[str, Any], trusted: Ed25519PublicKey | None) -> None:
    file, signature = report.file, receipt["signature"]
    try:
        if signature["algorithm"] != SIGNATURE_ALGORITHM:
            raise ValueError(f"algorithm {signature['algorithm']!r}, expected {SIGNATURE_ALGORITHM!r}")
        embedded = base64.b64decode(signature["public_key"], validate=True)
        value = base64.b64decode(signature["value"], validate=True)
        key = trusted if trusted is not None else Ed25519PublicKey.from_public_bytes(embedded)
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        report.signature_ok = False
        report.problems.append(Problem(file, None, "signature", f"malformed: {error}"))
        return
    report.key_used = "given" if trusted is not None else "embedded"
    try:
        key.verify(value, signed_payload(receipt))
        report.signature_ok = True
    except InvalidSignature:
        report.signature_ok = False
        message = f"does not verify with the {report.key_used} public key: the receipt was changed after signing"
        if trusted is not None and raw_public_key(trusted) != embedded:
            message += ", or signed by another key (it embeds a different public key)"
        report.problems.append(Problem(file, None, "signature", message))
    if report.key_used == "embedded":
        message = (
            "checked with the public key embedded in the receipt: that proves the receipt is intact, "
            "not who signed it; pass the signer's public key to prove authorship"
        )
        report.warnings.append(Problem(file, None, "signature", message))


def _check_head(report: ReceiptReport, head: Any, chain: ChainReport) -> None:
    file = report.file
    if not (isinstance(head, dict) and _is_int(head.get("seq")) and isinstance(head.get("sha256"), str)):
        report.problems.append(Problem(file, None, "audit_head", "missing or not {seq, sha256}"))
        return
    seq, sha256 = head["seq"], head["sha256"]
    at_seq = chain.by_seq.get(seq, [])
    if not at_seq:
        message = (
            f"names seq {seq} (line {seq + 1} of an intact log), which is not in {AUDIT_LOG_NAME} "
            f"(its last seq is {chain.head_seq}): lines were deleted"
        )
        report.problems.append(Problem(file, None, "audit_head", message))
    elif all(entry.sha256 != sha256 for entry in at_seq):
        line = at_seq[0].number
        message = f"names seq {seq} with a SHA-256 that line {line} of {AUDIT_LOG_NAME} lacks: line {line} was edited"
        report.problems.append(Problem(file, None, "audit_head", message))
    else:
        report.head_ok = True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
