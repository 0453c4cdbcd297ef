"""The audit trail: a chain of two runs verifies, and each kind of tampering is caught where it happened.

Every tampering test works on its own copy of one state folder: 30 events over two runs, each run
ending with a signed receipt (run one's names seq 14, line 15; run two's names seq 29, line 30).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from migrator.audit import (
    GENESIS,
    REPAIRED_EVENT,
    AuditLog,
    StateReport,
    audit_log_path,
    canonical_bytes,
    canonical_json,
    generate_keypair,
    load_signing_key,
    read_lines,
    receipts_dir,
    sha256_hex,
    verify_chain,
    verify_state,
    write_receipt,
)
from migrator.audit.receipt import signed_payload
from migrator.errors import Problem, UsageError

RUNS = ("run-a", "run-b")
UNITS_PER_RUN = 13  # + "run started" + "run finished" = 15 lines a run
Keys = tuple[bytes, bytes]


@pytest.fixture(scope="module")
def keys() -> Keys:
    return generate_keypair()


@pytest.fixture(scope="module")
def pristine_state(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Path:
    state = tmp_path_factory.mktemp("pristine") / "state"
    for run in RUNS:
        log = AuditLog(audit_log_path(state))  # reopened per run, as each `migrator run` does
        log.append(run, "run started", plan_sha256="ab" * 32, user="ci", host="runner")
        for chunk in range(UNITS_PER_RUN):
            log.append(run, "unit done", table="Invoice", chunk=chunk, rows=100 + chunk, checksum=f"c{chunk:02}")
        log.append(run, "run finished", status="ok")
        write_receipt(state, run, {"status": "ok", "rows": 1378, "tables": 11}, log, keys[0])
    return state


@pytest.fixture
def state(pristine_state: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "state"
    shutil.copytree(pristine_state, copy)
    return copy


def log_lines(state: Path) -> list[bytes]:
    return audit_log_path(state).read_bytes().splitlines()


def write_lines(state: Path, lines: list[bytes]) -> None:
    audit_log_path(state).write_bytes(b"".join(line + b"\n" for line in lines))


def failing(report: StateReport) -> list[Problem]:
    assert not report.ok, "the tampering went unnoticed"
    return report.problems


def test_intact_chain_of_two_runs_verifies(state: Path, keys: Keys) -> None:
    report = verify_state(state, keys[1], require_signature=True)

    assert report.ok, [p.render() for p in report.problems]
    assert report.chain.lines == 30
    assert [json.loads(line)["seq"] for line in log_lines(state)] == list(range(30))
    assert json.loads(log_lines(state)[0])["prev"] == GENESIS
    assert report.chain.head_seq == 29
    assert report.chain.head_sha256 == sha256_hex(log_lines(state)[-1])
    assert [(r.signature_ok, r.key_used, r.head_ok) for r in report.receipts] == [(True, "given", True)] * 2
    assert report.warnings == []


def test_seq_and_head_continue_across_runs_when_reopened(state: Path) -> None:
    log = AuditLog(audit_log_path(state))
    assert log.head() == (29, sha256_hex(log_lines(state)[-1]))

    record = log.append("run-c", "run started")

    assert record["seq"] == 30
    assert record["prev"] == sha256_hex(log_lines(state)[29])
    assert dt.datetime.fromisoformat(record["time"]).utcoffset() == dt.timedelta(0)
    assert verify_chain(audit_log_path(state)).ok


def test_edited_middle_line_is_named(state: Path, keys: Keys) -> None:
    lines = log_lines(state)
    record = json.loads(lines[9])  # line 10
    record["rows"] = 1
    lines[9] = canonical_bytes(record)
    write_lines(state, lines)

    problems = failing(verify_state(state, keys[1]))

    assert [(p.file, p.line) for p in problems] == [("audit.jsonl", 10)]
    assert "line 10 was edited" in problems[0].message


def test_reordered_lines_are_named(state: Path, keys: Keys) -> None:
    lines = log_lines(state)
    lines[11], lines[12] = lines[12], lines[11]  # lines 12 and 13
    write_lines(state, lines)

    problems = failing(verify_state(state, keys[1]))

    # Swapping breaks the sequence in three places (11, 13, 12, 14): seq jumps on lines 12, 13 and 14.
    seq_problems = {p.line: p.message for p in problems if p.key == "seq"}
    assert list(seq_problems) == [12, 13, 14]
    assert seq_problems[12] == "is 12 where 11 was expected: lines before it were deleted or moved"
    assert seq_problems[13] == "is 11 where 13 was expected: it was inserted or moved here"


def test_inserted_forged_line_is_named(state: Path, keys: Keys) -> None:
    lines = log_lines(state)
    # A forger who knows the format: the right seq for its place and a prev that chains to line 20.
    forged = {"seq": 20, "time": "2024-01-01T00:00:00+00:00", "run": "run-b", "event": "unit done"}
    forged |= {"table": "Customer", "rows": 5, "prev": sha256_hex(lines[19])}
    lines.insert(20, canonical_bytes(forged))  # becomes line 21
    write_lines(state, lines)

    problems = failing(verify_state(state, keys[1]))

    # The forged line chains to its predecessor, but the genuine line after it still points past it.
    assert (problems[0].file, problems[0].line) == ("audit.jsonl", 21)
    assert "line 21 was edited, or lines were inserted" in problems[0].message
    assert [(p.line, p.key) for p in problems[1:]] == [(22, "seq")]


def test_deleted_middle_line_is_named(state: Path, keys: Keys) -> None:
    lines = log_lines(state)
    del lines[7]  # line 8 (seq 7)
    write_lines(state, lines)

    problems = failing(verify_state(state, keys[1]))

    seq_problems = [p for p in problems if p.key == "seq"]
    assert [p.line for p in seq_problems] == [8]
    assert seq_problems[0].message == "is 8 where 7 was expected: lines before it were deleted or moved"


def test_deleted_last_lines_are_caught_by_the_receipt_not_the_chain(state: Path, keys: Keys) -> None:
    write_lines(state, log_lines(state)[:-2])  # lines 29 and 30 gone

    # The chain alone cannot tell: a shorter chain is as consistent as the full one. This is why a
    # receipt anchors the head outside the log.
    assert verify_chain(audit_log_path(state)).ok

    problems = failing(verify_state(state, keys[1]))
    assert [(p.file, p.key) for p in problems] == [("receipts/run-b.json", "audit_head")]
    assert "names seq 29 (line 30 of an intact log)" in problems[0].message
    assert "its last seq is 27" in problems[0].message


def test_without_a_receipt_the_cut_goes_unnoticed_but_is_warned_about(state: Path, keys: Keys) -> None:
    shutil.rmtree(receipts_dir(state))
    write_lines(state, log_lines(state)[:-2])

    report = verify_state(state, keys[1])

    assert report.ok
    assert any("no receipt anchors the log's head" in w.message for w in report.warnings)


def test_edited_last_line_is_caught_by_the_receipt(state: Path, keys: Keys) -> None:
    lines = log_lines(state)
    record = json.loads(lines[-1])
    record["status"] = "failed"
    lines[-1] = canonical_bytes(record)
    write_lines(state, lines)

    problems = failing(verify_state(state, keys[1]))

    assert [(p.file, p.key) for p in problems] == [("receipts/run-b.json", "audit_head")]
    assert "line 30 of audit.jsonl lacks: line 30 was edited" in problems[0].message


def test_edited_receipt_counts_fail_the_signature(state: Path, keys: Keys) -> None:
    path = receipts_dir(state) / "run-a.json"
    receipt = json.loads(path.read_text())
    receipt["rows"] = 99
    path.write_text(json.dumps(receipt, indent=2))

    for public_key in (keys[1], None):  # the true key, then the one the receipt embeds
        problems = failing(verify_state(state, public_key))
        assert [(p.file, p.key) for p in problems] == [("receipts/run-a.json", "signature")]
        assert "changed after signing" in problems[0].message


def test_receipt_resigned_with_another_key_fails_against_the_true_key(state: Path, keys: Keys) -> None:
    path = receipts_dir(state) / "run-b.json"
    receipt = json.loads(path.read_text())
    receipt["rows"] = 99
    del receipt["signature"]
    forger_private, _ = generate_keypair()
    path.unlink()
    log = AuditLog(audit_log_path(state))  # the head is unchanged: the forger only re-signs
    write_receipt(state, "run-b", {k: v for k, v in receipt.items() if k != "audit_head"}, log, forger_private)

    problems = failing(verify_state(state, keys[1]))
    assert [(p.file, p.key) for p in problems] == [("receipts/run-b.json", "signature")]
    assert "signed by another key (it embeds a different public key)" in problems[0].message

    # With only the embedded key, the forgery passes: that key proves integrity, not authorship.
    embedded_only = verify_state(state, None)
    assert embedded_only.ok
    assert any("not who signed it" in w.message for w in embedded_only.warnings)


def test_unsigned_receipt_is_a_warning_unless_signatures_are_required(state: Path, keys: Keys) -> None:
    log = AuditLog(audit_log_path(state))
    write_receipt(state, "run-b", {"status": "ok", "rows": 1378, "tables": 11}, log, None)

    lenient = verify_state(state, keys[1])
    assert lenient.ok
    assert [(w.file, w.key) for w in lenient.warnings] == [("receipts/run-b.json", "signature")]

    strict = verify_state(state, keys[1], require_signature=True)
    assert [(p.file, p.key) for p in failing(strict)] == [("receipts/run-b.json", "signature")]


def test_torn_last_line_is_repaired_on_next_open(state: Path, keys: Keys) -> None:
    path = audit_log_path(state)
    # A crash mid-append: part of a line and no newline.
    torn = b'{"event":"unit done","prev":"' + b"1" * 20
    with path.open("ab") as handle:
        handle.write(torn)

    before = verify_chain(path)
    assert before.ok  # the torn bytes were never committed ...
    assert [w.line for w in before.warnings] == [31]  # ... but they are reported

    log = AuditLog(path)

    repaired = json.loads(read_lines(path)[-1])
    assert repaired["event"] == REPAIRED_EVENT
    assert (repaired["seq"], repaired["run"]) == (30, "run-b")
    assert (repaired["cut_bytes"], repaired["cut_sha256"]) == (len(torn), sha256_hex(torn))
    assert path.read_bytes().endswith(b"\n")
    log.append("run-c", "run started")
    after = verify_state(state, keys[1])
    assert after.ok, [p.render() for p in after.problems]
    assert after.chain.lines == 32
    assert after.warnings == []


def test_torn_first_line_of_a_new_log_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"seq":0,"ti')

    log = AuditLog(path)

    assert log.head()[0] == 0
    assert json.loads(read_lines(path)[0])["prev"] == GENESIS
    assert verify_chain(path).ok


def test_secret_guard_hides_passwords_where_they_stand(tmp_path: Path) -> None:
    """The second lock finds a password by its place in a URL or a `password=` parameter, so it
    neither refuses nor mangles a field whose words equal the password (the user, the database)."""
    log = AuditLog(tmp_path / "audit.jsonl")
    log.add_secret("a-hash-key-long-enough-to-be-no-word")
    log.append("run-a", "run started", source="postgresql://postgres:***@db/postgres", user="postgres")
    log.append("run-a", "retry", error="postgresql://app:hunter2@db/shop", stores={"target": ["x", "password=hunter2"]})
    log.append("run-a", "note", text="key a-hash-key-long-enough-to-be-no-word", short="postgres")

    written = (tmp_path / "audit.jsonl").read_bytes()
    lines = [json.loads(line) for line in read_lines(tmp_path / "audit.jsonl")]
    assert b"hunter2" not in written and b"a-hash-key-long" not in written
    assert lines[0]["source"] == "postgresql://postgres:***@db/postgres" and lines[0]["user"] == "postgres"
    assert lines[1]["error"] == "postgresql://app:***@db/shop"
    assert lines[1]["stores"] == {"target": ["x", "password=***"]}
    assert lines[2]["text"] == "key ***" and lines[2]["short"] == "postgres"
    assert verify_chain(tmp_path / "audit.jsonl").ok


def test_threads_sharing_a_log_keep_the_chain_intact(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)

    def work(worker: int) -> None:
        for chunk in range(25):
            log.append("run-a", "unit done", worker=worker, chunk=chunk)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    report = verify_chain(path)
    assert report.ok, [p.render() for p in report.problems]
    assert (report.lines, report.head_seq) == (100, 99)


def test_fields_the_log_sets_cannot_be_passed(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(ValueError, match="set by the log"):
        log.append("run-a", "unit done", prev=GENESIS)


def test_canonical_json_does_not_depend_on_key_order() -> None:
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    first = {"b": 1, "a": {"y": [1, 2], "x": "Zoë"}, "when": when, "amount": Decimal("1.10"), "id": ident}
    second = {"id": ident, "amount": Decimal("1.10"), "when": when, "a": {"x": "Zoë", "y": [1, 2]}, "b": 1}

    assert canonical_bytes(first) == canonical_bytes(second)
    assert canonical_json(first) == (
        '{"a":{"x":"Zoë","y":[1,2]},"amount":"1.10","b":1,'
        '"id":"12345678-1234-5678-1234-567812345678","when":"2024-05-01T12:00:00+00:00"}'
    )
    with pytest.raises(TypeError, match="no canonical JSON form"):
        canonical_json({"raw": b"\x00"})


def test_receipt_signature_covers_everything_but_itself(state: Path, keys: Keys) -> None:
    receipt = json.loads((receipts_dir(state) / "run-a.json").read_text())

    assert receipt["audit_head"] == {"seq": 14, "sha256": sha256_hex(log_lines(state)[14])}
    assert receipt["signature"]["algorithm"] == "ed25519"
    assert b"signature" not in signed_payload(receipt)


def test_load_signing_key_accepts_pem_text_and_path(tmp_path: Path, keys: Keys) -> None:
    private_pem = keys[0]
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(private_pem)

    assert load_signing_key(private_pem.decode()) == private_pem
    assert load_signing_key(str(key_file)) == private_pem
    flattened = private_pem.decode().replace("\n", "\\n")  # as some CI secret stores hold it
    assert load_signing_key(flattened) == private_pem


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not-a-key-s3cr3t", "neither a PEM private key nor the path"),
        ("-----BEGIN PRIVATE KEY-----\ns3cr3t\n-----END PRIVATE KEY-----", "not a readable PEM private key"),
        ("", "neither a PEM private key nor the path"),
    ],
)
def test_load_signing_key_refuses_anything_else_without_echoing_it(value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        load_signing_key(value)
    assert "s3cr3t" not in str(caught.value)


def test_load_signing_key_refuses_other_algorithms() -> None:
    ed448 = Ed448PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    with pytest.raises(UsageError, match="Ed448 key; receipts are signed with Ed25519"):
        load_signing_key(ed448.decode())
