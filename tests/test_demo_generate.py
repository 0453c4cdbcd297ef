"""The demo generator: deterministic, referentially sound, and shaped like the split it demonstrates."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import yaml

from migrator.demo.generate import DemoPaths, generate_demo, main

TABLES = ("regions", "users", "follows", "posts", "comments", "likes", "devices", "audit_events")
PLAN = Path(__file__).resolve().parents[1] / "plans" / "demo.yaml"
USERS = 400


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    return generate_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture
def db(demo: DemoPaths) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(demo.database)) as connection:
        yield connection


def table_contents(database: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(database)) as connection:
        return {table: connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in TABLES}


def scalar(connection: sqlite3.Connection, sql: str) -> int:
    value = connection.execute(sql).fetchone()[0]
    assert isinstance(value, int)
    return value


def files_below(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_same_arguments_give_the_same_rows_files_and_flags(tmp_path: Path) -> None:
    first = generate_demo(tmp_path / "a")
    second = generate_demo(tmp_path / "b")

    assert table_contents(first.database) == table_contents(second.database)
    assert files_below(first.objects) == files_below(second.objects)
    assert first.flags.read_bytes() == second.flags.read_bytes()


def test_another_seed_gives_other_rows(tmp_path: Path) -> None:
    first = generate_demo(tmp_path / "a", users=50, seed=1)
    second = generate_demo(tmp_path / "b", users=50, seed=2)

    assert table_contents(first.database)["users"] != table_contents(second.database)["users"]


def test_generating_again_replaces_the_earlier_demo(tmp_path: Path) -> None:
    generate_demo(tmp_path, users=30)
    stale = tmp_path / "source" / "objects" / "recsys" / "stale.bin"
    stale.write_bytes(b"left over")

    paths = generate_demo(tmp_path, users=20)

    assert not stale.exists()
    assert table_contents(paths.database) == table_contents(generate_demo(tmp_path / "fresh", users=20).database)


def test_paths_are_below_root_source(demo: DemoPaths) -> None:
    source = demo.database.parent
    assert source.name == "source"
    assert (demo.database.name, demo.objects.name, demo.flags.name) == (
        "global.db",
        "objects",
        "flags.flagd.json",
    )
    assert demo.objects.parent == source == demo.flags.parent


def test_every_declared_foreign_key_resolves(db: sqlite3.Connection) -> None:
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_foreign_keys_are_declared_except_for_audit_events(db: sqlite3.Connection) -> None:
    def declared(table: str) -> set[tuple[str, str, str]]:
        rows = db.execute(f"PRAGMA foreign_key_list({table})").fetchall()
        return {(row[3], row[2], row[4]) for row in rows}  # (from column, parent table, parent column)

    assert declared("users") == {("region_id", "regions", "id")}
    assert declared("follows") == {("follower_id", "users", "id"), ("followee_id", "users", "id")}
    assert declared("comments") == {
        ("post_id", "posts", "id"),
        ("author_id", "users", "id"),
        ("parent_id", "comments", "id"),
    }
    assert declared("audit_events") == set()


def test_undeclared_audit_actor_relation_resolves(db: sqlite3.Connection) -> None:
    orphans = "SELECT count(*) FROM audit_events WHERE actor_id NOT IN (SELECT id FROM users)"
    assert scalar(db, orphans) == 0
    assert scalar(db, "SELECT count(*) FROM audit_events WHERE actor_id IS NOT NULL") > 0


def test_users_have_a_region_index(db: sqlite3.Connection) -> None:
    indexed = {row[2] for index in db.execute("PRAGMA index_list(users)") for row in index_info(db, index[1])}
    assert "region_id" in indexed


def index_info(db: sqlite3.Connection, index: str) -> list[tuple[object, ...]]:
    return db.execute(f"PRAGMA index_info({index})").fetchall()


def test_us_users_are_about_a_third(db: sqlite3.Connection) -> None:
    us_users = scalar(db, "SELECT count(*) FROM users JOIN regions ON regions.id = region_id WHERE code = 'US'")
    assert 0.25 <= us_users / scalar(db, "SELECT count(*) FROM users") <= 0.45


def test_table_sizes_follow_the_user_count(db: sqlite3.Connection) -> None:
    per_user = {table: scalar(db, f"SELECT count(*) FROM {table}") / USERS for table in TABLES}

    assert per_user["users"] == 1
    assert 3 <= per_user["posts"] <= 5
    assert 6 <= per_user["comments"] <= 10
    assert 8 <= per_user["likes"] <= 12
    assert 5 <= per_user["follows"] <= 7
    assert 1.1 <= per_user["devices"] <= 1.5
    assert scalar(db, "SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL") > 0


def test_replies_nest_at_least_three_levels_deep(db: sqlite3.Connection) -> None:
    deepest = scalar(
        db,
        """
        WITH RECURSIVE thread(id, depth) AS (
            SELECT id, 0 FROM comments WHERE parent_id IS NULL
            UNION ALL
            SELECT comments.id, thread.depth + 1 FROM comments JOIN thread ON comments.parent_id = thread.id
        )
        SELECT max(depth) FROM thread
        """,
    )
    assert deepest >= 3


def test_replies_answer_an_earlier_comment_of_the_same_post(db: sqlite3.Connection) -> None:
    misplaced = """
        SELECT count(*) FROM comments AS reply JOIN comments AS parent ON parent.id = reply.parent_id
        WHERE parent.post_id != reply.post_id OR parent.id >= reply.id
    """
    assert scalar(db, misplaced) == 0


@pytest.mark.parametrize(
    ("relation", "left_user", "right_user"),
    [
        ("follows", "follows.follower_id", "follows.followee_id"),
        ("likes JOIN posts ON posts.id = likes.post_id", "likes.user_id", "posts.author_id"),
        ("comments JOIN posts ON posts.id = comments.post_id", "comments.author_id", "posts.author_id"),
        (
            "comments JOIN comments AS parent ON parent.id = comments.parent_id",
            "comments.author_id",
            "parent.author_id",
        ),
    ],
)
def test_relations_cross_regions_both_ways(
    db: sqlite3.Connection, relation: str, left_user: str, right_user: str
) -> None:
    pairs = db.execute(
        f"""
        SELECT lr.code, rr.code, count(*) FROM {relation}
        JOIN users AS lu ON lu.id = {left_user} JOIN regions AS lr ON lr.id = lu.region_id
        JOIN users AS ru ON ru.id = {right_user} JOIN regions AS rr ON rr.id = ru.region_id
        GROUP BY 1, 2
        """
    ).fetchall()
    counts = {(left, right): count for left, right, count in pairs}

    assert counts.get(("EU", "US"), 0) > 0
    assert counts.get(("US", "EU"), 0) > 0


def test_timestamps_are_fixed_not_wall_clock(db: sqlite3.Connection) -> None:
    first, last = db.execute("SELECT min(created_at), max(created_at) FROM users").fetchone()
    assert first.startswith("2023-") and last.startswith("2023-")


# The model store under objects/ is checked by tests/test_demo_models.py.


def test_flags_are_flagd_definitions(demo: DemoPaths) -> None:
    document = json.loads(demo.flags.read_text())

    assert set(document) == {"$schema", "flags", "$evaluators"}
    assert document["$schema"] == "https://flagd.dev/schema/v0/flags.json"
    assert {"feed.ranking", "feed.region", "recsys.model", "recsys.enabled", "experiments.new_ui"} <= set(
        document["flags"]
    )
    for key, flag in document["flags"].items():
        assert flag["state"] in ("ENABLED", "DISABLED"), key
        assert flag["defaultVariant"] in flag["variants"], key
        assert len({type(value) for value in flag["variants"].values()}) == 1, key  # one variant type


def test_flag_targeting_references_resolve(demo: DemoPaths) -> None:
    document = json.loads(demo.flags.read_text())
    references = set(refs_in(document["flags"]))

    assert references == {"isEU"}
    assert references <= set(document["$evaluators"])
    assert '{"in": [{"var": "country"}, ["DE", "FR"]]}' in json.dumps(document["flags"])


def refs_in(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def test_default_demo_is_small_and_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    paths = generate_demo(tmp_path)
    elapsed = time.perf_counter() - started

    assert elapsed < 2.0
    # A dozen MB: one shard must be over the 8 MiB multipart threshold (tests/test_demo_models.py).
    assert sum(len(content) for content in files_below(paths.objects).values()) < 16_000_000
    assert paths.flags.stat().st_size < 20_000


def test_command_line_prints_the_three_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--users", "25", "--seed", "3"]) == 0

    printed = capsys.readouterr().out
    for name in ("global.db", "objects", "flags.flagd.json"):
        assert str(tmp_path / "source" / name) in printed
    assert table_contents(tmp_path / "source" / "global.db") == table_contents(
        generate_demo(tmp_path / "again", users=25, seed=3).database
    )


def test_command_line_rejects_zero_users(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--users", "0"])


def test_demo_plan_matches_the_generated_database(db: sqlite3.Connection) -> None:
    plan = yaml.safe_load(PLAN.read_text())
    data = plan["data"]

    assert plan["source"]["database"] == "sqlite:///../demo/source/global.db"
    assert (PLAN.parent / plan["source"]["flags"]).resolve() == (
        PLAN.parents[1] / "demo/source/flags.flagd.json"
    ).resolve()
    # Every table is named by the plan or reached through a declared key, so `unlisted: fail` accepts it.
    with_keys = {table for table in TABLES if db.execute(f"PRAGMA foreign_key_list({table})").fetchall()}
    assert set(data["roots"]) | set(data["tables"]) | with_keys == set(TABLES)
    us_users = scalar(db, f"SELECT count(*) FROM users WHERE {data['roots']['users']}")
    assert us_users == scalar(db, "SELECT count(*) FROM users WHERE region_id = 1")
    assert scalar(db, f"SELECT count(*) FROM posts WHERE {data['tables']['posts']['where']}") > 0


def test_demo_plan_copies_the_us_cleared_models(demo: DemoPaths) -> None:
    plan = yaml.safe_load(PLAN.read_text())
    plan_dir = PLAN.parent

    # Relative paths are relative to plans/: the generator writes demo/source/objects.
    assert (plan_dir / plan["source"]["objects"]).resolve() == (PLAN.parents[1] / "demo/source/objects").resolve()
    assert plan["target"]["objects"] == "../demo/us/objects"
    assert demo.objects.name == "objects"
    wanted = {entry["metadata"]["residency"] for entry in plan["artifacts"]}
    assert wanted == {"us", "global"}  # global objects are cleared for every region; eu ones are not


def test_demo_plan_copies_the_us_flags_with_an_override_and_removed_rules(demo: DemoPaths) -> None:
    from migrator.flags import migrate_flags
    from migrator.plan.model import FlagsSection

    plan = yaml.safe_load(PLAN.read_text())
    document = json.loads(demo.flags.read_text())
    # Several regions, a shared evaluator, a percentage rollout and a rule on `country`, as issue 14 asks.
    text = json.dumps(document)
    assert {"isEU"} == set(document["$evaluators"]) and '"fractional"' in text and '"var": "country"' in text
    outcome = migrate_flags(document, FlagsSection(**plan["flags"]), source_name=str(demo.flags))
    statuses = {report.key: report.status for report in outcome.flags}
    assert statuses["feed.region"] == "overridden" and statuses["billing.eu_vat"] == "excluded"
    assert outcome.rules_removed >= 1
    assert outcome.document["flags"]["feed.stories"]["targeting"] == {"fractional": [["on", 25], ["off", 75]]}
