"""Every `--format json` document the CLI prints matches its JSON Schema in docs/reference/outputs/.

The commands run for real, as a user runs them, on the demo with every part (tables, objects, flags,
a repository): each succeeding, and each failing the ways it can (an invalid plan, a refused run, a
failed verification, a tampered audit trail, a key that exists). Every document is validated against
its schema; each schema is closed, so an output key added without its schema fails here; and the
schemas, the CLI's commands and the versions it prints (migrator/cli/output.py) are kept in step.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from migrator.cli.output import FORMAT_KEY, OUTPUT_VERSIONS, format_of
from migrator.demo.generate import generate_demo

REPO = Path(__file__).resolve().parent.parent
OUTPUTS = REPO / "docs" / "reference" / "outputs"
COMMANDS_REFERENCE = REPO / "docs" / "reference" / "commands.md"
HASH_KEY = "output-schemas-test-key"
SCHEMA_COMMAND = "schema"  # prints a JSON Schema: no `format` key (see docs/reference/outputs/README.md)


@dataclass(frozen=True)
class Printed:
    """One JSON document a command printed, and the output (schema) it must match."""

    call: str  # the command line, for messages
    output: str  # validate | plan | ... | error | schema
    exit_code: int
    document: dict[str, Any]


def _schema(output: str) -> dict[str, Any]:
    return json.loads((OUTPUTS / f"{output}.schema.json").read_text(encoding="utf-8"))


def _validator(output: str) -> Draft202012Validator:
    return Draft202012Validator(_schema(output))


def _cli(args: tuple[object, ...], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m migrator ARGS` in a clean environment: nothing of the caller's (a SOURCE_URL, a
    MIGRATOR_HASH_KEY) changes what the commands print."""
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "migrator", *map(str, args)],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


class Session:
    """The commands run so far, and what each printed."""

    def __init__(self) -> None:
        self.printed: list[Printed] = []
        self.called: set[str] = set()

    def call(self, exit_code: int, *args: object, env: dict[str, str] | None = None) -> Printed | None:
        """Run one command with --format json; keep its result (stdout) and its error (stderr) document.
        Returns the result, if it printed one."""
        done = _cli((*args, "--format", "json"), env or {})
        line = "migrator " + " ".join(map(str, args))
        assert done.returncode == exit_code, f"{line}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        self.called.add(_command_of(args))
        result = None
        if done.stdout.strip():
            result = Printed(line, _command_of(args).replace(" ", "-"), exit_code, json.loads(done.stdout))
            self.printed.append(result)
        if exit_code == 0:
            assert not done.stderr.strip(), f"{line}: a success printed on stderr: {done.stderr}"
        elif result is None or done.stderr.strip():
            self.printed.append(Printed(line, "error", exit_code, json.loads(done.stderr)))
        return result

    def of(self, output: str) -> list[Printed]:
        return [p for p in self.printed if p.output == output]


def _command_of(args: tuple[object, ...]) -> str:
    words = [str(a) for a in args]
    return " ".join(words[:2]) if words[0] == "audit" else words[0]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    root = tmp_path_factory.mktemp("outputs")
    generate_demo(root / "demo")
    (root / "plans").mkdir()
    plan = Path(shutil.copy(REPO / "plans" / "demo.yaml", root / "plans" / "demo.yaml"))
    state = root / "demo" / ".migrator" / "demo-us-split"
    key = {"MIGRATOR_HASH_KEY": HASH_KEY}
    s = Session()

    # Each command succeeding, in an order where each finds what it needs.
    before = s.call(0, "status", plan)  # no run yet
    assert before is not None and before.document["runs"] == [] and before.document["notes"]
    s.call(0, "validate", plan)
    s.call(0, "validate", plan, "--connect")
    s.call(0, "plan", plan)
    ran = s.call(0, "run", plan, env=key)
    assert ran is not None and ran.document["status"] == "finished"
    again = s.call(0, "run", plan, env=key)  # answered by cli/entry.py's quick path
    assert again is not None and again.document["status"] == "already-finished"
    s.call(0, "run", plan, "--debug", env=key)  # the same answer through the CLI
    s.call(0, "plan", plan)  # a dry run of a finished plan: the target holds it all
    after = s.call(0, "status", plan)
    assert after is not None and [run["state"] for run in after.document["runs"]] == [
        "finished"
    ]  # the later runs had nothing to do
    assert {part["part"] for part in after.document["runs"][0]["parts"]} == {"tables", "objects", "flags", "codebase"}
    s.call(0, "verify", plan)
    s.call(0, "verify", plan, "--receipt", ran.document["receipt"])
    s.call(0, "audit", "verify", state)
    s.call(0, "audit", "keygen", root / "keys")
    s.call(0, SCHEMA_COMMAND)

    # A rehearsal, every part, killed part-way and resumed; its report embeds the document it prints.
    report = root / "rehearsal.md"
    rehearsed = s.call(0, "rehearse", plan, "--sample", 5, "--interrupt", "--report", report, env=key)
    assert rehearsed is not None and rehearsed.document["ok"] and rehearsed.document["interrupt"]["killed"]
    assert all(rehearsed.document[part] for part in ("tables", "objects", "flags", "codebase"))
    embedded = re.search(r"<!-- migrator-rehearsal (\{.*\}) -->", report.read_text(encoding="utf-8"))
    assert embedded is not None and json.loads(embedded.group(1)) == rehearsed.document
    # A plan scaffolded: the demo's database, and one whose relation no foreign key declares.
    source = root / "demo" / "source" / "global.db"
    s.call(0, "init", f"sqlite:///{source}")
    undeclared = root / "shop.db"
    with closing(sqlite3.connect(undeclared)) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, country TEXT, email TEXT)")
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, total INTEGER)")
        db.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(i, "US" if i % 2 else "DE", f"c{i}@example.com") for i in range(1, 21)],
        )
        db.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(i, i % 20 + 1, i * 10) for i in range(1, 41)])
        db.commit()
    shop = s.call(0, "init", f"sqlite:///{undeclared}", "--output", root / "plans" / "shop.yaml")
    assert shop is not None and [r["resolves"] for r in shop.document["relations"]] == [True]
    assert shop.document["roots"] and shop.document["personal"]

    # Failures: an invalid plan (several problems at once), a key pair that exists, no audit trail.
    s.call(2, "validate", REPO / "tests" / "invalid_plans" / "27-several-problems.yaml")
    s.call(2, "plan", root / "plans" / "missing.yaml")
    s.call(2, "audit", "keygen", root / "keys")
    s.call(2, "audit", "verify", root / "no-such-state")
    s.call(2, "rehearse", REPO / "tests" / "invalid_plans" / "27-several-problems.yaml")
    s.call(2, "init", f"sqlite:///{root / 'no-such.db'}")
    s.call(2, "status", root / "plans" / "missing.yaml")

    # A rehearsal that fails a check: dangling rows under `dangling: fail` stop its run.
    strict = root / "plans" / "strict.yaml"
    strict.write_text(
        plan.read_text(encoding="utf-8").replace("  dangling: drop ", "  dangling: fail "), encoding="utf-8"
    )
    failing = s.call(1, "rehearse", strict, "--sample", 50, env=key)
    assert failing is not None and not failing.document["ok"]
    assert [check["name"] for check in failing.document["checks"] if not check["ok"]] == ["run"]

    # A refused run: another plan into the same targets, which hold what it did not write.
    other = root / "plans" / "other.yaml"
    text = plan.read_text(encoding="utf-8").replace("demo-us-split", "demo-other-split")
    other.write_text(text, encoding="utf-8")
    refused = s.call(2, "plan", other)
    assert refused is not None and refused.document["refusals"], "the dry run of a refused run lists the reasons"
    s.call(2, "run", other, env=key)

    # A failed verification, in every part: a row gone, an object gone, a flag changed, a ref added.
    us = root / "demo" / "us"
    with closing(sqlite3.connect(us / "us.db")) as db:
        db.execute("DELETE FROM users WHERE id = (SELECT min(id) FROM users)")
        db.commit()
    next(path for path in sorted((us / "objects").rglob("*")) if path.is_file()).unlink()
    flags = json.loads((us / "flags.flagd.json").read_text(encoding="utf-8"))
    flags["flags"][next(iter(flags["flags"]))]["state"] = "DISABLED"
    (us / "flags.flagd.json").write_text(json.dumps(flags), encoding="utf-8")
    repository = next((us / "git").iterdir())
    main = (repository / "refs" / "heads" / "main").read_text(encoding="utf-8")
    (repository / "refs" / "tags").mkdir(exist_ok=True)
    (repository / "refs" / "tags" / "not-from-the-plan").write_text(main, encoding="utf-8")
    failed = s.call(1, "verify", plan)
    assert failed is not None and not failed.document["ok"]
    for part in ("objects", "flags", "codebase"):
        assert not failed.document[part]["ok"], f"the {part} part's checks did not fail"
    assert any(not check["ok"] for check in failed.document["checks"]), "no table check failed"

    # A tampered audit trail: a line edited.
    log = state / "audit.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace('"seq":1', '"seq":7')
    log.write_text("".join(lines), encoding="utf-8")
    s.call(1, "audit", "verify", state)
    return s


# --- every document matches its schema ---------------------------------------------------------------


@pytest.mark.parametrize("output", sorted([*OUTPUT_VERSIONS, SCHEMA_COMMAND]))
def test_every_document_matches_its_schema(session: Session, output: str) -> None:
    printed = session.of(output)
    assert printed, f"no call printed a {output} document: add one to the session fixture"
    validator = _validator(output)
    for p in printed:
        errors = sorted(validator.iter_errors(p.document), key=lambda e: list(e.absolute_path))
        assert not errors, f"{p.call} (exit {p.exit_code}) does not match {output}.schema.json:\n" + "\n".join(
            f"  at {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}" for e in errors[:10]
        )


def test_every_document_names_its_format_first(session: Session) -> None:
    for p in session.printed:
        if p.output == SCHEMA_COMMAND:
            assert FORMAT_KEY not in p.document  # a JSON Schema keyword there
            continue
        assert next(iter(p.document)) == FORMAT_KEY, f"{p.call}: `format` is not the first key"
        assert p.document[FORMAT_KEY] == format_of(p.output), p.call


def test_the_failures_have_their_shapes(session: Session) -> None:
    errors = {p.call: p.document for p in session.of("error")}
    invalid = next(doc for call, doc in errors.items() if "27-several-problems" in call)
    assert invalid["error"] == "PlanError" and len(invalid["problems"]) == 8
    assert all(set(problem) == {"file", "line", "key", "message", "hint"} for problem in invalid["problems"])
    refusals = [doc for call, doc in errors.items() if "other.yaml" in call]
    assert len(refusals) == 2 and {doc["error"] for doc in refusals} == {"SafetyError"}
    kinds = {doc["error"] for doc in errors.values()}
    assert {"PlanError", "UsageError", "SafetyError"} <= kinds


# --- each schema is closed: a key nobody documented fails ------------------------------------------------


def _sections(document: dict[str, Any]) -> Iterator[str]:
    """Where in the document a key added without a schema change must be caught: its top, each part's
    section and each part's verification."""
    yield "(top)"
    for part in ("verification", "objects", "flags", "codebase"):
        section = document.get(part)
        if isinstance(section, dict):
            yield part
            if isinstance(section.get("verification"), dict):
                yield f"{part}.verification"


@pytest.mark.parametrize("output", sorted([*OUTPUT_VERSIONS, SCHEMA_COMMAND]))
def test_each_schema_refuses_a_key_it_does_not_name(session: Session, output: str) -> None:
    validator = _validator(output)
    for p in session.of(output):
        for where in _sections(p.document):
            if output == SCHEMA_COMMAND and where != "(top)":
                continue  # a JSON Schema's `properties` and `$defs` are the plan's, not ours
            changed = copy.deepcopy(p.document)
            target = changed if where == "(top)" else _section(changed, where)
            target["undocumented_key"] = 1
            assert not validator.is_valid(changed), f"{output}.schema.json accepts an unknown key in {where}"


def _section(document: dict[str, Any], where: str) -> dict[str, Any]:
    node: Any = document
    for key in where.split("."):
        node = node[key]
    return node


# --- the schemas, the CLI and the reference are in step ------------------------------------------------


def _cli_command_names() -> set[str]:
    """Every command of the typer app, as its words ("audit keygen")."""
    import typer.main

    from migrator.cli.app import app

    found: set[str] = set()

    def walk(command: object, words: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            found.add(" ".join(words))
            return
        for name, sub in subcommands.items():
            walk(sub, (*words, name))

    walk(typer.main.get_command(app), ())
    return found


def test_every_command_has_a_schema_and_every_schema_an_output() -> None:
    commands = {words.replace(" ", "-") for words in _cli_command_names()}
    files = {path.name.removesuffix(".schema.json") for path in OUTPUTS.glob("*.schema.json")}
    assert commands - {SCHEMA_COMMAND} <= set(OUTPUT_VERSIONS), (
        f"commands without a version in migrator/cli/output.py: {sorted(commands - set(OUTPUT_VERSIONS))}"
    )
    assert files == {*OUTPUT_VERSIONS, SCHEMA_COMMAND}, f"schema files {sorted(files)} != outputs"
    readme = (OUTPUTS / "README.md").read_text(encoding="utf-8")
    for name in files:
        assert f"]({name}.schema.json)" in readme, f"docs/reference/outputs/README.md does not list {name}"


def test_every_command_was_run(session: Session) -> None:
    assert _cli_command_names() <= session.called, (
        f"commands the session fixture never runs: {sorted(_cli_command_names() - session.called)}"
    )


@pytest.mark.parametrize("path", sorted(OUTPUTS.glob("*.schema.json")), ids=lambda p: p.name)
def test_each_schema_is_a_draft_2020_12_schema_of_its_version(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    output = path.name.removesuffix(".schema.json")
    assert schema["$id"].endswith(f"/outputs/{path.name}")
    if output != SCHEMA_COMMAND:
        assert schema["properties"][FORMAT_KEY]["const"] == format_of(output)
        assert FORMAT_KEY in schema["required"]
        assert schema.get("additionalProperties") is False or schema.get("unevaluatedProperties") is False


def test_shared_definitions_are_the_same_in_every_schema() -> None:
    """The files are self-contained (a reader needs one file), so the definitions several outputs share
    (a verification, the parts' checks, a tally) are copies: they must not drift apart."""
    seen: dict[str, tuple[str, Any]] = {}
    shared = 0
    for path in sorted(OUTPUTS.glob("*.schema.json")):
        for name, definition in json.loads(path.read_text(encoding="utf-8")).get("$defs", {}).items():
            if name in seen:
                shared += 1
                assert definition == seen[name][1], f"$defs/{name} differs between {seen[name][0]} and {path.name}"
            else:
                seen[name] = (path.name, definition)
    assert shared >= 10


def test_each_commands_json_section_links_its_schema() -> None:
    reference = COMMANDS_REFERENCE.read_text(encoding="utf-8")
    for words in sorted(_cli_command_names()):
        section = reference.split(f"## `migrator {words}`", 1)[1].split("\n## ", 1)[0]
        link = f"](outputs/{words.replace(' ', '-')}.schema.json)"
        assert link in section, f"the reference's section of `migrator {words}` does not link its schema"
    errors = reference.split("## Errors", 1)[1].split("\n## ", 1)[0]
    assert "](outputs/error.schema.json)" in errors


def test_the_json_examples_of_the_reference_match_their_schemas() -> None:
    """The reference's JSON blocks are real outputs, trimmed (fewer tables, fewer checks): each shows
    `format` first, as the CLI prints it, and is still a valid document of its output."""
    reference = COMMANDS_REFERENCE.read_text(encoding="utf-8")
    examples = re.findall(r'^```json\n(\{\n  "format": "migrator\.([a-z-]+)/\d+".*?)^```$', reference, re.M | re.S)
    assert {name for _, name in examples} == {"plan", "run", "verify", "init", "error"}
    for text, name in examples:
        document = json.loads(text)
        assert document[FORMAT_KEY] == format_of(name)
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in _validator(name).iter_errors(document)]
        assert not errors, f"a `{name}` example of docs/reference/commands.md does not match its schema: {errors}"
