"""Generate the demo "global deployment" that the README's first command splits.

Everything below ``ROOT/source/`` is derived from ``(users, seed)`` alone: one ``random.Random(seed)``
stream per artifact and timestamps counted from a fixed base date, never the wall clock, so that the
same arguments always give the same rows, the same files and the same flags.

    ROOT/source/global.db          SQLite database of a small social app, with declared foreign keys
    ROOT/source/objects/           the model store (migrator/demo/models.py), its metadata in
                                   .migrator/objects.jsonl
    ROOT/source/flags.flagd.json   flagd flag definitions
    ROOT/source/git/monorepo.git   the global monorepo (migrator/demo/monorepo.py), bare

Usage: ``python -m migrator.demo.generate ROOT [--users N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from migrator.demo.models import write_models
from migrator.demo.monorepo import write_monorepo

Row = tuple[Any, ...]

# Fixed origin of every timestamp: the output must not depend on when the generator runs.
BASE_TIME = datetime(2023, 1, 1, tzinfo=UTC)
MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR

FLAGD_SCHEMA_URL = "https://flagd.dev/schema/v0/flags.json"


@dataclass(frozen=True)
class DemoPaths:
    """Where the generated source deployment lives."""

    database: Path
    objects: Path
    flags: Path
    codebase: Path


@dataclass(frozen=True)
class Region:
    id: int
    code: str
    name: str
    user_share: float
    phone_prefix: str


# US is the scope of plans/demo.yaml; the other regions are what the split must leave behind.
REGIONS = (
    Region(1, "US", "United States", 0.35, "+1"),
    Region(2, "EU", "European Union", 0.30, "+49"),
    Region(3, "APAC", "Asia-Pacific", 0.25, "+81"),
    Region(4, "BR", "Brazil", 0.10, "+55"),
)

FIRST_NAMES = (
    "Ava", "Ben", "Chloe", "Diego", "Emma", "Finn", "Grace", "Hiro", "Isla", "Jonas",
    "Kai", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Yuki",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Huang", "Ito", "Jensen",
    "Kim", "Lopez", "Muller", "Novak", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Weber",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")  # reserved by RFC 2606: never real
WORDS = (
    "coffee", "sunset", "train", "weekend", "project", "garden", "concert", "recipe", "hike", "city",
    "book", "photo", "launch", "team", "rain", "beach", "market", "bike", "music", "friends",
    "today", "finally", "great", "new", "tiny", "loud", "quiet", "early", "late", "again",
)  # fmt: skip
PLATFORMS = ("ios", "android", "web")
AUDIT_ACTIONS = ("login", "logout", "password_change", "email_change", "export_data", "post_delete")

# Per-user averages the brief asks for: ~4 posts, ~8 comments (2 per post), ~10 likes, ~6 follows,
# ~1.3 devices, ~2 audit events.
POSTS_PER_USER = (0, 8)
COMMENTS_PER_POST = (0, 0, 0, 1, 1, 2, 2, 3, 5, 6)  # mean 2; few posts carry the long threads
LIKES_PER_USER = (5, 15)
FOLLOWS_PER_USER = (2, 10)
DEVICE_COUNT_WEIGHTS = {0: 5, 1: 65, 2: 25, 3: 5}  # mean 1.3
AUDIT_EVENTS_PER_USER = 2
SOFT_DELETED_POST_SHARE = 0.08
REPLY_SHARE = 0.6
# Replying to the newest comment of a thread, rather than any, is what makes threads several levels deep.
REPLY_TO_NEWEST_SHARE = 0.5
SYSTEM_AUDIT_EVENT_SHARE = 0.1  # events without an actor: actor_id is NULL

SCHEMA = (
    """CREATE TABLE regions (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL
    )""",
    """CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        region_id INTEGER NOT NULL REFERENCES regions(id),
        handle TEXT NOT NULL UNIQUE,
        email TEXT NOT NULL,
        phone TEXT,
        display_name TEXT,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX users_region_id_idx ON users(region_id)",
    """CREATE TABLE follows (
        follower_id INTEGER NOT NULL REFERENCES users(id),
        followee_id INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        PRIMARY KEY (follower_id, followee_id)
    )""",
    """CREATE TABLE posts (
        id INTEGER PRIMARY KEY,
        author_id INTEGER NOT NULL REFERENCES users(id),
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        deleted_at TEXT
    )""",
    """CREATE TABLE comments (
        id INTEGER PRIMARY KEY,
        post_id INTEGER NOT NULL REFERENCES posts(id),
        author_id INTEGER NOT NULL REFERENCES users(id),
        parent_id INTEGER REFERENCES comments(id),
        body TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE likes (
        user_id INTEGER NOT NULL REFERENCES users(id),
        post_id INTEGER NOT NULL REFERENCES posts(id),
        created_at TEXT NOT NULL,
        PRIMARY KEY (user_id, post_id)
    )""",
    """CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        platform TEXT NOT NULL,
        push_token TEXT NOT NULL
    )""",
    # actor_id is a user id on purpose WITHOUT a declared foreign key: the plan declares it as a relation.
    """CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY,
        actor_id INTEGER,
        action TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
)

# Parents before children, so that every row's foreign keys already resolve when it is inserted.
INSERT_ORDER = ("regions", "users", "follows", "posts", "comments", "likes", "devices", "audit_events")


def generate_demo(root: Path, *, users: int = 400, seed: int = 7) -> DemoPaths:
    """Write the demo source deployment below ``root/source``, replacing an earlier one; return its paths."""
    if users < 1:
        raise ValueError(f"users must be at least 1, got {users}")
    source = Path(root) / "source"
    paths = DemoPaths(
        database=source / "global.db",
        objects=source / "objects",
        flags=source / "flags.flagd.json",
        codebase=source / "git" / "monorepo.git",
    )
    source.mkdir(parents=True, exist_ok=True)
    write_database(paths.database, build_rows(random.Random(seed), users))
    # Separate streams: changing the model files must not reshuffle the database rows, and vice versa.
    write_models(paths.objects, seed)
    write_flags(paths.flags)
    write_monorepo(paths.codebase.parent)
    return paths


# --- database rows ---------------------------------------------------------------------------------


def timestamp(offset_seconds: int) -> str:
    return (BASE_TIME + timedelta(seconds=offset_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def sentence(rng: random.Random, min_words: int, max_words: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(min_words, max_words))
    return " ".join(words).capitalize() + "."


def build_rows(rng: random.Random, user_count: int) -> dict[str, list[Row]]:
    """Draw every table's rows from ``rng``, in a fixed order so that the result is reproducible."""
    regions = [(region.id, region.code, region.name) for region in REGIONS]
    users, user_created = make_users(rng, user_count)
    follows = make_follows(rng, user_created)
    posts, post_created = make_posts(rng, user_created)
    comments = make_comments(rng, post_created, user_count)
    likes = make_likes(rng, user_created, post_created)
    devices = make_devices(rng, user_count)
    audit_events = make_audit_events(rng, user_count)
    return {
        "regions": regions,
        "users": users,
        "follows": follows,
        "posts": posts,
        "comments": comments,
        "likes": likes,
        "devices": devices,
        "audit_events": audit_events,
    }


def assign_regions(rng: random.Random, user_count: int) -> list[Region]:
    """Each region gets its share of users exactly (not by chance), spread over the ids at random."""
    assigned: list[Region] = []
    for region in REGIONS[:-1]:
        assigned += [region] * round(region.user_share * user_count)
    del assigned[user_count:]
    assigned += [REGIONS[-1]] * (user_count - len(assigned))
    rng.shuffle(assigned)
    return assigned


def make_users(rng: random.Random, user_count: int) -> tuple[list[Row], list[int]]:
    regions = assign_regions(rng, user_count)
    # Sorted, so that user ids grow with sign-up time as they would in a real table.
    created = sorted(rng.randrange(365 * DAY) for _ in range(user_count))
    rows: list[Row] = []
    for index, region in enumerate(regions):
        user_id = index + 1
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        handle = f"{first}.{last}{user_id}".lower()
        email = f"{handle}@{rng.choice(EMAIL_DOMAINS)}"
        phone = f"{region.phone_prefix}-555-{rng.randrange(10**7):07d}" if rng.random() < 0.7 else None
        display_name = f"{first} {last}" if rng.random() < 0.85 else None
        rows.append((user_id, region.id, handle, email, phone, display_name, timestamp(created[index])))
    return rows, created


def make_follows(rng: random.Random, user_created: list[int]) -> list[Row]:
    """Followees are drawn from every region, so most follows of a US user cross the split."""
    user_count = len(user_created)
    rows: list[Row] = []
    for follower in range(user_count):
        wanted = min(rng.randint(*FOLLOWS_PER_USER), user_count - 1)
        candidates = rng.sample(range(user_count), min(wanted + 1, user_count))
        followees = [followee for followee in candidates if followee != follower][:wanted]
        for followee in followees:
            since = max(user_created[follower], user_created[followee]) + rng.randrange(MINUTE, 90 * DAY)
            rows.append((follower + 1, followee + 1, timestamp(since)))
    return rows


def make_posts(rng: random.Random, user_created: list[int]) -> tuple[list[Row], list[int]]:
    drafts: list[tuple[int, int]] = []  # (created, author index)
    for author, joined in enumerate(user_created):
        for _ in range(rng.randint(*POSTS_PER_USER)):
            drafts.append((joined + rng.randrange(HOUR, 400 * DAY), author))
    drafts.sort()  # post ids grow with time
    rows: list[Row] = []
    for index, (created, author) in enumerate(drafts):
        deleted_at = None
        if rng.random() < SOFT_DELETED_POST_SHARE:
            deleted_at = timestamp(created + rng.randrange(HOUR, 60 * DAY))
        rows.append((index + 1, author + 1, sentence(rng, 4, 16), timestamp(created), deleted_at))
    return rows, [created for created, _ in drafts]


def make_comments(rng: random.Random, post_created: list[int], user_count: int) -> list[Row]:
    """Threads per post; a reply always answers an earlier (smaller id) comment of the same post.

    Authors are drawn from every region, so EU users comment on US posts and reply to US comments.
    """
    rows: list[Row] = []
    for post_index, posted in enumerate(post_created):
        thread: list[tuple[int, int]] = []  # (comment id, created) of this post's comments so far
        for _ in range(rng.choice(COMMENTS_PER_POST)):
            comment_id = len(rows) + 1
            parent_id, created = None, posted + rng.randrange(MINUTE, 3 * DAY)
            if thread and rng.random() < REPLY_SHARE:
                parent_id, parent_created = pick_parent(rng, thread)
                created = parent_created + rng.randrange(MINUTE, 2 * DAY)
            author_id = rng.randrange(user_count) + 1
            body = sentence(rng, 2, 10)
            rows.append((comment_id, post_index + 1, author_id, parent_id, body, timestamp(created)))
            thread.append((comment_id, created))
    return rows


def pick_parent(rng: random.Random, thread: list[tuple[int, int]]) -> tuple[int, int]:
    if rng.random() < REPLY_TO_NEWEST_SHARE:
        return thread[-1]
    return rng.choice(thread)


def make_likes(rng: random.Random, user_created: list[int], post_created: list[int]) -> list[Row]:
    rows: list[Row] = []
    post_count = len(post_created)
    for user, joined in enumerate(user_created):
        wanted = min(rng.randint(*LIKES_PER_USER), post_count)
        for post in sorted(rng.sample(range(post_count), wanted)):
            liked = max(joined, post_created[post]) + rng.randrange(MINUTE, 30 * DAY)
            rows.append((user + 1, post + 1, timestamp(liked)))
    return rows


def make_devices(rng: random.Random, user_count: int) -> list[Row]:
    counts, weights = zip(*DEVICE_COUNT_WEIGHTS.items(), strict=True)
    rows: list[Row] = []
    for user in range(user_count):
        for _ in range(rng.choices(counts, weights)[0]):
            platform = rng.choice(PLATFORMS)
            push_token = f"{platform}:{rng.getrandbits(128):032x}"
            rows.append((len(rows) + 1, user + 1, platform, push_token))
    return rows


def make_audit_events(rng: random.Random, user_count: int) -> list[Row]:
    event_count = AUDIT_EVENTS_PER_USER * user_count
    times = sorted(rng.randrange(2 * 365 * DAY) for _ in range(event_count))
    rows: list[Row] = []
    for index, when in enumerate(times):
        actor_id = None if rng.random() < SYSTEM_AUDIT_EVENT_SHARE else rng.randrange(user_count) + 1
        rows.append((index + 1, actor_id, rng.choice(AUDIT_ACTIONS), timestamp(when)))
    return rows


# --- database file ---------------------------------------------------------------------------------


def write_database(path: Path, tables: dict[str, list[Row]]) -> None:
    """Create the database in one transaction, with foreign keys enforced so declared keys are real."""
    remove_database_files(path)
    # isolation_level=None: the module opens no implicit transactions, so the explicit BEGIN below
    # covers the DDL too and the PRAGMA runs outside a transaction (inside one it is a silent no-op).
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("BEGIN")
        for statement in SCHEMA:
            connection.execute(statement)
        for table in INSERT_ORDER:
            insert_rows(connection, table, tables[table])
        connection.execute("COMMIT")


def remove_database_files(path: Path) -> None:
    for leftover in (path, *(path.with_name(path.name + suffix) for suffix in ("-journal", "-wal", "-shm"))):
        leftover.unlink(missing_ok=True)


def insert_rows(connection: sqlite3.Connection, table: str, rows: Iterable[Row]) -> None:
    rows = list(rows)
    if not rows:
        return
    placeholders = ", ".join("?" * len(rows[0]))
    connection.executemany(f"INSERT INTO {table} VALUES ({placeholders})", rows)


# --- feature flags ---------------------------------------------------------------------------------


EU_COUNTRIES = ["DE", "FR", "IT", "ES", "NL", "IE"]


def country_in(countries: list[str]) -> dict[str, Any]:
    return {"in": [{"var": "country"}, countries]}


def flag_definitions() -> dict[str, Any]:
    """flagd flag definitions (https://flagd.dev/schema/v0/flags.json) of the global deployment.

    Targeting uses only the 3-argument ``if`` (older flagd schemas reject the if/else-if shorthand) and
    mixes rules a US-only context decides (country tests, the shared ``isEU`` evaluator) with ones it
    cannot (``fractional``, ``ends_with`` on the email), so that partial evaluation has work of both kinds.
    """
    flags: dict[str, Any] = {
        "feed.ranking": {
            "state": "ENABLED",
            "variants": {"chronological": "chronological", "ml_v2": "ml-v2", "ml_v3": "ml-v3"},
            "defaultVariant": "ml_v3",
            # DE and FR users get the non-profiled feed by default.
            "targeting": {"if": [country_in(["DE", "FR"]), "chronological", None]},
        },
        "feed.region": {
            "state": "ENABLED",
            "variants": {"global": "global", "us": "us", "eu": "eu"},
            "defaultVariant": "global",
            "targeting": {"if": [{"$ref": "isEU"}, "eu", None]},
        },
        "feed.stories": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            # Launching in the US first: a quarter of US users, bucketed by user (flagd's `fractional`).
            "targeting": {"if": [{"==": [{"var": "country"}, "US"]}, {"fractional": [["on", 25], ["off", 75]]}, "off"]},
        },
        "recsys.model": {
            "state": "ENABLED",
            "variants": {
                # Folders of the model store (migrator/demo/models.py).
                "us_v3": "recsys/ranker/rev-2026-11-15",
                "eu_v3": "recsys/eu-ranker/rev-2026-11-15",
                "ranker_only": "shared/embeddings/rev-2026-09-01",
            },
            "defaultVariant": "ranker_only",
            "targeting": {
                "if": [
                    {"==": [{"var": "country"}, "US"]},
                    "us_v3",
                    {"if": [country_in(EU_COUNTRIES), "eu_v3", None]},
                ]
            },
        },
        "recsys.enabled": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "on",
        },
        "experiments.new_ui": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {
                "if": [
                    {"ends_with": [{"var": "email"}, "@example.com"]},
                    "on",
                    {"fractional": [["on", 10], ["off", 90]]},
                ]
            },
        },
        "billing.eu_vat": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [country_in(EU_COUNTRIES), "on", "off"]},
        },
        "billing.currency": {
            "state": "ENABLED",
            "variants": {"usd": "USD", "eur": "EUR", "brl": "BRL"},
            "defaultVariant": "usd",
            "targeting": {"if": [country_in(["DE", "FR"]), "eur", {"if": [country_in(["BR"]), "brl", None]}]},
        },
        "support.live_chat": {
            "state": "DISABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
        },
    }
    return {
        "$schema": FLAGD_SCHEMA_URL,
        "flags": flags,
        "$evaluators": {"isEU": country_in(EU_COUNTRIES)},
    }


def write_flags(path: Path) -> None:
    path.write_text(json.dumps(flag_definitions(), indent=2) + "\n", encoding="utf-8")


# --- command line ----------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m migrator.demo.generate",
        description="Write a deterministic demo global deployment below ROOT/source.",
    )
    parser.add_argument("root", type=Path, metavar="ROOT", help="folder to write source/ into")
    parser.add_argument("--users", type=positive_int, default=400, help="number of users (default 400)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    arguments = parser.parse_args(argv)
    paths = generate_demo(arguments.root, users=arguments.users, seed=arguments.seed)
    print(f"database: {paths.database}")
    print(f"objects:  {paths.objects}")
    print(f"flags:    {paths.flags}")
    print(f"codebase: {paths.codebase}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
