"""The documentation is tested: its example plans load and run, the commands of the audit how-to and
the CI script really work, its reference covers every command, option, environment variable and plan
key, every `migrator` command line it shows is one the CLI accepts, and its links lead somewhere."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import typer
import yaml

from migrator.audit.keys import raw_public_key, signing_key
from migrator.audit.receipt import signed_payload
from migrator.demo.generate import generate_demo
from migrator.plan.load import load_plan
from tests.prerequisites import missing_prerequisite

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
EXAMPLES = DOCS / "examples"
HASH_KEY = "docs-test-key"

# Every variable an example plan reads; the values only have to be well-formed URLs.
EXAMPLE_ENV = {
    "SOURCE_URL": "postgresql+psycopg://readonly@db.internal:5432/app",
    "TARGET_URL": "postgresql+psycopg://migrator@new-db.internal:5432/app",
    "PROD_URL": "postgresql+psycopg://readonly@db.internal:5432/app",
    "STAGING_URL": "postgresql+psycopg://migrator@staging-db.internal:5432/app",
    "SOURCE_S3_URL": "https://s3.global.example",
    "SOURCE_S3_KEY_ID": "source-key-id",
    "SOURCE_S3_SECRET": "source-secret",
    "TARGET_S3_URL": "https://objects.us.example",
    "TARGET_S3_KEY_ID": "target-key-id",
    "TARGET_S3_SECRET": "target-secret",
}


def _copy_example(name: str, folder: Path) -> Path:
    """The example plan next to the test's files, so that its state folder lands there too."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(EXAMPLES / name, folder / name))


def _rows(database: Path, sql: str) -> set[tuple[object, ...]]:
    with closing(sqlite3.connect(database)) as conn:
        return set(conn.execute(sql).fetchall())


# --- the example plans ----------------------------------------------------------------------------


@pytest.mark.parametrize("plan", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_plan_loads(plan: Path) -> None:
    loaded = load_plan(plan, environ=EXAMPLE_ENV)
    assert loaded.plan.name


def test_model_artifacts_howto_shows_its_example_plan() -> None:
    """The how-to cannot run without two S3 servers; what it shows of the plan is the plan file itself."""
    example = (EXAMPLES / "model-artifacts.yaml").read_text(encoding="utf-8")
    body = example[example.index("version: 1") :]
    assert f"```yaml\n{body}```" in (DOCS / "howto" / "model-artifacts.md").read_text(encoding="utf-8")


def test_residency_split_runs_on_the_demo(run_cli, tmp_path: Path) -> None:
    demo = generate_demo(tmp_path / "demo")
    plan = _copy_example("residency-split.yaml", tmp_path / "plans")
    target = tmp_path / "us" / "us.db"
    env = {"SOURCE_URL": f"sqlite:///{demo.database}", "TARGET_URL": f"sqlite:///{target}"}

    done = run_cli("run", plan, env=env)
    assert done.returncode == 0, done.stderr
    # The guide quotes the run's verification line.
    verified = next(line for line in done.stdout.splitlines() if line.startswith("verified: "))
    assert re.sub(r" in [0-9.]+ s$", "", verified) in (DOCS / "howto" / "residency-split.md").read_text(
        encoding="utf-8"
    )
    assert "receipt: " in done.stdout
    again = run_cli("run", plan, "--format", "json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "already-finished"

    us_users = _rows(demo.database, "SELECT id FROM users WHERE region_id = (SELECT id FROM regions WHERE code = 'US')")
    assert _rows(target, "SELECT id FROM users") == us_users
    assert _rows(target, "SELECT name FROM sqlite_master WHERE name = 'audit_events'") == set()
    assert _rows(target, "SELECT id FROM posts WHERE deleted_at IS NOT NULL") == set()
    # The replies to comments that stayed behind are kept, as top-level comments.
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute(
            "SELECT count(*) FROM comments WHERE parent_id IS NOT NULL AND parent_id NOT IN (SELECT id FROM comments)"
        ).fetchone()
    assert orphans == (0,)
    source_replies = _rows(demo.database, "SELECT id FROM comments WHERE parent_id IS NOT NULL")
    target_top_level = _rows(target, "SELECT id FROM comments WHERE parent_id IS NULL")
    assert source_replies & target_top_level, "no reply was kept with its parent nulled"


def test_tenant_extraction_copies_only_tenant_42(run_cli, tmp_path: Path) -> None:
    source = tmp_path / "saas.db"
    with closing(sqlite3.connect(source)) as conn:
        conn.executescript((EXAMPLES / "tenant-saas.sql").read_text(encoding="utf-8"))
    assert _rows(source, "SELECT id FROM tenants") == {(7,), (42,)}
    plan = _copy_example("tenant-extraction.yaml", tmp_path / "plans")
    target = tmp_path / "acme.db"
    env = {"SOURCE_URL": f"sqlite:///{source}", "TARGET_URL": f"sqlite:///{target}"}

    done = run_cli("run", plan, env=env)
    assert done.returncode == 0, done.stderr

    expected = {
        "tenants": "SELECT id FROM tenants WHERE id = 42",
        "users": "SELECT id FROM users WHERE tenant_id = 42",
        "projects": "SELECT id FROM projects WHERE tenant_id = 42",
        "tasks": "SELECT id FROM tasks WHERE project_id IN (SELECT id FROM projects WHERE tenant_id = 42)",
        "comments": """SELECT id FROM comments
                        WHERE task_id IN (SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id
                                           WHERE p.tenant_id = 42)
                          AND author_id IN (SELECT id FROM users WHERE tenant_id = 42)""",
        "plans": "SELECT id FROM plans",
    }
    for table, sql in expected.items():
        assert _rows(target, f"SELECT id FROM {table}") == _rows(source, sql), table
    assert _rows(target, "SELECT DISTINCT tenant_id FROM users UNION SELECT DISTINCT tenant_id FROM projects") == {
        (42,)
    }
    # A tenant-42 task assigned to a user of tenant 7 arrives without its assignee.
    outside = _rows(source, "SELECT id FROM users WHERE tenant_id <> 42")
    assert outside
    assert _rows(target, "SELECT assignee_id FROM tasks") & outside == set()
    assert (None,) in _rows(target, "SELECT assignee_id FROM tasks WHERE id = 121")


def test_masked_staging_transforms_the_columns(run_cli, tmp_path: Path) -> None:
    demo = generate_demo(tmp_path / "demo", users=60)
    plan = _copy_example("masked-staging.yaml", tmp_path / "plans")
    target = tmp_path / "staging.db"
    env = {"PROD_URL": f"sqlite:///{demo.database}", "STAGING_URL": f"sqlite:///{target}"}

    refused = run_cli("run", plan, env={**env, "MIGRATOR_HASH_KEY": ""})  # empty counts as unset
    assert refused.returncode == 2, refused.stderr
    assert "MIGRATOR_HASH_KEY" in refused.stderr
    done = run_cli("run", plan, env={**env, "MIGRATOR_HASH_KEY": HASH_KEY})
    assert done.returncode == 0, done.stderr

    with closing(sqlite3.connect(demo.database)) as src, closing(sqlite3.connect(target)) as dst:
        for table in ("regions", "users", "follows", "posts", "comments", "likes", "devices", "audit_events"):
            assert (
                dst.execute(f"SELECT count(*) FROM {table}").fetchone()
                == src.execute(f"SELECT count(*) FROM {table}").fetchone()
            ), table
        before = {r[0]: r[1:] for r in src.execute("SELECT id, email, handle, display_name, phone FROM users")}
        for user_id, email, handle, display_name, phone in dst.execute(
            "SELECT id, email, handle, display_name, phone FROM users"
        ):
            old_email, old_handle, old_name, _ = before[user_id]
            assert email == hmac.new(HASH_KEY.encode(), old_email.encode(), hashlib.sha256).hexdigest()
            assert handle == hmac.new(HASH_KEY.encode(), old_handle.encode(), hashlib.sha256).hexdigest()
            if old_name is None:
                assert display_name is None
            else:
                assert display_name != old_name
                assert re.sub("[a-z]", "x", re.sub("[A-Z]", "X", old_name)) == display_name
            assert phone is None
        bodies = dict(src.execute("SELECT id, body FROM posts").fetchall())
        for post_id, body in dst.execute("SELECT id, body FROM posts"):
            assert body != bodies[post_id]
            assert len(body) == len(bodies[post_id])
        assert {r[0] for r in dst.execute("SELECT body FROM comments")} == {"[comment text removed]"}
        device_columns = {r[1] for r in dst.execute("PRAGMA table_info(devices)")}
        assert "push_token" not in device_columns
        assert "platform" in device_columns


def test_ci_rehearsal_script_parses() -> None:
    script = EXAMPLES / "ci-rehearsal.sh"
    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_ci_rehearsal_script_passes_on_the_demo(tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        missing_prerequisite("jq is not installed (the CI rehearsal script reads JSON with it)", "apt-get install jq")
    demo = generate_demo(tmp_path / "demo")
    plan = _copy_example("residency-split.yaml", tmp_path / "plans")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        "MIGRATOR": f"{shlex.quote(sys.executable)} -m migrator",
        "SOURCE_URL": f"sqlite:///{demo.database}",
        "MAX_DANGLING": "5000",
    }
    env.pop("TARGET_URL", None)
    script = EXAMPLES / "ci-rehearsal.sh"
    passed = subprocess.run(["bash", str(script), str(plan)], capture_output=True, text=True, env=env, check=False)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "verified: 24 of 24 checks hold" in passed.stdout
    assert "intact: " in passed.stdout
    assert passed.stdout.rstrip().endswith("rehearsal passed")
    strict = subprocess.run(
        ["bash", str(script), str(plan)], capture_output=True, text=True, env={**env, "MAX_DANGLING": "10"}, check=False
    )
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "more than MAX_DANGLING=10" in strict.stderr


# --- the audit how-to: sign, check, hand over, catch tampering --------------------------------------


def _audit_lines(state: Path) -> list[str]:
    return (state / "audit.jsonl").read_text(encoding="utf-8").splitlines()


def _state_copy(state: Path, folder: Path) -> Path:
    return Path(shutil.copytree(state, folder))


def test_audit_howto_commands(run_cli, tmp_path: Path) -> None:
    howto = (DOCS / "howto" / "audit-and-receipts.md").read_text(encoding="utf-8")
    keys = tmp_path / "keys"
    made = run_cli("audit", "keygen", keys)
    assert made.returncode == 0, made.stderr
    assert (keys / "signing-key.pem").stat().st_mode & 0o077 == 0, "the private key must be private"
    assert (keys / "public-key.pem").exists()
    assert run_cli("audit", "keygen", keys).returncode == 2, "keygen must not overwrite a key"

    demo = generate_demo(tmp_path / "demo")
    plan = _copy_example("residency-split.yaml", tmp_path / "plans")
    target = tmp_path / "us" / "us.db"
    source_url = f"sqlite:///{demo.database}"
    env = {"SOURCE_URL": source_url, "TARGET_URL": f"sqlite:///{target}"}
    signed_env = {**env, "MIGRATOR_SIGNING_KEY": str(keys / "signing-key.pem")}

    bad_key = run_cli("run", plan, env={**env, "MIGRATOR_SIGNING_KEY": str(keys / "nope.pem")})
    assert bad_key.returncode == 2
    assert "MIGRATOR_SIGNING_KEY is neither a PEM private key nor the path of a key file" in bad_key.stderr
    assert not target.exists(), "a bad key must stop the run before it writes anything"

    done = run_cli("run", plan, "--format", "json", "--count-dangling", env=signed_env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    receipt_path = Path(result["receipt"])
    state = tmp_path / "plans" / ".migrator" / "us-residency"
    assert receipt_path == state / "receipts" / f"{result['run_id']}.json"
    assert {p.name for p in state.iterdir()} == {"audit.jsonl", "receipts", "runs"}

    lines = _audit_lines(state)
    records = [json.loads(line) for line in lines]
    assert records[0]["event"] == "run started" and records[0]["prev"] == "0" * 64
    assert records[-2]["event"] == "verification" and records[-1]["event"] == "run finished"
    assert {r["event"] for r in records} == {
        "run started",
        "dangling rows",
        "unit done",
        "verification",
        "run finished",
    }
    for event in {r["event"] for r in records}:
        assert f"| `{event}` |" in howto, f"the how-to's table of events lacks {event}"
    units = [r for r in records if r["event"] == "unit done"]
    assert all(re.fullmatch(r"(python|sqlite|sqlite-chunks):[0-9a-f]{16}", r["checksum"]) for r in units)

    receipt = json.loads(receipt_path.read_text(encoding="utf-8"))
    assert receipt["audit_head"]["seq"] == len(lines) - 1
    assert receipt["signature"]["algorithm"] == "ed25519"
    assert receipt["verification"]["ok"] is True
    for field in receipt:
        assert f"`{field}`" in howto, f"the how-to does not explain the receipt's {field}"
    assert receipt["plan_sha256"] == hashlib.sha256(plan.read_bytes()).hexdigest()

    checked = run_cli("audit", "verify", state, "--public-key", keys / "public-key.pem", "--require-signature")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"intact: {len(lines)} audit lines chained" in checked.stdout
    assert f"intact: {len(lines)} audit lines chained" in howto
    embedded = run_cli("audit", "verify", state)
    assert embedded.returncode == 0
    assert "checked with the public key embedded in the receipt" in embedded.stdout

    # The auditor: the state folder, the public key, the plan file, the target; not the source.
    auditor = tmp_path / "auditor"
    _state_copy(state, auditor / "us-residency")
    shutil.copy(keys / "public-key.pem", auditor)
    auditor_plan = Path(shutil.copy(plan, auditor))
    receipt_copy = auditor / "us-residency" / "receipts" / receipt_path.name
    nowhere = {"TARGET_URL": env["TARGET_URL"], "SOURCE_URL": "sqlite:////nonexistent/unused.db"}
    audited = run_cli("audit", "verify", auditor / "us-residency", "--public-key", auditor / "public-key.pem")
    assert audited.returncode == 0, audited.stdout
    holds = run_cli("verify", auditor_plan, "--receipt", receipt_copy, env=nowhere)
    assert holds.returncode == 0, holds.stdout + holds.stderr
    assert "verified: 24 checks hold" in holds.stdout

    # A leaked EU user: the receipt names the table, the source names the row.
    with closing(sqlite3.connect(target)) as conn:
        conn.execute(f"ATTACH '{demo.database}' AS g")
        conn.execute("INSERT INTO users SELECT * FROM g.users WHERE id = 2")
        conn.commit()
    leaked = run_cli("verify", auditor_plan, "--receipt", receipt_copy, "--format", "json", env=nowhere)
    assert leaked.returncode == 1
    assert [(c["check"], c["table"]) for c in json.loads(leaked.stdout)["checks"] if not c["ok"]] == [
        ("I2", "users"),
        ("I3", "users"),
    ]
    named = run_cli("verify", plan, env=env)
    assert named.returncode == 1
    assert "FAIL I2 users:" in named.stdout and "     2\n" in named.stdout
    assert "FAIL I2 users: subset 140 rows" in howto

    # The trail: an edited line, the last lines cut, an edited receipt, a receipt signed again.
    public = keys / "public-key.pem"
    edited = _state_copy(state, tmp_path / "tampered" / "edited")
    number = next(i for i, r in enumerate(records, start=1) if r["event"] == "unit done" and r["table"] == "users")
    changed = [line.replace('"rows":140', '"rows":139') if i == number else line for i, line in enumerate(lines, 1)]
    (edited / "audit.jsonl").write_text("\n".join(changed) + "\n", encoding="utf-8")
    found = run_cli("audit", "verify", edited, "--public-key", public)
    assert found.returncode == 1
    assert f"TAMPERED audit.jsonl:{number}: its SHA-256 is not the prev of line {number + 1}" in found.stdout

    cut = _state_copy(state, tmp_path / "tampered" / "cut")
    (cut / "audit.jsonl").write_text("\n".join(lines[:-2]) + "\n", encoding="utf-8")
    found = run_cli("audit", "verify", cut, "--public-key", public)
    assert found.returncode == 1
    assert "audit_head: names seq" in found.stdout and "lines were deleted" in found.stdout

    forged = dict(receipt, tables={**receipt["tables"], "users": {"chunks": 1, "rows": 139}})
    rewritten = _state_copy(state, tmp_path / "tampered" / "receipt")
    (rewritten / "receipts" / receipt_path.name).write_text(json.dumps(forged, indent=2), encoding="utf-8")
    found = run_cli("audit", "verify", rewritten, "--public-key", public)
    assert found.returncode == 1
    assert "the receipt was changed after signing" in found.stdout

    mallory = tmp_path / "mallory"
    assert run_cli("audit", "keygen", mallory).returncode == 0
    key = signing_key((mallory / "signing-key.pem").read_bytes())
    forged["signature"] = {
        "algorithm": "ed25519",
        "public_key": base64.b64encode(raw_public_key(key.public_key())).decode(),
        "value": base64.b64encode(key.sign(signed_payload(forged))).decode(),
    }
    resigned = _state_copy(state, tmp_path / "tampered" / "resigned")
    (resigned / "receipts" / receipt_path.name).write_text(json.dumps(forged, indent=2), encoding="utf-8")
    assert run_cli("audit", "verify", resigned).returncode == 0, "the embedded key only proves the receipt intact"
    found = run_cli("audit", "verify", resigned, "--public-key", public)
    assert found.returncode == 1
    assert "or signed by another key" in found.stdout


# --- every command takes --format json (the README says so) -----------------------------------------


def _cli_commands() -> dict[str, object]:
    """Every command of the typer app, as its words ("audit keygen"), with its click command."""
    import typer.main

    from migrator.cli.app import app

    found: dict[str, object] = {}

    def walk(command: object, words: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            found[" ".join(words)] = command
            return
        for name, sub in subcommands.items():
            walk(sub, (*words, name))

    walk(typer.main.get_command(app), ())
    return found


def test_every_command_takes_format_json_and_prints_json(run_cli, tmp_path: Path) -> None:
    commands = _cli_commands()
    for words, command in commands.items():
        options = {opt for param in command.params for opt in param.opts}  # type: ignore[attr-defined]
        assert "--format" in options, f"migrator {words} does not take --format"

    demo = generate_demo(tmp_path / "demo", users=40)
    plan = _copy_example("residency-split.yaml", tmp_path / "plans")
    state = tmp_path / "plans" / ".migrator" / "us-residency"
    env = {"SOURCE_URL": f"sqlite:///{demo.database}", "TARGET_URL": f"sqlite:///{tmp_path / 'us.db'}"}
    # One successful call of each command, in an order where each finds what it needs.
    calls = {
        "validate": ["validate", plan, "--connect"],
        "plan": ["plan", plan],
        "run": ["run", plan],
        "verify": ["verify", plan],
        "schema": ["schema"],
        "audit verify": ["audit", "verify", state],
        "audit keygen": ["audit", "keygen", tmp_path / "keys"],
        "status": ["status", plan],
        "rehearse": ["rehearse", plan, "--sample", "5"],
        "init": ["init", f"sqlite:///{demo.database}"],
    }
    assert set(calls) == set(commands), "a command was added: give it a call here"
    for words, args in calls.items():
        done = run_cli(*args, "--format", "json", env=env)
        assert done.returncode == 0, f"migrator {words} --format json: {done.stderr}"
        assert isinstance(json.loads(done.stdout), dict), f"migrator {words} --format json printed {done.stdout!r}"
    keys = json.loads(run_cli("audit", "keygen", tmp_path / "more-keys", "--format", "json").stdout)
    assert keys == {
        "format": "migrator.audit-keygen/1",
        "signing_key": str(tmp_path / "more-keys" / "signing-key.pem"),
        "public_key": str(tmp_path / "more-keys" / "public-key.pem"),
    }
    refused = run_cli("audit", "keygen", tmp_path / "keys", "--format", "json")
    assert refused.returncode == 2
    assert json.loads(refused.stderr)["error"] == "UsageError"


# --- the reference --------------------------------------------------------------------------------


def _help(run_cli, *command: str) -> str:
    shown = run_cli(*command, "--help", env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def _commands(run_cli, *group: str) -> list[str]:
    text = _help(run_cli, *group)
    if "Commands" not in text:
        return []
    panel = text.split("Commands", 1)[1]
    return re.findall(r"^│ ([a-z][a-z-]*)\s{2,}", panel, flags=re.MULTILINE)


def _options(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text))


def _command_lines(run_cli) -> dict[tuple[str, ...], set[str]]:
    """Every command the CLI has, as its words (`("audit", "verify")`), with the options it takes."""
    found: dict[tuple[str, ...], set[str]] = {}
    for command in _commands(run_cli):
        subcommands = _commands(run_cli, command)
        for words in [(command, sub) for sub in subcommands] or [(command,)]:
            found[words] = _options(_help(run_cli, *words))
    return found


def test_every_command_and_option_is_in_the_commands_reference(run_cli) -> None:
    reference = (DOCS / "reference" / "commands.md").read_text(encoding="utf-8")
    commands = _command_lines(run_cli)
    assert {
        ("validate",),
        ("plan",),
        ("run",),
        ("verify",),
        ("schema",),
        ("audit", "verify"),
        ("audit", "keygen"),
    } <= set(commands)
    for option in _options(_help(run_cli)):
        assert f"`{option}`" in reference, option
    for words, options in commands.items():
        command = " ".join(words)
        assert f"## `migrator {command}`" in reference, command
        section = reference.split(f"## `migrator {command}`", 1)[1].split("\n## ", 1)[0]
        for option in options:
            assert option in section, f"{command} {option} is not in its section of the reference"


def test_every_migrator_command_line_in_the_docs_is_accepted(run_cli) -> None:
    """`$ migrator ...` in a console block names a command that exists, with options it takes: the
    docs show nothing that is not built."""
    commands = _command_lines(run_cli)
    groups = {words[0] for words in commands if len(words) > 1}
    shown = 0
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8").replace("\\\n", " ")
        for line in re.findall(r"^\$ (?:[A-Z_]+=\S+\s+)*migrator\s+(.*)$", text, flags=re.MULTILINE):
            words = shlex.split(re.split(r"\s(?:#|>|\||&&|;)", line, maxsplit=1)[0])
            name = tuple(words[:2]) if words[0] in groups else tuple(words[:1])
            assert name in commands or words[0] in ("--help", "--version"), f"{page.name}: migrator {line}"
            options = {w.split("=", 1)[0] for w in words if w.startswith("--")} - {"--help"}
            unknown = options - commands.get(name, set())
            assert not unknown, f"{page.name}: migrator {line}: {sorted(unknown)}"
            shown += 1
    assert shown > 50


def test_every_environment_variable_is_in_the_commands_reference() -> None:
    code = "".join(p.read_text(encoding="utf-8") for p in (REPO / "migrator").rglob("*.py"))
    names = set(re.findall(r"\bMIGRATOR_[A-Z_]+\b", code))
    assert {"MIGRATOR_HASH_KEY", "MIGRATOR_SIGNING_KEY", "MIGRATOR_LOCK_TIMEOUT"} <= names
    reference = (DOCS / "reference" / "commands.md").read_text(encoding="utf-8")
    table = reference.split("## Environment variables", 1)[1]
    missing = sorted(name for name in names if f"| `{name}` |" not in table)
    assert not missing, f"environment variables not in docs/reference/commands.md: {missing}"


def _schema_keys(node: object) -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "properties" and isinstance(value, dict):
                keys |= set(value)
            keys |= _schema_keys(value)
    elif isinstance(node, list):
        for item in node:
            keys |= _schema_keys(item)
    return keys


def test_every_plan_key_is_in_the_plan_reference(run_cli) -> None:
    printed = run_cli("schema")
    assert printed.returncode == 0, printed.stderr
    keys = _schema_keys(json.loads(printed.stdout))
    assert {"version", "roots", "chunk_rows", "existing", "const"} <= keys
    reference = (DOCS / "reference" / "plan.md").read_text(encoding="utf-8")
    missing = sorted(key for key in keys if f"`{key}`" not in reference)
    assert not missing, f"plan keys not in docs/reference/plan.md: {missing}"


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings: lower case, punctuation gone, spaces to '-'."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


@pytest.mark.parametrize("page", sorted(DOCS.rglob("*.md")), ids=lambda p: str(p.relative_to(DOCS)))
def test_relative_links_point_at_files(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = page.parent / path if path else page
        missing_anchor = bool(anchor) and linked.suffix == ".md" and linked.exists() and anchor not in _anchors(linked)
        if not linked.exists() or missing_anchor:
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)}: broken links {broken}"


def test_the_dask_job_example_parses_and_its_command_line_is_accepted() -> None:
    """docs/examples/dask-job.k8s.yml (the cluster how-to's DaskJob): valid YAML of the operator's
    shape, whose runner pod runs a `migrator run` the CLI accepts, with the Dask executor."""
    from migrator.cli.app import app

    job = yaml.safe_load((EXAMPLES / "dask-job.k8s.yml").read_text(encoding="utf-8"))
    assert job["kind"] == "DaskJob" and job["apiVersion"] == "kubernetes.dask.org/v1"
    [runner] = job["spec"]["job"]["spec"]["containers"]
    words = runner["args"]
    assert words[:2] == ["migrator", "run"] and "--executor" in words
    group = typer.main.get_command(app)
    context = group.make_context("migrator", list(words[1:]))
    command = group.get_command(context, "run")  # type: ignore[attr-defined]
    command.make_context("run", list(words[2:]), parent=context)  # raises on an unknown option or value
    assert words[words.index("--executor") + 1] == "dask"
    assert job["spec"]["cluster"]["spec"]["worker"]["replicas"] >= 1
