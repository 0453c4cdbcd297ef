"""`migrator verify` catches every way a target can be wrong, with and without the source; runs end
with verification; the audit trail and receipts hold; no secret reaches any output or state file."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from migrator.demo.generate import generate_demo
from tests.test_resume import _plan

HASH_KEY = "verify-hash-key-123"


def _env(**more: str) -> dict[str, str]:
    return {"MIGRATOR_HASH_KEY": HASH_KEY, "COLUMNS": "200", **more}


@pytest.fixture
def copied(run_cli, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A verified US split of a small demo into SQLite; returns (plan, target file)."""
    source = generate_demo(tmp_path / "demo", users=150).database
    target = tmp_path / "us.db"
    plan = _plan(tmp_path, f"sqlite:///{source}", f"sqlite:///{target}", "verified")
    done = run_cli("run", plan, "--format", "json", env=_env())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verification"]["ok"] is True
    return plan, target


def _break(target: Path, *statements: str) -> None:
    conn = sqlite3.connect(target)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _failures(run_cli, plan: Path, *args: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """What verify finds, the same whether it compares with what the run read (the default) or
    with the source as it is now (the source has not changed here). The checksums shown differ:
    the run's are of its chunks (method "sqlite-chunks"), a new read's of its rows ("sqlite")."""
    found = []
    for how in ((), ("--against-source",)) if "--receipt" not in args else ((),):
        result = run_cli("verify", plan, "--format", "json", *how, *args, env=_env())
        assert result.returncode == 1, result.stdout + result.stderr
        failed = [c for c in json.loads(result.stdout)["checks"] if not c["ok"]]
        found.append([dict(c, detail=re.sub(r"\b[0-9a-f]{16}\b", "CHECKSUM", c["detail"])) for c in failed])
    assert all(f == found[0] for f in found), found
    return found[0]


def test_a_correct_target_verifies(run_cli, copied) -> None:  # type: ignore[no-untyped-def]
    plan, _ = copied
    result = run_cli("verify", plan, env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified" in result.stdout


def test_a_deleted_row_is_caught(run_cli, copied) -> None:  # type: ignore[no-untyped-def]
    plan, target = copied
    _break(target, "DELETE FROM likes WHERE rowid = (SELECT min(rowid) FROM likes)")
    failures = _failures(run_cli, plan)
    assert [(f["check"], f["table"]) for f in failures] == [("I3", "likes")]
    assert failures[0]["examples"][0].startswith("missing ")


def test_an_out_of_scope_row_is_caught(run_cli, copied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan, target = copied
    source = sqlite3.connect(tmp_path / "demo" / "source" / "global.db")
    eu_user = source.execute(
        "SELECT * FROM users WHERE region_id = (SELECT id FROM regions WHERE code = 'EU')"
    ).fetchone()
    source.close()

    conn = sqlite3.connect(target)
    conn.execute(f"INSERT INTO users VALUES ({', '.join('?' * len(eu_user))})", eu_user)
    conn.commit()
    conn.close()
    failures = _failures(run_cli, plan)
    assert ("I2", "users") in [(f["check"], f["table"]) for f in failures]
    assert str(eu_user[0]) in next(f for f in failures if f["check"] == "I2")["examples"]


def test_a_changed_value_is_caught(run_cli, copied) -> None:  # type: ignore[no-untyped-def]
    plan, target = copied
    _break(target, "UPDATE posts SET body = 'edited' WHERE id = (SELECT min(id) FROM posts)")
    failures = _failures(run_cli, plan)
    assert [(f["check"], f["table"]) for f in failures] == [("I3", "posts")]
    assert failures[0]["examples"][0].startswith("changed ")


def test_a_dangling_foreign_key_is_caught(run_cli, copied) -> None:  # type: ignore[no-untyped-def]
    plan, target = copied
    _break(target, "UPDATE comments SET post_id = 999999 WHERE id = (SELECT min(id) FROM comments)")
    failures = _failures(run_cli, plan)
    checks = {(f["check"], f["table"]) for f in failures}
    assert ("I1", "comments") in checks  # the reference points at nothing
    assert ("I3", "comments") in checks  # and the row is not the source's any more
    i1 = next(f for f in failures if f["check"] == "I1")
    assert "comments.post_id -> posts.id" in i1["detail"]


def test_a_row_in_a_skipped_table_is_caught(run_cli, copied) -> None:  # type: ignore[no-untyped-def]
    plan, target = copied
    _break(
        target,
        "CREATE TABLE audit_events (id INTEGER PRIMARY KEY, actor_id INTEGER, action TEXT, created_at TEXT)",
        "INSERT INTO audit_events VALUES (1, 1, 'login', '2024-01-01')",
    )
    failures = _failures(run_cli, plan)
    assert [(f["check"], f["table"]) for f in failures] == [("I2", "audit_events")]


def test_a_source_that_lives_on_is_compared_as_the_run_read_it(run_cli, copied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A new US post in the source after the run: the target is still exactly what the run read in
    its snapshot (default), and --against-source says which row the source has now that it lacks."""
    plan, _ = copied
    source = sqlite3.connect(tmp_path / "demo" / "source" / "global.db")
    author = source.execute(
        "SELECT id FROM users WHERE region_id = (SELECT id FROM regions WHERE code = 'US') ORDER BY id"
    ).fetchone()[0]
    source.execute(
        "INSERT INTO posts (id, author_id, body, created_at) VALUES (999001, ?, 'new', '2026-11-30 12:00:00')",
        (author,),
    )
    source.commit()
    source.close()
    as_read = run_cli("verify", plan, "--format", "json", env=_env())
    assert as_read.returncode == 0, as_read.stdout + as_read.stderr
    assert "snapshot" in json.loads(as_read.stdout)["reference"]
    now = run_cli("verify", plan, "--against-source", "--format", "json", env=_env())
    assert now.returncode == 1
    failures = [c for c in json.loads(now.stdout)["checks"] if not c["ok"]]
    assert [(f["check"], f["table"]) for f in failures] == [("I3", "posts")]
    assert failures[0]["examples"] == ["missing 999001"]


def test_verify_against_a_receipt_without_the_source(run_cli, copied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan, target = copied
    receipts = list((tmp_path / "state" / "verified" / "receipts").glob("*.json"))
    assert len(receipts) == 1
    # The auditor has the receipt and the target, not the source: point the plan's source at nothing.
    shutil.move(tmp_path / "demo", tmp_path / "elsewhere")
    ok = run_cli("verify", plan, "--receipt", receipts[0], env=_env())
    assert ok.returncode == 0, ok.stdout + ok.stderr
    _break(target, "UPDATE posts SET body = 'edited' WHERE id = (SELECT min(id) FROM posts)")
    failures = _failures(run_cli, plan, "--receipt", str(receipts[0]))
    assert [(f["check"], f["table"]) for f in failures] == [("I2", "posts"), ("I3", "posts")]


def test_run_ends_with_verification_and_a_failing_one_exits_1(run_cli, tmp_path: Path) -> None:
    source = generate_demo(tmp_path / "demo", users=60).database
    target = tmp_path / "us.db"
    plan = _plan(tmp_path, f"sqlite:///{source}", f"sqlite:///{target}", "spoiled")
    # A trigger in the target spoils one value as it is written: the copy succeeds, the proof fails.
    first = run_cli("run", plan, "--no-verify", env=_env())
    assert first.returncode == 0, first.stderr
    conn = sqlite3.connect(target)
    conn.execute("DROP TABLE _migrator_units")
    conn.execute("DROP TABLE _migrator_runs")
    for table in ("likes", "comments", "follows", "devices", "posts", "users", "regions"):
        conn.execute(f"DELETE FROM {table}")
    conn.execute(
        "CREATE TRIGGER spoil AFTER INSERT ON regions BEGIN UPDATE regions SET name = 'x' WHERE id = NEW.id; END"
    )
    conn.commit()
    conn.close()
    plan.write_text(plan.read_text().replace('"target": {', '"target": {"existing": "truncate", '))
    spoiled = run_cli("run", plan, env=_env())
    assert spoiled.returncode == 1
    assert "FAIL I3 regions" in spoiled.stdout


def test_audit_trail_of_a_signed_run(run_cli, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    made = run_cli("audit", "keygen", keys)
    assert made.returncode == 0, made.stderr
    source = generate_demo(tmp_path / "demo", users=60).database
    plan = _plan(tmp_path, f"sqlite:///{source}", f"sqlite:///{tmp_path / 'us.db'}", "signed")
    done = run_cli("run", plan, "--count-dangling", env=_env(MIGRATOR_SIGNING_KEY=str(keys / "signing-key.pem")))
    assert done.returncode == 0, done.stderr
    state = tmp_path / "state" / "signed"
    events = [json.loads(line)["event"] for line in (state / "audit.jsonl").read_text().splitlines()]
    assert events[0] == "run started" and events[-1] == "run finished"
    assert {"unit done", "dangling rows", "verification"} <= set(events)
    receipt = json.loads(next((state / "receipts").glob("*.json")).read_text())
    assert receipt["signature"]["algorithm"] == "ed25519"
    assert receipt["verification"]["ok"] is True
    intact = run_cli("audit", "verify", state, "--public-key", keys / "public-key.pem", "--require-signature")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    lines = (state / "audit.jsonl").read_text().splitlines()
    lines[3] = lines[3].replace('"rows":', '"rows":1')
    (state / "audit.jsonl").write_text("\n".join(lines) + "\n")
    tampered = run_cli("audit", "verify", state, "--public-key", keys / "public-key.pem")
    assert tampered.returncode == 1
    assert "TAMPERED" in tampered.stdout and "audit.jsonl:4" in tampered.stdout


def test_no_secret_reaches_any_output_or_state_file(run_cli, tmp_path: Path, pg_url_factory) -> None:
    """A password in the database URL, a hash key and a signing key: none may appear anywhere."""
    password = "Sup3r-Secret-Passw0rd"
    url = sa.engine.make_url(pg_url_factory()).set(password=password).render_as_string(hide_password=False)
    keys = tmp_path / "keys"
    assert run_cli("audit", "keygen", keys).returncode == 0
    signing_key = (keys / "signing-key.pem").read_text()
    source = generate_demo(tmp_path / "demo", users=60).database
    plan = _plan(tmp_path, f"sqlite:///{source}", "${TARGET_URL}", "secret")
    env = _env(TARGET_URL=url, MIGRATOR_SIGNING_KEY=signing_key)
    outputs = []
    for args in (
        ["validate", plan, "--connect"],
        ["plan", plan],
        ["plan", plan, "--format", "json"],
        ["run", plan],
        ["run", plan, "--format", "json"],
        ["verify", plan],
        ["verify", plan, "--format", "json"],
        ["audit", "verify", tmp_path / "state" / "secret"],
    ):
        result = run_cli(*args, env=env)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        outputs += [result.stdout, result.stderr]
    # A failing run too: the wrong database, with the password in its URL.
    wrong = sa.engine.make_url(url).set(database="no_such_database").render_as_string(hide_password=False)
    failed = run_cli("run", plan, env={**env, "TARGET_URL": wrong})
    assert failed.returncode == 2  # a store that refuses the first connection (StoreUnavailable)
    outputs += [failed.stdout, failed.stderr]
    files = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert files, "the run must have written its state"
    texts = outputs + [p.read_text(errors="replace") for p in files]
    secrets = [password, HASH_KEY, *[line for line in signing_key.splitlines() if len(line) > 20]]
    for secret in secrets:
        assert not any(secret in text for text in texts), "a secret leaked"
    assert any("***" in text for text in outputs), "URLs are shown, with the password masked"


def test_postgresql_digests_are_computed_in_the_server_and_catch_a_change(
    run_cli, chinook_pg: str, pg_database: str, tmp_path: Path
) -> None:
    plans = Path(__file__).parent / "plans"
    env = {"SOURCE_URL": chinook_pg, "TARGET_URL": pg_database, "STATE_DIR": str(tmp_path / "state")}
    done = run_cli("run", plans / "chinook_us_pg.yaml", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    verification = json.loads(done.stdout)["verification"]
    # The run hashed the COPY tuples (binary: built-in types) as they streamed by, and read only the target.
    assert verification["ok"] and verification["tables"]["invoice"]["method"] == "binary-chunks"
    again = run_cli("verify", plans / "chinook_us_pg.yaml", "--format", "json", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    # By default `verify` compares with what the run read, as the run did: only the target is read.
    checked = json.loads(again.stdout)
    assert checked["tables"]["invoice"]["method"] == "binary-chunks"
    assert checked["reference"].startswith("what run ") and "snapshot" in checked["reference"]
    fresh = run_cli("verify", plans / "chinook_us_pg.yaml", "--against-source", "--format", "json", env=env)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    # --against-source reads the source again, and digests both sides inside the servers.
    assert json.loads(fresh.stdout)["tables"]["invoice"]["method"] == "postgresql"
    assert json.loads(fresh.stdout)["reference"] == "the source as it is now"
    engine = sa.create_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE invoice SET total = total + 1 WHERE invoice_id = (SELECT min(invoice_id) FROM invoice)")
        )
    engine.dispose()
    for how in ((), ("--against-source",)):
        result = run_cli("verify", plans / "chinook_us_pg.yaml", *how, "--format", "json", env=env)
        assert result.returncode == 1, how
        failures = [c for c in json.loads(result.stdout)["checks"] if not c["ok"]]
        assert [(f["check"], f["table"]) for f in failures] == [("I3", "invoice")], how
        assert failures[0]["examples"][0].startswith("changed "), how


def test_validated_foreign_keys_answer_for_i1_only_while_every_table_holds_what_the_run_wrote(
    run_cli, chinook_pg: str, pg_database: str, tmp_path: Path
) -> None:
    plans = Path(__file__).parent / "plans"
    env = {"SOURCE_URL": chinook_pg, "TARGET_URL": pg_database, "STATE_DIR": str(tmp_path / "state")}
    done = run_cli("run", plans / "chinook_us_pg.yaml", "--no-verify", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    checked = run_cli("verify", plans / "chinook_us_pg.yaml", "--format", "json", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    references = [c for c in json.loads(checked.stdout)["checks"] if c["check"] == "I1"]
    by_constraint = [c for c in references if "validated foreign key" in c["detail"]]
    assert any(c["table"] == "invoice_line" for c in by_constraint), references
    # An orphan slipped in past the foreign key (its trigger off for the session): the table no
    # longer holds what the run wrote, so the references are queried again, and the orphan found.
    engine = sa.create_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            sa.text(
                "INSERT INTO invoice_line (invoice_line_id, invoice_id, track_id, unit_price, quantity) "
                "VALUES (999999, 999999, 1, 0.99, 1)"
            )
        )
    engine.dispose()
    tampered = run_cli("verify", plans / "chinook_us_pg.yaml", "--format", "json", env=env)
    assert tampered.returncode == 1
    failures = {(c["check"], c["table"]) for c in json.loads(tampered.stdout)["checks"] if not c["ok"]}
    assert ("I1", "invoice_line") in failures and ("I2", "invoice_line") in failures, failures
    assert not any("validated foreign key" in c["detail"] for c in json.loads(tampered.stdout)["checks"])


def test_verify_needs_no_source_while_the_target_holds_what_the_run_wrote(run_cli, copied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan, target = copied
    # The run recorded its digests and what checking them takes (columns, keys, references) in
    # the target's ledger: with the source gone, the target still verifies.
    shutil.move(tmp_path / "demo", tmp_path / "elsewhere")
    ok = run_cli("verify", plan, "--format", "json", env=_env())
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["reference"].startswith("what run ")
    # A difference is still found; naming its rows would take the source, which is gone.
    _break(target, "DELETE FROM likes WHERE rowid = (SELECT min(rowid) FROM likes)")
    broken = run_cli("verify", plan, "--format", "json", env=_env())
    assert broken.returncode == 1, broken.stdout + broken.stderr
    failures = [(c["check"], c["table"]) for c in json.loads(broken.stdout)["checks"] if not c["ok"]]
    assert failures == [("I2", "likes"), ("I3", "likes")]


def test_the_runs_own_check_of_the_references_answers_for_i1_while_the_rows_are_the_same(  # type: ignore[no-untyped-def]
    run_cli, copied, tmp_path: Path
) -> None:
    plan, target = copied
    shutil.move(tmp_path / "demo", tmp_path / "elsewhere")  # the target alone, as the default verify reads it
    ok = run_cli("verify", plan, "--format", "json", env=_env())
    assert ok.returncode == 0, ok.stdout + ok.stderr
    references = [c for c in json.loads(ok.stdout)["checks"] if c["check"] == "I1"]
    assert references and all("the run's own verification" in c["detail"] for c in references), references
    # A parent row gone: posts no longer holds what the run wrote, so every reference is queried
    # again, and the comments and likes left pointing at nothing are found.
    _break(
        target,
        "PRAGMA foreign_keys = OFF",
        "DELETE FROM posts WHERE id = (SELECT post_id FROM comments ORDER BY id LIMIT 1)",
    )
    broken = run_cli("verify", plan, "--format", "json", env=_env())
    assert broken.returncode == 1, broken.stdout + broken.stderr
    checks = json.loads(broken.stdout)["checks"]
    failed = {(c["check"], c["table"]) for c in checks if not c["ok"]}
    assert {("I3", "posts"), ("I1", "comments")} <= failed, failed
    assert not any("the run's own verification" in c["detail"] for c in checks)


def test_a_run_that_did_not_verify_vouches_for_no_reference(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = generate_demo(tmp_path / "demo", users=60).database
    plan = _plan(tmp_path, f"sqlite:///{source}", f"sqlite:///{tmp_path / 'us.db'}", "unverified")
    done = run_cli("run", plan, "--no-verify", "--format", "json", env=_env())
    assert done.returncode == 0, done.stderr
    checked = run_cli("verify", plan, "--format", "json", env=_env())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    references = [c for c in json.loads(checked.stdout)["checks"] if c["check"] == "I1"]
    assert references and all(c["detail"].endswith("every reference resolves") for c in references), references
