"""`migrator rehearse`: the demo rehearsed whole (sampled, killed part-way, resumed, verified), its
reports read back with a JUnit reader, the ways a rehearsal fails, the sample's determinism, and the
CI examples' command lines."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sqlite3
from pathlib import Path

import junitparser
import pytest
import typer
import yaml

from migrator.cli.app import app
from migrator.cli.output import format_of
from migrator.demo.generate import generate_demo
from migrator.plan.load import load_plan
from migrator.rehearse.result import FORMAT, Check, Rehearsal, read_report
from migrator.rehearse.run import sampled_roots
from migrator.rehearse.sample import RootShape, sampled_condition

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "docs" / "examples"
ENV = {"MIGRATOR_HASH_KEY": "test-hash-key"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo beside a copy of plans/demo.yaml, as the README has them; the plan's path."""
    root = tmp_path_factory.mktemp("rehearse")
    (root / "plans").mkdir()
    shutil.copy(REPO / "plans" / "demo.yaml", root / "plans" / "demo.yaml")
    generate_demo(root / "demo")
    return root / "plans" / "demo.yaml"


def _cases(xml: Path) -> list[junitparser.TestCase]:
    return [case for suite in junitparser.JUnitXml.fromfile(str(xml)) for case in suite]


def test_the_demo_rehearsal_passes_interrupted_and_writes_both_reports(run_cli, demo: Path, tmp_path: Path) -> None:
    report, junit = tmp_path / "r.md", tmp_path / "r.xml"
    done = run_cli("rehearse", demo, "--sample", "50", "--interrupt", "--report", report, "--junit", junit, env=ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rehearsal passed: " in done.stdout

    result = read_report(report.read_text(encoding="utf-8"))
    assert result.ok and result.sample == 50
    counts = {t.table: t for t in result.tables}
    assert counts["users"].planned == counts["users"].actual == 50  # the sample: 50 root rows
    assert all(t.planned == t.actual for t in result.tables if t.kind != "skip")
    assert counts["comments"].dangling > 0  # the demo's comments on other regions' posts
    assert result.objects and result.objects["copied"] == result.objects["planned"] > 0
    assert result.flags and result.flags["rules_removed"] > 0
    assert result.codebase and result.codebase[0]["refs"] == 3
    interrupt = result.interrupt
    assert interrupt and interrupt["killed"] and interrupt["killed_at"] < interrupt["units"]
    assert interrupt["resumed_status"] == "resumed-and-finished"

    markdown = report.read_text(encoding="utf-8")
    assert "## migrator rehearsal of `demo-us-split`: passed" in markdown
    assert "| users | root | 50 | 50 | 0 |" in markdown
    assert "### Timings" in markdown and "### Interrupt and resume" in markdown

    cases = _cases(junit)
    names = [case.name for case in cases]
    assert names == [check.name for check in result.checks]  # one case per check
    assert len(set(names)) == len(names)
    assert all(case.is_passed for case in cases)
    parts = {name.split("/")[0] for name in names}
    assert parts == {"tables", "objects", "flags", "codebase", "interrupt"}
    for expected in ("tables/users/I2", "tables/users/I3", "tables/posts/I1 posts.author_id -> users.id"):
        assert expected in names
    equal = [n for n in names if n.startswith("interrupt/")]
    assert {"interrupt/killed-and-resumed", "interrupt/tables/users", "interrupt/objects/objects"} <= set(equal)
    assert "interrupt/flags/flags" in equal and "interrupt/codebase/monorepo-us" in equal

    # Nothing of the real target or the real state folder was touched.
    assert not (demo.parent.parent / "demo" / "us").exists()
    assert not (demo.parent.parent / "demo" / ".migrator").exists()


def test_json_output_a_real_target_and_a_kept_folder(run_cli, demo: Path, tmp_path: Path) -> None:
    database = tmp_path / "given.db"
    done = run_cli(
        "rehearse", demo, "--sample", "5", "--target-database", f"sqlite:///{database}",
        "--keep", tmp_path / "kept", "--format", "json", env=ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] and result["folder"] == str(tmp_path / "kept")
    users = sqlite3.connect(database).execute("SELECT count(*) FROM users").fetchone()[0]
    assert users == 5
    assert (tmp_path / "kept" / "target" / "plan.yaml").exists()
    assert (tmp_path / "kept" / "target" / "objects").is_dir()  # the other parts: throwaway folders


def test_baseline_shows_what_changed(run_cli, demo: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first.md", tmp_path / "second.md"
    printed = run_cli("rehearse", demo, "--sample", "10", "--report", first, "--format", "json", env=ENV)
    assert printed.returncode == 0, printed.stderr
    # The report embeds the very document `--format json` prints: either is a baseline.
    document = json.loads(printed.stdout)
    assert next(iter(document)) == "format" and document["format"] == format_of("rehearse")
    assert read_report(first.read_text(encoding="utf-8")).document() == document
    (tmp_path / "first.json").write_text(printed.stdout, encoding="utf-8")
    done = run_cli(
        "rehearse", demo, "--sample", "20", "--report", second, "--baseline", tmp_path / "first.json", env=ENV
    )
    assert done.returncode == 0, done.stderr
    markdown = second.read_text(encoding="utf-8")
    since = markdown.split("### Since the baseline", 1)[1]
    assert "- table users: planned 10 -> 20" in since
    assert "- table users: actual 10 -> 20" in since
    assert "since the baseline: table users: planned 10 -> 20" in done.stdout
    same = run_cli("rehearse", demo, "--sample", "20", "--report", tmp_path / "third.md", "--baseline", second, env=ENV)
    assert "No differences." in (tmp_path / "third.md").read_text(encoding="utf-8"), same.stderr


def test_a_baseline_is_read_by_its_format_and_its_known_keys() -> None:
    assert format_of("rehearse") == FORMAT  # the library's spelling of the CLI's version
    current = Rehearsal("demo", "plans/demo.yaml", True, 10, 0, checks=[Check("run", "run", True, "")])
    later = current.document() | {"added_later": 1}  # a key a later release adds keeps the version
    later["checks"] = [c | {"added_later": 1} for c in later["checks"]]
    assert read_report(json.dumps(later)) == current
    with pytest.raises(ValueError, match=r"of format migrator\.rehearse/1 \(its format is migrator\.rehearse/2\)"):
        read_report(json.dumps(current.document() | {"format": "migrator.rehearse/2"}))
    with pytest.raises(ValueError, match="it names no format"):
        read_report(json.dumps({"version": 1, **current.to_dict()}))  # the shape before `format`
    with pytest.raises(ValueError, match=r"its format is migrator\.plan/1"):
        read_report(json.dumps({"format": "migrator.plan/1", "plan": "demo"}))


def test_dangling_rows_under_policy_fail_fail_the_rehearsal_naming_the_line(
    run_cli, demo: Path, tmp_path: Path
) -> None:
    plan = demo.parent / "strict.yaml"
    text = demo.read_text(encoding="utf-8").replace("  dangling: drop ", "  dangling: fail ")
    plan.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("  dangling: fail"))
    junit = tmp_path / "r.xml"
    done = run_cli("rehearse", plan, "--sample", "50", "--junit", junit, env=ENV)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL run: rows point at rows outside the subset" in done.stdout
    assert f"plan line to change: {plan}:{line} data.dangling" in done.stdout
    (failed,) = [case for case in _cases(junit) if not case.is_passed]
    assert failed.name == "run" and "dangling: fail" in failed.result[0].message


def test_a_table_the_plan_does_not_cover_is_an_invalid_plan_at_its_line(run_cli, tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    plan = Path(shutil.copy(REPO / "plans" / "demo.yaml", tmp_path / "plans" / "demo.yaml"))
    paths = generate_demo(tmp_path / "demo", users=30)
    conn = sqlite3.connect(paths.database)
    conn.execute("CREATE TABLE newsletter (id INTEGER PRIMARY KEY, address TEXT)")  # nothing reaches it
    conn.commit()
    junit, report = tmp_path / "r.xml", tmp_path / "r.md"
    done = run_cli("rehearse", plan, "--junit", junit, "--report", report, env=ENV)
    assert done.returncode == 2, done.stdout + done.stderr
    tables_line = plan.read_text(encoding="utf-8").splitlines().index("  tables:") + 1
    assert f"{plan}:{tables_line}: data.tables: no rule reaches these tables: newsletter" in done.stderr
    (case,) = _cases(junit)
    assert case.name == "plan" and "newsletter" in case.result[0].message
    assert "FAILED" in report.read_text(encoding="utf-8")

    conn.execute("DROP TABLE newsletter")
    conn.execute("ALTER TABLE users DROP COLUMN phone")  # a column a rule names
    conn.commit()
    done = run_cli("rehearse", plan, env=ENV)
    assert done.returncode == 2
    phone_line = next(n for n, row in enumerate(plan.read_text().splitlines(), 1) if "phone: nullify" in row)
    assert f"{plan}:{phone_line}: data.tables.users.columns.phone: table users has no column 'phone'" in done.stderr


def test_an_invalid_plan_exits_2(run_cli, tmp_path: Path) -> None:
    plan = tmp_path / "bad.yaml"
    plan.write_text("version: 1\nname: bad\nsource: {database: sqlite:///x.db}\n", encoding="utf-8")
    done = run_cli("rehearse", plan)
    assert done.returncode == 2
    assert "target" in done.stderr


def test_the_sample_is_deterministic_per_seed(demo: Path) -> None:
    loaded = load_plan(demo, ENV)
    source = loaded.base_dir.parent / "demo" / "source" / "global.db"
    conn = sqlite3.connect(source)

    def users(seed: int) -> set[int]:
        (condition,) = sampled_roots(loaded, 25, seed).values()
        return {row[0] for row in conn.execute(f"SELECT id FROM users WHERE {condition}")}

    zero, again, one = users(0), users(0), users(1)
    assert len(zero) == len(one) == 25
    assert zero == again
    assert zero != one
    us = {row[0] for row in conn.execute(f"SELECT id FROM users WHERE {loaded.plan.data.roots['users']}")}
    assert zero <= us and one <= us  # a sample of the root's own rows


def test_the_sample_sql_picks_the_same_rows_as_its_definition() -> None:
    """The integer hash, evaluated by SQLite, orders the keys as the formula in sample.py says."""
    from migrator.rehearse.sample import PRIME, multiplier_and_shift

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, i % 3) for i in range(-50, 500)])
    shape = RootShape('"t"', ('"id"',), True)
    condition = sampled_condition(shape, "k <> 1", None, 7, seed=4)
    picked = [row[0] for row in conn.execute(f"SELECT id FROM t WHERE {condition} ORDER BY id")]
    a, s = multiplier_and_shift(4)
    candidates = [i for i in range(-50, 500) if i % 3 != 1]
    expected = sorted(candidates, key=lambda i: (_c_mod(_c_mod(i, PRIME) * a + s, PRIME), i))[:7]
    assert picked == sorted(expected)


def _c_mod(value: int, modulus: int) -> int:
    """`%` as SQL computes it: the sign of the dividend (Python's follows the divisor)."""
    return value - modulus * int(value / modulus)


# --- the CI examples ------------------------------------------------------------------------------


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in _strings(key) + _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def _rehearse_lines(text: str) -> list[list[str]]:
    """Each `migrator rehearse ...` command line, up to a shell operator."""
    found = []
    for line in re.findall(r"(?:^|\s)migrator (rehearse\b[^\n]*)", text.replace("\\\n", " ")):
        found.append(shlex.split(re.split(r"\s(?:\|\||&&|;|\|)\s", line, maxsplit=1)[0]))
    return found


@pytest.mark.parametrize("example", ["github-actions-rehearsal.yml", "gitlab-ci-rehearsal.yml"])
def test_the_ci_examples_parse_and_their_command_line_is_accepted(example: str) -> None:
    document = yaml.safe_load((EXAMPLES / example).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    lines = [words for text in _strings(document) for words in _rehearse_lines(text)]
    assert lines, f"{example} runs no migrator rehearse"
    group = typer.main.get_command(app)
    for words in lines:
        words = [w for w in words if w != "${baseline[@]}"]  # an array the job fills with --baseline FILE
        context = group.make_context("migrator", list(words))
        command = group.get_command(context, words[0])  # type: ignore[attr-defined]
        command.make_context("rehearse", words[1:], parent=context)  # raises on an unknown option or value
        assert {"--report", "--junit", "--interrupt", "--sample"} <= set(words), example


# --- server sources -------------------------------------------------------------------------------

_SCHEMA = [
    "CREATE TABLE regions (id INTEGER PRIMARY KEY, code VARCHAR(8) NOT NULL)",
    "CREATE TABLE users (id INTEGER PRIMARY KEY, region_id INTEGER NOT NULL REFERENCES regions (id), "
    "handle VARCHAR(40) NOT NULL)",
    "CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES users (id), "
    "body VARCHAR(200) NOT NULL)",
]
_PLAN = """version: 1
name: small-split
source: {{database: "{url}"}}
target: {{database: "${{TARGET_URL}}"}}
data:
  roots: {{users: "region_id = 1"}}
  tables: {{regions: all}}
"""


def _small_source(url: str) -> None:
    """Two regions, users with ids spread far apart (and past the sample's modulus), their posts."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    users = [(i if i < 200 else 1_000_000 + i * 7919, 1 + i % 2, f"user{i}") for i in range(260)]
    with engine.begin() as conn:
        for statement in _SCHEMA:
            conn.execute(sa.text(statement))
        conn.execute(sa.text("INSERT INTO regions VALUES (1, 'US'), (2, 'EU')"))
        conn.execute(sa.text("INSERT INTO users VALUES (:i, :r, :h)"), [{"i": i, "r": r, "h": h} for i, r, h in users])
        posts = [{"i": n, "a": u[0], "b": f"post {n}"} for n, u in enumerate(users * 2)]
        conn.execute(sa.text("INSERT INTO posts VALUES (:i, :a, :b)"), posts)
    engine.dispose()


def _sampled_users(run_cli, url: str, folder: Path) -> list[int]:
    folder.mkdir()
    plan = folder / "plan.yaml"
    plan.write_text(_PLAN.format(url=url), encoding="utf-8")
    done = run_cli("rehearse", plan, "--sample", "7", "--seed", "2", "--keep", folder / "kept", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert {t["table"]: t["actual"] for t in result["tables"]}["users"] == 7
    target = sqlite3.connect(folder / "kept" / "target" / "target.db")
    return [row[0] for row in target.execute("SELECT id FROM users ORDER BY id")]


def test_postgresql_and_mariadb_sources_sample_the_same_rows_as_sqlite(
    run_cli, pg_database: str, mariadb_database: str, tmp_path: Path
) -> None:
    lite = f"sqlite:///{tmp_path / 'source.db'}"
    for url in (lite, pg_database, mariadb_database):
        _small_source(url)
    expected = _sampled_users(run_cli, lite, tmp_path / "sqlite")
    assert len(expected) == 7 and set(expected) <= {i if i < 200 else 1_000_000 + i * 7919 for i in range(0, 260, 2)}
    assert _sampled_users(run_cli, pg_database, tmp_path / "postgresql") == expected
    assert _sampled_users(run_cli, mariadb_database, tmp_path / "mariadb") == expected
