"""Unit tests of `migrator.plan.load.load_plan` on valid plans, and of `migrator schema`."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import textwrap
from pathlib import Path

import pytest
import yaml

from migrator.errors import PlanError
from migrator.plan.load import load_plan
from migrator.plan.model import ColumnRef, ColumnRule, TableRule

REPO_ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """\
version: 1
name: minimal
source:
  database: sqlite:///source.db
target:
  database: sqlite:///target.db
data:
  roots:
    users: "region = 'US'"
"""


def write(folder: Path, text: str, name: str = "plan.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- ${VAR} -------------------------------------------------------------------------------------------


def test_variables_come_from_the_explicit_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DB", "sqlite:///from-os-environ.db")
    path = write(
        tmp_path,
        """\
        version: 1
        name: vars
        description: "copy of ${REGION} users"
        source:
          database: ${SOURCE_DB}
        target:
          database: sqlite:///out/${REGION}-${REGION}.db
        data:
          roots:
            users: "region = '${REGION}'"
        """,
    )
    plan = load_plan(path, environ={"SOURCE_DB": "postgresql://reader@db/global", "REGION": "US"}).plan
    assert plan.source.database == "postgresql://reader@db/global"  # the mapping wins over os.environ
    assert plan.target.database == "sqlite:///out/US-US.db"  # several variables in one value
    assert plan.description == "copy of US users"
    assert plan.data.roots == {"users": "region = 'US'"}


def test_a_variable_missing_from_the_explicit_environ_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DB", "sqlite:///set-in-os-environ.db")
    path = write(tmp_path, MINIMAL.replace("sqlite:///source.db", "${SOURCE_DB}"))
    with pytest.raises(PlanError) as caught:
        load_plan(path, environ={})
    first = caught.value.problems[0]
    assert (first.line, first.key, first.message) == (4, "source.database", "environment variable SOURCE_DB is not set")


def test_a_dollar_without_braces_is_left_alone(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("region = 'US'", "price > $5 AND code = '$US'"))
    assert load_plan(path, environ={}).plan.data.roots["users"] == "price > $5 AND code = '$US'"


# --- defaults -----------------------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, MINIMAL), environ={}).plan
    assert plan.data.dangling == "drop"
    assert plan.data.unlisted == "fail"
    assert plan.data.schema_ == "create"
    assert plan.data.chunk_rows == 50_000
    assert plan.target.existing == "fail"
    assert plan.data.tables == {}
    assert plan.data.relations == []
    assert plan.state is None
    assert plan.description is None
    assert plan.data.rule("users") == TableRule()  # a table without a rule gets the empty rule


def test_explicit_settings_are_kept(tmp_path: Path) -> None:
    text = MINIMAL.replace("  database: sqlite:///target.db\n", "  database: sqlite:///target.db\n  existing: merge\n")
    text += "  dangling: nullify\n  unlisted: skip\n  schema: existing\n  chunk_rows: 10\n"
    plan = load_plan(write(tmp_path, text), environ={}).plan
    assert (plan.target.existing, plan.data.dangling, plan.data.unlisted, plan.data.schema_, plan.data.chunk_rows) == (
        "merge", "nullify", "skip", "existing", 10,
    )  # fmt: skip


# --- shorthands ---------------------------------------------------------------------------------------


def test_shorthands_are_normalised(tmp_path: Path) -> None:
    text = MINIMAL + textwrap.indent(
        textwrap.dedent("""\
        tables:
          regions: all
          audit_events: skip
          posts: {where: "deleted_at IS NULL"}
          users:
            columns:
              email: hash
              phone: nullify
              handle: mask
              bio: drop
              display_name: keep
              score: {const: 0}
              note: {const: null}
              country: {const: US}
        """),
        "  ",
    )
    data = load_plan(write(tmp_path, text), environ={}).plan.data
    assert data.tables["regions"] == TableRule(copy="all")
    assert data.tables["regions"].copy_ == "all"
    assert data.tables["audit_events"].copy_ == "skip"
    assert data.tables["posts"].copy_ is None
    assert data.tables["posts"].where == "deleted_at IS NULL"
    columns = data.tables["users"].columns
    assert columns["email"] == ColumnRule(action="hash")
    assert columns["phone"].action == "nullify"
    assert columns["handle"].action == "mask"
    assert columns["bio"].action == "drop"
    assert not columns["bio"].keeps_column
    assert columns["display_name"].action == "keep"
    assert columns["score"] == ColumnRule(action="const", value=0)
    assert columns["note"] == ColumnRule(action="const", value=None)
    assert columns["country"].value == "US"
    assert columns["score"].keeps_column


def test_a_table_rule_in_long_form(tmp_path: Path) -> None:
    text = MINIMAL + '  tables:\n    regions: {copy: all, columns: {name: {const: "-"}}}\n'
    rule = load_plan(write(tmp_path, text), environ={}).plan.data.tables["regions"]
    assert rule.copy_ == "all"
    assert rule.columns == {"name": ColumnRule(action="const", value="-")}


# --- relations ----------------------------------------------------------------------------------------


def test_relations(tmp_path: Path) -> None:
    text = MINIMAL + textwrap.indent(
        textwrap.dedent("""\
        relations:
          - {from: events.actor_id, to: users.id}
          - {from: comments.parent_id, to: comments.id, dangling: nullify}
          - from: "invoices.(tenant_id, user_id)"
            to: orders.(tenant_id,user_id)
            dangling: fail
        """),
        "  ",
    )
    relations = load_plan(write(tmp_path, text), environ={}).plan.data.relations
    assert [r.from_ for r in relations] == [
        ColumnRef(table="events", columns=("actor_id",)),
        ColumnRef(table="comments", columns=("parent_id",)),
        ColumnRef(table="invoices", columns=("tenant_id", "user_id")),
    ]
    assert relations[0].to == ColumnRef(table="users", columns=("id",))
    assert relations[2].to == ColumnRef(table="orders", columns=("tenant_id", "user_id"))
    assert [r.dangling for r in relations] == [None, "nullify", "fail"]  # None: the plan-wide setting
    assert str(relations[0].from_) == "events.actor_id"
    assert str(relations[2].to) == "orders.(tenant_id, user_id)"


# --- the file: state folder, digest, lines ------------------------------------------------------------


def test_state_defaults_to_dot_migrator_next_to_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "plans", MINIMAL)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative to the plan file's folder, not to where we run from
    loaded = load_plan(Path("..") / "plans" / "plan.yaml", environ={})
    assert loaded.file == path.resolve()
    assert loaded.base_dir == (tmp_path / "plans").resolve()
    assert loaded.state_dir == (tmp_path / "plans").resolve() / ".migrator" / "minimal"


def test_an_explicit_relative_state_is_relative_to_the_plan(tmp_path: Path) -> None:
    path = write(tmp_path / "plans", MINIMAL + "state: ../run-state/minimal\n")
    loaded = load_plan(path, environ={})
    assert loaded.plan.state == "../run-state/minimal"
    assert loaded.state_dir.resolve() == (tmp_path / "run-state" / "minimal").resolve()


def test_sha256_is_the_digest_of_the_file_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    first = load_plan(path, environ={}).sha256
    assert first == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_text(MINIMAL + "# a comment changes the file, so it changes the digest\n", encoding="utf-8")
    assert load_plan(path, environ={}).sha256 not in (first, "")


def test_lines_of_keys(tmp_path: Path) -> None:
    loaded = load_plan(write(tmp_path, MINIMAL), environ={})
    assert loaded.line_of("target", "database") == 6
    assert loaded.line_of("data", "roots", "users") == 9
    assert loaded.line_of("data", "tables", "users") == 7  # not in the file: its nearest ancestor, data


def test_problems_carry_file_line_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        name: lines
        source:
          database: sqlite:///source.db
        target:
          database: sqlite:///target.db
          existing: merg
        data:
          roots:
            users: "id = 1"
          tables:
            posts:
              wher: "deleted_at IS NULL"
        """,
    )
    with pytest.raises(PlanError) as caught:
        load_plan(path, environ={})
    problems = caught.value.problems
    assert [(p.file, p.line, p.key) for p in problems] == [
        (str(path), 7, "target.existing"),
        (str(path), 13, "data.tables.posts.wher"),
    ]
    assert problems[1].message == "unknown key"
    assert problems[1].hint == "did you mean 'where'?"
    assert caught.value.exit_code == 2
    assert str(caught.value).splitlines()[0] == (
        f"{path}:7: target.existing: must be one of fail | truncate | merge, got 'merg' (did you mean 'merge'?)"
    )


def test_sql_left_unchecked_is_checked_later_or_with_the_other_problems(tmp_path: Path) -> None:
    """load_plan(sql_checks=False) (for `verify`) parses no SQL of a plan that is otherwise valid,
    and `check_sql` then raises what load_plan would have; a plan with any other problem gets
    every problem at once, the SQL's among them."""
    bad_sql = MINIMAL.replace("region = 'US'", "region = = 'US'")
    loaded = load_plan(write(tmp_path, bad_sql), environ={}, sql_checks=False)
    assert not loaded.sql_checked
    with pytest.raises(PlanError) as later:
        loaded.check_sql()
    with pytest.raises(PlanError) as at_once:
        load_plan(write(tmp_path, bad_sql), environ={})
    assert later.value.problems == at_once.value.problems
    assert [(p.line, p.key) for p in later.value.problems] == [(9, "data.roots.users")]
    load_plan(write(tmp_path, MINIMAL), environ={}, sql_checks=False).check_sql()  # valid: nothing raised
    both = bad_sql.replace("name: minimal", "name: minimal\nstate_dir: x")
    with pytest.raises(PlanError) as caught:
        load_plan(write(tmp_path, both), environ={}, sql_checks=False)
    assert [p.key for p in caught.value.problems] == ["state_dir", "data.roots.users"]


def test_problems_are_sorted_by_line(tmp_path: Path) -> None:
    # The URL check runs after the shape checks, so its problem is found last but belongs first.
    path = write(
        tmp_path,
        """\
        version: 1
        name: sorted
        source:
          database: oracle://scott@db/global
        target:
          database: sqlite:///target.db
          existing: merg
        data:
          roots:
            users: "id = 1"
        state: x
        unknown: 1
        """,
    )
    with pytest.raises(PlanError) as caught:
        load_plan(path, environ={})
    assert [(p.line, p.key) for p in caught.value.problems] == [
        (4, "source.database"),
        (7, "target.existing"),
        (12, "unknown"),
    ]


# --- the shipped plans --------------------------------------------------------------------------------


def test_the_demo_plan_loads(tmp_path: Path) -> None:
    loaded = load_plan(REPO_ROOT / "plans" / "demo.yaml", environ={})
    assert loaded.plan.name == "demo-us-split"
    assert loaded.plan.data.tables["regions"].copy_ == "all"
    assert loaded.plan.data.relations[0].from_ == ColumnRef(table="audit_events", columns=("actor_id",))
    assert loaded.state_dir.resolve() == (REPO_ROOT / "demo" / ".migrator" / "demo-us-split").resolve()


# --- migrator schema ----------------------------------------------------------------------------------


def test_the_json_schema_describes_the_demo_plan(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"version", "name", "source", "target"} <= set(schema["required"])
    assert {"version", "name", "description", "source", "target", "state", "data"} <= set(schema["properties"])
    assert schema.get("additionalProperties") is False  # unknown keys are errors in editors too
    demo = yaml.safe_load((REPO_ROOT / "plans" / "demo.yaml").read_text(encoding="utf-8"))

    if importlib.util.find_spec("jsonschema") is None:  # optional: not a dependency of the project
        return
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    assert [e.message for e in validator.iter_errors(demo)] == []
    typo = {**demo, "tagret": demo["target"]}
    del typo["target"]
    assert len(list(validator.iter_errors(typo))) == 2  # target is missing, tagret is unknown
    shorthand = {**demo, "data": {**demo["data"], "tables": {"users": {"columns": {"email": "hsh"}}}}}
    assert not validator.is_valid(shorthand)
