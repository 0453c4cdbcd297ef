"""The counts of a table that drops the rows below a dropped parent, on PostgreSQL, taken beside its
recursion (SubsetSQL._counts_beside_recursion): the scan of every row runs without the recursion, in
parallel, and the recursion adds what a kept parent changes.

Random reply threads (roots, self-parents, cycles, chains cut by a dropped row, rows of other
regions) on a real PostgreSQL database. For three shapes of table, every count equals:
- what this file derives in Python from SPEC §3's rules (`_expected`), for the table whose
  references are NOT NULL and the table whose references may be NULL; and
- the count of the one scan that looks every parent up (the statement PostgreSQL got before, which
  the hand-written cases of test_subset_rules.py check), for all three shapes, with every subset of
  the relations' policies that a run or a dry run asks for.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.engine.prepare import Prepared, prepared
from migrator.plan.load import load_plan
from migrator.stores.sql.subset_sql import SubsetSQL

USERS, POSTS, COMMENTS = 6, 8, 24
# Three shapes of reply table: references NOT NULL (every candidate is in scope through them), may be
# NULL (in scope through either), and the author's relation nullified (its count reads the kept set).
REPLY_TABLES = ("replies_strict", "replies_loose", "replies_nullify")
SCHEMA = [
    "CREATE TABLE users (id integer PRIMARY KEY, region text NOT NULL)",
    "CREATE TABLE posts (id integer PRIMARY KEY, user_id integer NOT NULL REFERENCES users, deleted boolean NOT NULL)",
    *[
        f"CREATE TABLE {name} (id integer PRIMARY KEY,"
        f" post_id integer {'NOT NULL' if name == 'replies_strict' else ''} REFERENCES posts,"
        f" author_id integer {'NOT NULL' if name == 'replies_strict' else ''} REFERENCES users,"
        f" parent_id integer REFERENCES {name})"
        for name in REPLY_TABLES
    ],
]


@pytest.fixture
def source(pg_database: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    url = pg_database.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in SCHEMA:
            conn.execute(statement)  # type: ignore[arg-type]
    plan = tmp_path / "plan.yaml"
    document = {
        "version": 1,
        "name": "counts-beside-recursion",
        "source": {"database": pg_database},
        "target": {"database": f"sqlite:///{tmp_path / 'target.db'}"},
        "state": str(tmp_path / "state"),
        "data": {
            "roots": {"users": "region = 'US'"},
            "tables": {"posts": {"where": "NOT deleted"}},
            "relations": [{"from": "replies_nullify.author_id", "to": "users.id", "dangling": "nullify"}],
        },
    }
    plan.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    yield url, plan


def _rows(nullable: bool) -> st.SearchStrategy[list[tuple[int | None, int | None, int | None]]]:
    """Per reply id 1..COMMENTS: (post, author, parent); a parent of 0 is the row itself."""
    reference = st.integers(1, POSTS), st.integers(1, USERS)
    post, author = (st.one_of(st.none(), r) for r in reference) if nullable else reference
    parent = st.one_of(st.none(), st.integers(0, COMMENTS))
    return st.lists(st.tuples(post, author, parent), min_size=COMMENTS, max_size=COMMENTS)


DATA = st.fixed_dictionaries(
    {
        "regions": st.lists(st.sampled_from(["US", "EU"]), min_size=USERS, max_size=USERS),
        "posts": st.lists(st.tuples(st.integers(1, USERS), st.booleans()), min_size=POSTS, max_size=POSTS),
        "replies_strict": _rows(nullable=False),
        "replies_loose": _rows(nullable=True),
        "replies_nullify": _rows(nullable=True),
    }
)


def _load(url: str, data: dict[str, Any]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(REPLY_TABLES)}, posts, users")  # type: ignore[arg-type]
        for n, region in enumerate(data["regions"], 1):
            conn.execute("INSERT INTO users VALUES (%s, %s)", (n, region))
        for n, (user, deleted) in enumerate(data["posts"], 1):
            conn.execute("INSERT INTO posts VALUES (%s, %s, %s)", (n, user, deleted))
        for name in REPLY_TABLES:
            rows = data[name]
            # Parents last, so that any of them (a cycle, the row itself) exists when it is set.
            for n, (post, author, _) in enumerate(rows, 1):
                conn.execute(f"INSERT INTO {name} VALUES (%s, %s, %s, NULL)", (n, post, author))  # type: ignore[arg-type]
            for n, (_, _, parent) in enumerate(rows, 1):
                if parent is not None:
                    conn.execute(f"UPDATE {name} SET parent_id = %s WHERE id = %s", (parent or n, n))  # type: ignore[arg-type]


def _expected(data: dict[str, Any], name: str) -> dict[str, int]:
    """SPEC §3 for a scoped reply table under the default `dangling: drop`: in scope through its
    post or its author, each non-null reference kept, and, through the self-reference, a row with
    no parent (or itself as parent) starts a thread whose kept rows' children follow it down."""
    users = {n for n, region in enumerate(data["regions"], 1) if region == "US"}
    posts = {n for n, (user, deleted) in enumerate(data["posts"], 1) if user in users and not deleted}
    rows = {n: (post, author, n if parent == 0 else parent) for n, (post, author, parent) in enumerate(data[name], 1)}

    def post_ok(n: int) -> bool:
        return rows[n][0] is None or rows[n][0] in posts

    def author_ok(n: int) -> bool:
        return rows[n][1] is None or rows[n][1] in users

    def in_scope(n: int) -> bool:
        return rows[n][0] in posts or rows[n][1] in users

    allowed = {n for n in rows if post_ok(n) and author_ok(n)}
    kept = {n for n in allowed if in_scope(n) and rows[n][2] in (None, n)}
    while True:
        below = {n for n in allowed if rows[n][2] in kept and rows[n][2] != n}
        if below <= kept:
            break
        kept |= below

    def parent_ok(n: int) -> bool:
        return rows[n][2] is None or rows[n][2] in kept

    post_dangles = {
        n for n in rows if rows[n][0] is not None and not post_ok(n) and author_ok(n) and parent_ok(n) and in_scope(n)
    }
    author_dangles = {
        n for n in rows if rows[n][1] is not None and not author_ok(n) and post_ok(n) and parent_ok(n) and in_scope(n)
    }
    parent_dangles = {n for n in allowed if in_scope(n) and not parent_ok(n)}
    return {
        "rows": len(kept),
        f"{name}.post_id -> posts.id": len(post_dangles),
        f"{name}.author_id -> users.id": len(author_dangles),
        f"{name}.parent_id -> {name}.id": len(parent_dangles),
    }


def _counted(prep: Prepared, name: str, policies: tuple[str, ...]) -> dict[str, int | None]:
    read = prep.queries.counts(name, policies, with_source_rows=True).read(prep.conn)
    return {"source": read.source_rows, "rows": read.rows, **{str(edge.fk): rows for edge, rows in read.dangling}}


POLICIES = [("drop", "nullify", "fail"), ("fail",), ("nullify",), ("drop",)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=DATA)
def test_counts_beside_the_recursion_are_the_rules_and_the_one_scans(
    source: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, data: dict[str, Any]
) -> None:
    url, plan = source
    _load(url, data)
    with prepared(load_plan(plan)) as prep:
        setting = sa.text("SHOW parallel_tuple_cost")
        before = prep.conn.execute(setting).scalar_one()
        beside = {(name, p): _counted(prep, name, p) for name in REPLY_TABLES for p in POLICIES}
        # The planner setting given to those statements alone is the connection's own again.
        assert prep.conn.execute(setting).scalar_one() == before
        sql = str(prep.queries.counts("replies_strict").statement.compile(prep.conn))
        assert "counted_replies_strict" in sql, "the strict table was not counted beside its recursion"
        with monkeypatch.context() as patched:
            patched.setattr(SubsetSQL, "_counted_beside_recursion", lambda *_: False)
            one_scan = {(name, p): _counted(prep, name, p) for name in REPLY_TABLES for p in POLICIES}
    assert beside == one_scan
    for name in ("replies_strict", "replies_loose"):
        counted = beside[(name, POLICIES[0])]
        assert counted["source"] == COMMENTS
        assert {k: v for k, v in counted.items() if k != "source"} == _expected(data, name), name


def test_the_dry_run_counts_the_rules_on_one_connection_and_on_two(source: tuple[str, Path], run_cli: Any) -> None:
    """`migrator plan`, with one connection and with two in one snapshot (each statement setting the
    planner for itself alone), shows the rules' counts."""
    url, plan = source
    pick = random.Random(2)  # a seed whose every count below is above zero
    data: dict[str, Any] = {
        "regions": [pick.choice(["US", "EU"]) for _ in range(USERS)],
        "posts": [(pick.randint(1, USERS), pick.random() < 0.2) for _ in range(POSTS)],
    }
    parents = [None] * 8 + list(range(COMMENTS + 1))  # about a quarter start a thread; 0: their own parent
    for name in REPLY_TABLES:
        null_share = 0.0 if name == "replies_strict" else 0.15
        references = [[pick.randint(1, POSTS), pick.randint(1, USERS)] for _ in range(COMMENTS)]
        data[name] = [
            (*(None if pick.random() < null_share else value for value in pair), pick.choice(parents))
            for pair in references
        ]
    _load(url, data)
    shown = {}
    for workers in ("1", "2"):
        done = run_cli("plan", plan, "--format", "json", "--workers", workers)
        assert done.returncode == 0, done.stderr
        shown[workers] = {
            t["table"]: (t["rows"], t["source_rows"], {d["relation"]: d["rows"] for d in t["dangling"]})
            for t in json.loads(done.stdout)["tables"]
        }
    assert shown["1"] == shown["2"]
    for name in ("replies_strict", "replies_loose"):
        expected = _expected(data, name)
        rows, source_rows, dangling = shown["2"][name]
        assert (rows, source_rows) == (expected.pop("rows"), COMMENTS)
        assert dangling == expected, name
        assert rows and all(expected.values()), f"{name}: a thread kept and a row dangling through each relation"
