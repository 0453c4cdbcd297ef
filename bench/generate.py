"""Generate the benchmark's social-platform source in PostgreSQL, deterministically and fast.

    python bench/generate.py --scale 1 --url postgresql://postgres@127.0.0.1/bench_src

drops and creates the database, then loads the demo app's schema (bench/social_schema.py) with
PostgreSQL itself doing the work: every row is an ``INSERT ... SELECT`` over ``generate_series``, and
every "random" choice is a seeded 64-bit hash of the row number (``hashint8extended(i, salt)``), never
``random()``, so the same scale always gives the same rows. Tables are loaded bare, then keys, indexes
and foreign keys are added, then ``VACUUM (FREEZE, ANALYZE)`` so that the first benchmark read does not
pay for hint bits.

Per scale unit (scale 1): 100k users (30% US, 30% EU, 25% APAC, 15% BR), 500k posts (5% soft
deleted), 1M comments (about 40% of them replies to an earlier comment of the same post), 1.5M likes,
1M follows, 150k devices, 50k audit events. Follows, likes and comments pick a target of the actor's
own region 70% of the time and of any region otherwise, so about a third of a US user's interactions
cross the split. Likes and follows are de-duplicated on their primary key, so they hold a little
less than their nominal count.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import psycopg
import social_schema as schema
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# The demo's names and words: the benchmark's platform reads like the demo's, at any scale.
from migrator.demo.generate import FIRST_NAMES, LAST_NAMES, WORDS

DEFAULT_URL = "postgresql://postgres@127.0.0.1/bench_src"

REGIONS = (
    # id, code, name, share of users in percent, phone prefix
    (1, "US", "United States", 30, "+1"),
    (2, "EU", "European Union", 30, "+49"),
    (3, "APAC", "Asia-Pacific", 25, "+81"),
    (4, "BR", "Brazil", 15, "+55"),
)
SAME_REGION_PERCENT = 70  # of follows, likes and comments: the target is of the actor's own region
REPLY_PERCENT_OF_NON_FIRST = 70  # of comments that are not the first of their post: a reply (~40% of all)
DELETED_POST_PERCENT = 5
SYSTEM_AUDIT_PERCENT = 10  # audit events without an actor

SENTENCES = 4096  # bodies are drawn from this many distinct sentences of 3 to 16 words

YEAR = 365 * 86400
BASE = "timestamptz '2023-01-01 00:00:00+00'"


def counts(scale: float) -> dict[str, int]:
    users = max(10, round(100_000 * scale))
    return {
        "users": users,
        "posts": 5 * users,
        "comments": 10 * users,
        "likes": 15 * users,
        "follows": 10 * users,
        "devices": users * 3 // 2,
        "audit_events": users // 2,
    }


def _array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _region_of(share_expr: str) -> str:
    """CASE mapping a 0..99 draw to a region id by the regions' user shares."""
    branches, bound = [], 0
    for region_id, _, _, share, _ in REGIONS[:-1]:
        bound += share
        branches.append(f"WHEN {share_expr} < {bound} THEN {region_id}")
    return f"(CASE {' '.join(branches)} ELSE {REGIONS[-1][0]} END)"


FUNCTIONS = (
    # A seeded, non-negative 64-bit hash of a row number: the only source of variety.
    """CREATE FUNCTION pg_temp.h(i bigint, salt bigint) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
       AS $$ SELECT hashint8extended(i, salt) & 9223372036854775807 $$""",
    f"""CREATE FUNCTION pg_temp.region_of(user_id bigint) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
       AS $$ SELECT {_region_of("(hashint8extended(user_id, 11) & 9223372036854775807) % 100")} $$""",
    # The region of an interaction's target: the actor's own most of the time, any region otherwise.
    f"""CREATE FUNCTION pg_temp.target_region(i bigint, salt bigint, own integer) RETURNS integer
       LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
       SELECT CASE WHEN (hashint8extended(i, salt) & 9223372036854775807) % 100 < {SAME_REGION_PERCENT} THEN own
              ELSE {_region_of("(hashint8extended(i, salt + 1000) & 9223372036854775807) % 100")} END $$""",
)


def _seconds(expr: str) -> str:
    return f"({BASE} + ({expr}) * interval '1 second')"


def _post_created(post: str, n: dict[str, int]) -> str:
    """A post's time from its id alone (posts are numbered in time order over 400 days), so that the
    tables that point at posts can compute it without a join."""
    return f"({post})::bigint * {400 * 86400} / {n['posts']} + pg_temp.h({post}, 32) % 600"


def _pick(lookup: str, region: str, draw: str, sizes: dict[int, int]) -> str:
    """Join condition picking row number `draw % size` of `lookup` in `region`."""
    size = "CASE " + " ".join(f"WHEN {region} = {r} THEN {s}" for r, s in sizes.items()) + " END"
    return f"{lookup}.region_id = {region} AND {lookup}.k = {draw} % ({size})"


def load_statements(n: dict[str, int]) -> dict[str, list[str]]:
    """Per table, the statements that fill it, in dependency order."""
    regions = ", ".join(f"({r}, '{code}', '{name}')" for r, code, name, *_ in REGIONS)
    users = f"""
        INSERT INTO users (id, region_id, handle, email, phone, display_name, created_at)
        SELECT i, region, handle,
               handle || '@' || (ARRAY['example.com', 'example.org', 'example.net'])[1 + pg_temp.h(i, 13) % 3],
               CASE WHEN pg_temp.h(i, 14) % 10 < 7 THEN
                   ({_array([r[4] for r in REGIONS])})[region] || '-555-'
                   || lpad((pg_temp.h(i, 15) % 10000000)::text, 7, '0') END,
               CASE WHEN pg_temp.h(i, 16) % 100 < 85 THEN first || ' ' || last END,
               {_seconds(f"i * {YEAR} / {n['users']} + pg_temp.h(i, 17) % 3600")}
        FROM (SELECT i, pg_temp.region_of(i) AS region, first, last, lower(first || '.' || last || i) AS handle
              FROM (SELECT i, ({_array(FIRST_NAMES)})[1 + pg_temp.h(i, 18) % {len(FIRST_NAMES)}] AS first,
                              ({_array(LAST_NAMES)})[1 + pg_temp.h(i, 19) % {len(LAST_NAMES)}] AS last
                    FROM generate_series(1::bigint, {n["users"]}) AS i) AS named) AS u
        ORDER BY i"""
    sentences = f"""
        CREATE UNLOGGED TABLE gen.sentences AS
        SELECT s AS sid, upper(substr(body, 1, 1)) || substr(body, 2) || '.' AS body
        FROM (SELECT s, string_agg(({_array(WORDS)})[1 + pg_temp.h(s * 64 + w, 5) % {len(WORDS)}], ' '
                                   ORDER BY w) AS body
              FROM generate_series(0, {SENTENCES - 1}) AS s,
                   LATERAL generate_series(1, 3 + (pg_temp.h(s, 6) % 14)::int) AS w
              GROUP BY s) AS drawn"""
    user_lookup = """
        CREATE UNLOGGED TABLE gen.ru AS
        SELECT region_id, row_number() OVER (PARTITION BY region_id ORDER BY id) - 1 AS k, id FROM users"""
    posts = f"""
        INSERT INTO posts (id, author_id, body, created_at, deleted_at)
        SELECT i, author, s.body, {_seconds("created")},
               CASE WHEN pg_temp.h(i, 33) % 100 < {DELETED_POST_PERCENT}
                    THEN {_seconds(f"created + 3600 + pg_temp.h(i, 34) % {60 * 86400}")} END
        FROM (SELECT i, 1 + pg_temp.h(i, 31) % {n["users"]} AS author, {_post_created("i", n)} AS created
              FROM generate_series(1::bigint, {n["posts"]}) AS i) AS p
        JOIN gen.sentences AS s ON s.sid = pg_temp.h(i, 35) % {SENTENCES}
        ORDER BY i"""
    post_lookup = """
        CREATE UNLOGGED TABLE gen.rp AS
        SELECT pg_temp.region_of(author_id) AS region_id,
               row_number() OVER (PARTITION BY pg_temp.region_of(author_id) ORDER BY id) - 1 AS k, id
        FROM posts"""
    return {
        "regions": [f"INSERT INTO regions (id, code, name) VALUES {regions}"],
        "users": [users, user_lookup, "ANALYZE gen.ru", sentences, "ANALYZE gen.sentences"],
        "posts": [posts, post_lookup, "ANALYZE gen.rp"],
        "devices": [
            f"""INSERT INTO devices (id, user_id, platform, push_token)
                SELECT i, 1 + pg_temp.h(i, 61) % {n["users"]}, platform, platform || ':' || md5(i::text)
                FROM (SELECT i, (ARRAY['ios', 'android', 'web'])[1 + pg_temp.h(i, 62) % 3] AS platform
                      FROM generate_series(1::bigint, {n["devices"]}) AS i) AS d
                ORDER BY i"""
        ],
        "audit_events": [
            f"""INSERT INTO audit_events (id, actor_id, action, created_at)
                SELECT i, CASE WHEN pg_temp.h(i, 71) % 100 >= {SYSTEM_AUDIT_PERCENT}
                               THEN 1 + pg_temp.h(i, 72) % {n["users"]} END,
                       (ARRAY['login', 'logout', 'password_change', 'email_change', 'export_data',
                              'post_delete'])[1 + pg_temp.h(i, 73) % 6],
                       {_seconds(f"i::bigint * {2 * YEAR} / {n['audit_events']}")}
                FROM generate_series(1::bigint, {n["audit_events"]}) AS i
                ORDER BY i"""
        ],
    }


def interaction_statements(n: dict[str, int], users_in: dict[int, int], posts_in: dict[int, int]) -> dict[str, str]:
    """Follows, likes and comments: they pick their targets by region, so they need the lookups."""
    follows = f"""
        INSERT INTO follows (follower_id, followee_id, created_at)
        SELECT DISTINCT ON (follower, ru.id) follower, ru.id,
               {_seconds(f"greatest(follower, ru.id) * {YEAR} / {n['users']} + 3600 + pg_temp.h(i, 24) % {90 * 86400}")}
        FROM (SELECT i, follower, pg_temp.target_region(i, 22, pg_temp.region_of(follower)) AS region
              FROM (SELECT i, 1 + pg_temp.h(i, 21) % {n["users"]} AS follower
                    FROM generate_series(1::bigint, {n["follows"]}) AS i) AS f) AS f
        JOIN gen.ru AS ru ON {_pick("ru", "f.region", "pg_temp.h(i, 23)", users_in)}
        WHERE ru.id <> follower
        ORDER BY follower, ru.id, i"""
    likes = f"""
        INSERT INTO likes (user_id, post_id, created_at)
        SELECT DISTINCT ON (liker, rp.id) liker, rp.id,
               {_seconds(f"{_post_created('rp.id', n)} + 60 + pg_temp.h(i, 54) % {30 * 86400}")}
        FROM (SELECT i, liker, pg_temp.target_region(i, 52, pg_temp.region_of(liker)) AS region
              FROM (SELECT i, 1 + pg_temp.h(i, 51) % {n["users"]} AS liker
                    FROM generate_series(1::bigint, {n["likes"]}) AS i) AS l) AS l
        JOIN gen.rp AS rp ON {_pick("rp", "l.region", "pg_temp.h(i, 53)", posts_in)}
        ORDER BY liker, rp.id, i"""
    # Comments are numbered post by post, so that "an earlier comment of the same post" is one of the
    # (up to 3) ids just below; created_at grows with the position in the post, so a reply is always
    # newer than what it answers.
    comments = f"""
        INSERT INTO comments (id, post_id, author_id, parent_id, body, created_at)
        SELECT id, post, author,
               CASE WHEN pos > 1 AND pg_temp.h(i, 44) % 100 < {REPLY_PERCENT_OF_NON_FIRST}
                    THEN id - 1 - pg_temp.h(i, 45) % least(pos - 1, 3) END,
               s.body,
               {_seconds(f"{_post_created('post', n)} + pos * 600 + pg_temp.h(i, 46) % 600")}
        FROM (SELECT i, author, post,
                     row_number() OVER (ORDER BY post, i) AS id,
                     row_number() OVER (PARTITION BY post ORDER BY i) AS pos
              FROM (SELECT i, author, rp.id AS post
                    FROM (SELECT i, author, pg_temp.target_region(i, 42, pg_temp.region_of(author)) AS region
                          FROM (SELECT i, 1 + pg_temp.h(i, 41) % {n["users"]} AS author
                                FROM generate_series(1::bigint, {n["comments"]}) AS i) AS a) AS a
                    JOIN gen.rp AS rp ON {_pick("rp", "a.region", "pg_temp.h(i, 43)", posts_in)}) AS raw) AS c
        JOIN gen.sentences AS s ON s.sid = pg_temp.h(i, 47) % {SENTENCES}
        ORDER BY id"""
    return {"follows": follows, "likes": likes, "comments": comments}


def admin_conninfo(url: str) -> tuple[str, str]:
    """(conninfo of the server's `postgres` database, the database name the URL names)."""
    name = conninfo_to_dict(url).get("dbname")
    if not name:
        raise SystemExit(f"the URL names no database: {url}")
    return make_conninfo(url, dbname="postgres"), str(name)


def recreate_database(url: str) -> None:
    admin, name = admin_conninfo(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    admin, name = admin_conninfo(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _session(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET work_mem = '256MB'")
    conn.execute("SET maintenance_work_mem = '1GB'")
    for statement in FUNCTIONS:
        conn.execute(statement)
    return conn


def _run(conn: psycopg.Connection, statements: list[str]) -> None:
    for statement in statements:
        conn.execute(statement)  # type: ignore[arg-type]


def _finish_table(url: str, table: schema.Table) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        _run(conn, schema.pg_keys(table))


def generate(url: str, scale: float, *, log=print) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Create the source database at `url` and return its row counts per table."""
    n = counts(scale)
    started = time.monotonic()
    recreate_database(url)
    with _session(url) as conn:
        # Working tables of the generator live in their own schema, dropped before the end.
        _run(conn, ["CREATE SCHEMA gen", *[schema.pg_bare(t) for t in schema.TABLES]])
        loads = load_statements(n)
        for table in ("regions", "users", "posts"):
            _run(conn, loads[table])
        users_in = dict(conn.execute("SELECT region_id, count(*) FROM gen.ru GROUP BY 1 ORDER BY 1").fetchall())
        posts_in = dict(conn.execute("SELECT region_id, count(*) FROM gen.rp GROUP BY 1 ORDER BY 1").fetchall())
        # The remaining tables only read users, posts and the temp lookups: two sessions share them out.
        second = [*loads["devices"], *loads["audit_events"]]
        interactions = interaction_statements(n, users_in, posts_in)
        with _session(url) as other, ThreadPoolExecutor(2) as pool:
            first_job = pool.submit(_run, conn, [interactions["comments"]])
            second_job = pool.submit(_run, other, [interactions["likes"], interactions["follows"], *second])
            first_job.result()
            second_job.result()
        conn.execute("DROP SCHEMA gen CASCADE")
    log(f"  rows loaded in {time.monotonic() - started:.1f} s")
    mark = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(_finish_table, url, t) for t in schema.TABLES]:
            future.result()
    with psycopg.connect(url, autocommit=True) as conn:
        present = {t.name for t in schema.TABLES}
        for table in schema.TABLES:
            _run(conn, schema.pg_foreign_keys(table, present))
    log(f"  keys, indexes and foreign keys added in {time.monotonic() - mark:.1f} s")
    mark = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (FREEZE, ANALYZE)")
        rows = {
            t.name: conn.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0]  # type: ignore[index]
            for t in schema.TABLES
        }
    log(f"  vacuumed in {time.monotonic() - mark:.1f} s; total {time.monotonic() - started:.1f} s")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 100k users, 4.2M rows (default 1)")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the database to (re)create (default {DEFAULT_URL})")
    args = parser.parse_args(argv)
    print(f"generating scale {args.scale} into {args.url}")
    rows = generate(args.url, args.scale)
    width = max(len(name) for name in rows)
    for name, count in rows.items():
        print(f"  {name:<{width}}  {count:>10,}")
    print(f"  {'total':<{width}}  {sum(rows.values()):>10,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
