"""The audit trail (SPEC §6): a hash-chained log of every run, and a signed receipt per run.

Why a hash chain. STATE/audit.jsonl holds one canonical JSON line per event, each carrying `prev`, the
SHA-256 of the line before it. Editing, reordering, inserting or deleting a line breaks the link after
it (and the `seq` counter shows gaps and repeats), so `verify_chain` names the line where it breaks.

Why a receipt too. A chain only proves that its lines agree with each other. Cutting its last lines
leaves a shorter chain that is just as consistent, and whoever can edit the file can also rewrite
every line after an edit. The defence is to anchor the head outside the log: at the end of each run,
STATE/receipts/RUN.json records the head's seq and SHA-256, and `verify_state` checks that the chain
still has that line with that hash (the approach of CloudTrail's digest files and of Certificate
Transparency's signed tree heads, in their simplest form).

Why Ed25519, not HMAC. With MIGRATOR_SIGNING_KEY the receipt is signed with Ed25519, so anyone holding
the public key can verify it offline, while only the key's holder can sign. An HMAC key would have to
be shared with every verifier, and every verifier could then forge. A receipt embeds its public key for
convenience; checking with that key proves only that the receipt is intact, so give the verifier the
signer's public key to prove who wrote it.

Crash safety. Each line is written with O_APPEND in a single write and fsynced; a line torn by a crash
(no trailing newline) is cut away when the log is next opened, and the cut is logged as an event.

Callers redact secrets before logging; the log and the receipt redact again, by structure (a URL's
password in its userinfo field, a `password=` parameter), which cannot misfire on a password equal to
the user name or a common word; AuditLog.add_secret registers key material to hide as well. This
package depends on nothing else in migrator but migrator.errors, migrator.clock and migrator.redaction.
"""

from migrator.audit.canonical import GENESIS, canonical_bytes, canonical_json, sha256_hex
from migrator.audit.keys import SIGNING_KEY_VARIABLE, generate_keypair, load_public_key, load_signing_key
from migrator.audit.log import AUDIT_LOG_NAME, REPAIRED_EVENT, AuditLog, audit_log_path, read_lines
from migrator.audit.receipt import RECEIPTS_DIR, receipts_dir, write_receipt
from migrator.audit.verify import ChainLine, ChainReport, ReceiptReport, StateReport, verify_chain, verify_state

__all__ = [
    "AUDIT_LOG_NAME",
    "GENESIS",
    "RECEIPTS_DIR",
    "REPAIRED_EVENT",
    "SIGNING_KEY_VARIABLE",
    "AuditLog",
    "ChainLine",
    "ChainReport",
    "ReceiptReport",
    "StateReport",
    "audit_log_path",
    "canonical_bytes",
    "canonical_json",
    "generate_keypair",
    "load_public_key",
    "load_signing_key",
    "read_lines",
    "receipts_dir",
    "sha256_hex",
    "verify_chain",
    "verify_state",
    "write_receipt",
]
