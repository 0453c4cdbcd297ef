"""The subset rules of SPEC §3, one tiny hand-made schema each, run through the CLI on real databases.

Every expected row below is written out by hand, derived from the rules (the comment beside a row says
why it is in or out); none is computed by migrator. Each variant runs `migrator plan` (classes and row
counts must match) and `migrator run` into a fresh target, then reads the target with plain SQL: the
exact rows of every table, and I1 (every foreign key, declared or virtual, resolves) with LEFT JOINs.
tests/subset_cases.py holds the machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.subset_cases import MARIADB, PG, PG_RANGES, PG_TO_MARIADB, SQLITE, Case, Rows, Variant, run_case


@pytest.fixture
def check(run_cli, request, tmp_path: Path) -> Callable[[str, Case, list[Variant]], None]:
    """`check(backend, case, variants)`: build the case's source, then run and check every variant."""

    def run(backend: str, case: Case, variants: list[Variant]) -> None:
        run_case(run_cli, backend, request, tmp_path, case, variants)

    return run


USERS = "CREATE TABLE users (id INTEGER PRIMARY KEY, region VARCHAR(2) NOT NULL)"
US = {"users": "region = 'US'"}


# -- 1. a self-reference in a scoped table: reply threads -------------------------------------------------

THREADS = Case(
    statements=[
        USERS,
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id))",
        "CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL REFERENCES posts (id),"
        " author_id INTEGER NOT NULL REFERENCES users (id), parent_id INTEGER REFERENCES comments (id))",
        "INSERT INTO users VALUES (1, 'US'), (2, 'US'), (3, 'EU')",
        "INSERT INTO posts VALUES (10, 1), (11, 2), (12, 3)",
        "INSERT INTO comments VALUES"
        " (100, 10, 1, NULL),"  # US thread root
        " (101, 10, 2, 100),"  # reply by a US author
        " (102, 10, 3, 100),"  # reply by the EU author: dangling through author_id (NOT NULL): dropped
        " (103, 10, 1, 102),"  # under the dropped 102
        " (104, 10, 2, 103),"  # under 103
        " (105, 10, 2, 101),"  # third level of a kept chain
        " (106, 12, 1, NULL),"  # US author on the EU post: dangling through post_id: dropped
        " (107, 12, 3, NULL),"  # EU author, EU post: never in scope
        " (108, 10, 1, 107),"  # a US reply on a US post to an out-of-scope comment
        " (109, 12, 1, 107),"  # US author, EU post: dropped
        " (110, 11, 2, 106),"  # a reply on post 11 to the dropped 106
        " (111, 11, 1, NULL),"  # US thread root on post 11
        " (112, 11, 2, 112),"  # a thread root marked by pointing at itself: its reference resolves
        " (113, 11, 1, 112)",  # a reply to it
    ],
    keys={"users": ("id",), "posts": ("id",), "comments": ("id",)},
    foreign_keys=[
        "posts.user_id -> users.id",
        "comments.post_id -> posts.id",
        "comments.author_id -> users.id",
        "comments.parent_id -> comments.id",
    ],
)
THREAD_KINDS = {"users": "root", "posts": "scoped", "comments": "scoped"}


@pytest.mark.parametrize("backend", [SQLITE, PG, PG_RANGES, MARIADB])
def test_self_reference_in_a_scoped_table(check, backend: str) -> None:
    check(
        backend,
        THREADS,
        [
            Variant(
                "drop",
                {"roots": US, "dangling": "drop"},
                THREAD_KINDS,
                # 102 drops, and so do its descendants 103 and 104; 108 and 110 lose their parents.
                {"users": {1, 2}, "posts": {10, 11}, "comments": {100, 101, 105, 111, 112, 113}},
                dangling={
                    ("comments", "comments.author_id -> users.id"): ("drop", 1),  # 102
                    ("comments", "comments.parent_id -> comments.id"): ("drop", 4),  # 103, 104, 108, 110
                },
            ),
            Variant(
                "nullify-parent",
                {
                    "roots": US,
                    "dangling": "drop",
                    "relations": [{"from": "comments.parent_id", "to": "comments.id", "dangling": "nullify"}],
                },
                THREAD_KINDS,
                {
                    "users": {1, 2},
                    "posts": {10, 11},
                    # 102, 106, 107, 109 still drop through post_id/author_id (drop, NOT NULL). Their replies
                    # stay with parent_id NULL; 104 keeps its parent 103, which is kept.
                    "comments": Rows(
                        ("id", "parent_id"),
                        {
                            (100, None),
                            (101, 100),
                            (103, None),
                            (104, 103),
                            (105, 101),
                            (108, None),
                            (110, None),
                            (111, None),
                            (112, 112),
                            (113, 112),
                        },
                    ),
                },
            ),
        ],
    )


# -- 2. a self-reference in a root table: invitations --------------------------------------------------

INVITES = Case(
    statements=[
        "CREATE TABLE users (id INTEGER PRIMARY KEY, region VARCHAR(2) NOT NULL,"
        " invited_by INTEGER REFERENCES users (id))",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id))",
        "INSERT INTO users VALUES"
        " (1, 'US', NULL), (3, 'EU', NULL),"
        " (2, 'US', 1),"  # invited by a US user
        " (4, 'US', 3),"  # a US user invited by an EU user
        " (5, 'US', 4),"  # invited by 4
        " (6, 'EU', 1),"  # an EU user invited by a US user: out of scope all the same
        " (7, 'US', 7), (8, 'US', 7),"  # 7 invited itself (a sign-up): its reference resolves, so does 8's
        " (9, 'US', NULL), (10, 'US', 9),"  # 9 and 10 invited each other (set below): both resolve
        " (11, 'EU', 11), (12, 'US', 11)",  # an EU self-inviter, and a US user it invited
        "UPDATE users SET invited_by = 10 WHERE id = 9",
        "INSERT INTO posts VALUES (20, 1), (21, 4), (22, 5), (23, 3), (24, 2), (25, 7), (26, 12)",
    ],
    keys={"users": ("id",), "posts": ("id",)},
    foreign_keys=["users.invited_by -> users.id", "posts.user_id -> users.id"],
)


@pytest.mark.parametrize("backend", [SQLITE, PG])
def test_self_reference_in_a_root_table(check, backend: str) -> None:
    kinds = {"users": "root", "posts": "scoped"}
    invited = ("users", "users.invited_by -> users.id")
    check(
        backend,
        INVITES,
        [
            # 4 and 12 dangle (their inviters are EU), then 5 dangles (its inviter 4 is gone); their posts go
            # too. 7 (its own inviter) and 8 stay. The pair 9 and 10, who invited each other, never reach a
            # user with no inviter: a chain with no start is dropped (docs/design-decisions.md).
            Variant(
                "drop",
                {"roots": US, "dangling": "drop"},
                kinds,
                {
                    "users": Rows(("id", "invited_by"), {(1, None), (2, 1), (7, 7), (8, 7)}),
                    "posts": {20, 24, 25},
                },
                dangling={invited: ("drop", 5)},
            ),
            # The same with the root's rule naming its table: PostgreSQL tests it on each step's rows,
            # read from the table itself (subset_sql.py, `_downward_cte`).
            Variant(
                "drop-qualified",
                {"roots": {"users": "users.region = 'US'"}, "dangling": "drop"},
                kinds,
                {
                    "users": Rows(("id", "invited_by"), {(1, None), (2, 1), (7, 7), (8, 7)}),
                    "posts": {20, 24, 25},
                },
                dangling={invited: ("drop", 5)},
            ),
            # Plan-wide nullify: 4 and 12 stay with invited_by NULL, so 5 keeps its inviter. posts.user_id is
            # NOT NULL, so nullify falls back to drop there (post 23 of the EU user).
            Variant(
                "nullify",
                {"roots": US, "dangling": "nullify"},
                kinds,
                {
                    "users": Rows(
                        ("id", "invited_by"),
                        {
                            (1, None),
                            (2, 1),
                            (4, None),
                            (5, 4),
                            (7, 7),
                            (8, 7),
                            (9, 10),
                            (10, 9),
                            (12, None),
                        },
                    ),
                    "posts": {20, 21, 22, 24, 25, 26},
                },
                dangling={invited: ("nullify", 2)},
            ),
        ],
    )


# -- 3. a referenced table with a self-reference: reps and their management chain -----------------------

CHAIN = Case(
    statements=[
        "CREATE TABLE departments (id INTEGER PRIMARY KEY, name VARCHAR(20))",
        "CREATE TABLE employees (id INTEGER PRIMARY KEY,"
        " dept_id INTEGER NOT NULL REFERENCES departments (id), manager_id INTEGER REFERENCES employees (id))",
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, region VARCHAR(2) NOT NULL,"
        " rep_id INTEGER REFERENCES employees (id))",
        "INSERT INTO departments VALUES (1, 'exec'), (2, 'sales'), (3, 'eu'), (4, 'west'), (5, 'junior')",
        "INSERT INTO employees VALUES"
        " (1, 1, NULL), (2, 1, 1), (3, 2, 2),"  # 3 -> 2 -> 1
        " (4, 3, 2),"  # 3's sibling, rep of an EU customer only
        " (5, 3, 1), (6, 3, 5),"  # the EU rep 6 -> 5 -> 1
        " (7, 4, NULL), (8, 4, 7),"  # a second tree: 8 -> 7
        " (9, 5, 8)",  # reports to a kept rep, serves nobody: a child of a parent
        "INSERT INTO customers VALUES"
        " (100, 'US', 3), (101, 'US', 8), (102, 'US', NULL), (103, 'EU', 6), (104, 'EU', 4), (105, 'US', 3)",
    ],
    keys={"departments": ("id",), "employees": ("id",), "customers": ("id",)},
    foreign_keys=[
        "employees.dept_id -> departments.id",
        "employees.manager_id -> employees.id",
        "customers.rep_id -> employees.id",
    ],
)


@pytest.mark.parametrize("backend", [SQLITE, PG, PG_RANGES, MARIADB])
def test_referenced_table_with_a_management_chain(check, backend: str) -> None:
    check(
        backend,
        CHAIN,
        [
            Variant(
                "chain",
                {"roots": {"customers": "region = 'US'"}},
                {"customers": "root", "employees": "referenced", "departments": "referenced"},
                {
                    "customers": {100, 101, 102, 105},
                    # the reps 3 and 8 and everyone above them; not 4, 5, 6 (EU side) nor 9 (below a rep)
                    "employees": {1, 2, 3, 7, 8},
                    # the departments of those five employees, managers included
                    "departments": {1, 2, 4},
                },
            ),
        ],
    )


# -- 4. a cycle of two tables: favourite posts --------------------------------------------------------

_FAVOURITE_ROWS = [
    "INSERT INTO users (id, region) VALUES (1, 'US'), (2, 'US'), (3, 'EU'), (4, 'US'), (5, 'US')",
    "INSERT INTO posts VALUES (10, 1), (11, 2), (12, 3), (13, 4), (14, 2)",
    "UPDATE users SET favorite_post_id = 10 WHERE id = 1",  # their own post
    "UPDATE users SET favorite_post_id = 12 WHERE id = 2",  # the EU user's post
    "UPDATE users SET favorite_post_id = 13 WHERE id = 3",
    "UPDATE users SET favorite_post_id = 11 WHERE id = 5",  # a post of user 2
]
_POSTS = "CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES users (id))"
FAVOURITES = Case(
    # SQLite accepts a reference to a table created later; PostgreSQL needs the key added afterwards.
    statements=[
        "CREATE TABLE users (id INTEGER PRIMARY KEY, region VARCHAR(2) NOT NULL,"
        " favorite_post_id INTEGER REFERENCES posts (id))",
        _POSTS,
        *_FAVOURITE_ROWS,
    ],
    pg_statements=[
        "CREATE TABLE users (id INTEGER PRIMARY KEY, region VARCHAR(2) NOT NULL, favorite_post_id INTEGER)",
        _POSTS,
        "ALTER TABLE users ADD FOREIGN KEY (favorite_post_id) REFERENCES posts (id)",
        *_FAVOURITE_ROWS,
    ],
    keys={"users": ("id",), "posts": ("id",)},
    foreign_keys=["users.favorite_post_id -> posts.id", "posts.author_id -> users.id"],
)


@pytest.mark.parametrize("backend", [SQLITE, PG, PG_RANGES, PG_TO_MARIADB, MARIADB])
def test_cycle_of_two_tables(check, backend: str) -> None:
    kinds = {"users": "root", "posts": "scoped"}
    favourite = {"from": "users.favorite_post_id", "to": "posts.id"}
    check(
        backend,
        FAVOURITES,
        [
            # Plan-wide nullify, drop on the favourite (the per-relation setting wins). The greatest fixpoint:
            # 1 and its post 10 keep each other. 2 dangles (post 12 is EU): dropped, so its posts 11 and 14
            # go, so 5 (favourite 11) dangles and goes too. 4 has no favourite.
            Variant(
                "drop",
                {"roots": US, "dangling": "nullify", "relations": [{**favourite, "dangling": "drop"}]},
                kinds,
                {"users": Rows(("id", "favorite_post_id"), {(1, 10), (4, None)}), "posts": {10, 13}},
                dangling={("users", "users.favorite_post_id -> posts.id"): ("drop", 2)},
            ),  # 2 and 5
            # Plan-wide drop, nullify on the favourite: 2 stays without a favourite; 5 keeps post 11.
            Variant(
                "nullify",
                {"roots": US, "dangling": "drop", "relations": [{**favourite, "dangling": "nullify"}]},
                kinds,
                {
                    "users": Rows(("id", "favorite_post_id"), {(1, 10), (2, None), (4, None), (5, 11)}),
                    "posts": {10, 11, 13, 14},
                },
                dangling={("users", "users.favorite_post_id -> posts.id"): ("nullify", 1)},
            ),
        ],
    )


# -- 5. composite keys --------------------------------------------------------------------------------

ORDERS = Case(
    statements=[
        USERS,
        "CREATE TABLE prices (sku VARCHAR(10) NOT NULL, currency VARCHAR(3) NOT NULL, amount INTEGER NOT NULL,"
        " PRIMARY KEY (sku, currency))",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id))",
        "CREATE TABLE order_lines (order_id INTEGER NOT NULL REFERENCES orders (id), line_no INTEGER NOT NULL,"
        " sku VARCHAR(10) NOT NULL, currency VARCHAR(3) NOT NULL, qty INTEGER NOT NULL,"
        " PRIMARY KEY (order_id, line_no), FOREIGN KEY (sku, currency) REFERENCES prices (sku, currency))",
        "CREATE TABLE shipments (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, line_no INTEGER NOT NULL,"
        " carrier VARCHAR(10), FOREIGN KEY (order_id, line_no) REFERENCES order_lines (order_id, line_no))",
        "INSERT INTO users VALUES (1, 'US'), (2, 'EU')",
        "INSERT INTO prices VALUES ('A', 'USD', 5), ('A', 'EUR', 6), ('B', 'USD', 7), ('B', 'EUR', 8),"
        " ('C', 'USD', 9), ('C', 'EUR', 10)",
        "INSERT INTO orders VALUES (10, 1), (11, 2), (12, 1)",
        "INSERT INTO order_lines VALUES (10, 1, 'A', 'USD', 1), (10, 2, 'B', 'USD', 2), (11, 1, 'A', 'EUR', 3),"
        " (11, 2, 'B', 'EUR', 4), (12, 1, 'C', 'USD', 5), (12, 2, 'A', 'USD', 6)",
        "INSERT INTO shipments VALUES (100, 10, 1, 'ups'), (101, 10, 2, 'dhl'), (102, 11, 1, 'ups'),"
        " (103, 12, 2, 'ups'), (104, 12, 1, 'fedex'), (105, 11, 2, 'dhl')",
    ],
    keys={
        "users": ("id",),
        "orders": ("id",),
        "shipments": ("id",),
        "order_lines": ("order_id", "line_no"),
        "prices": ("sku", "currency"),
    },
    foreign_keys=[
        "orders.user_id -> users.id",
        "order_lines.order_id -> orders.id",
        "order_lines.(sku, currency) -> prices.(sku, currency)",
        "shipments.(order_id, line_no) -> order_lines.(order_id, line_no)",
    ],
)


@pytest.mark.parametrize("backend", [SQLITE, PG, PG_RANGES, MARIADB])
def test_composite_keys(check, backend: str) -> None:
    check(
        backend,
        ORDERS,
        [
            Variant(
                "composite",
                {"roots": US},
                {
                    "users": "root",
                    "orders": "scoped",
                    "order_lines": "scoped",
                    "shipments": "scoped",
                    "prices": "referenced",
                },
                {
                    "users": {1},
                    "orders": {10, 12},
                    "order_lines": Rows(
                        ("order_id", "line_no", "sku", "currency", "qty"),
                        {
                            (10, 1, "A", "USD", 1),
                            (10, 2, "B", "USD", 2),
                            (12, 1, "C", "USD", 5),
                            (12, 2, "A", "USD", 6),
                        },
                    ),
                    # 105 -> (11, 2): line 2 of order 10 is kept, line 2 of order 11 is not
                    "shipments": Rows(
                        ("id", "order_id", "line_no", "carrier"),
                        {
                            (100, 10, 1, "ups"),
                            (101, 10, 2, "dhl"),
                            (103, 12, 2, "ups"),
                            (104, 12, 1, "fedex"),
                        },
                    ),
                    # B and A in EUR are not pulled although B and A in USD are
                    "prices": Rows(("sku", "currency", "amount"), {("A", "USD", 5), ("B", "USD", 7), ("C", "USD", 9)}),
                },
            ),
        ],
    )


# -- 6. a table without a primary key -----------------------------------------------------------------

EVENTS = Case(
    statements=[
        USERS,
        "CREATE TABLE events (user_id INTEGER REFERENCES users (id), kind VARCHAR(10) NOT NULL,"
        " happened_at INTEGER NOT NULL)",
        "INSERT INTO users VALUES (1, 'US'), (2, 'US'), (3, 'EU')",
        "INSERT INTO events VALUES (1, 'login', 100), (1, 'login', 100), (1, 'click', 101), (2, 'login', 102),"
        " (3, 'login', 103), (NULL, 'boot', 104), (3, 'click', 105), (2, 'click', 106)",
    ],
    keys={"users": ("id",)},
    foreign_keys=["events.user_id -> users.id"],
)


@pytest.mark.parametrize("backend", [SQLITE])
def test_table_without_a_primary_key(check, backend: str) -> None:
    check(
        backend,
        EVENTS,
        [
            Variant(
                "no-key",
                {"roots": US},
                {"users": "root", "events": "scoped"},
                {
                    "users": {1, 2},
                    # the source's duplicate row exactly twice, nothing more; the NULL user's event is in nobody's
                    # scope
                    "events": Rows(
                        ("user_id", "kind", "happened_at"),
                        [
                            (1, "login", 100),
                            (1, "login", 100),
                            (1, "click", 101),
                            (2, "login", 102),
                            (2, "click", 106),
                        ],
                        bag=True,
                    ),
                },
            ),
        ],
    )


# -- 7. dangling: fail ------------------------------------------------------------------------------

FAILING = Case(
    statements=[
        USERS,
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id))",
        "CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL REFERENCES posts (id),"
        " author_id INTEGER NOT NULL REFERENCES users (id))",
        "INSERT INTO users VALUES (1, 'US'), (2, 'US'), (3, 'EU')",
        "INSERT INTO posts VALUES (10, 1), (11, 2), (12, 3)",
        # 101 and 102: EU author on a US post (dangling); 103 is out of scope altogether (not dangling)
        "INSERT INTO comments VALUES (100, 10, 1), (101, 10, 3), (102, 11, 3), (103, 12, 3), (104, 11, 2)",
    ],
    keys={"users": ("id",), "posts": ("id",), "comments": ("id",)},
    foreign_keys=["posts.user_id -> users.id", "comments.post_id -> posts.id", "comments.author_id -> users.id"],
)


@pytest.mark.parametrize("backend", [SQLITE])
def test_dangling_fail_writes_nothing(check, backend: str) -> None:
    kinds = {"users": "root", "posts": "scoped", "comments": "scoped"}
    named = ("comments.author_id -> users.id", "2 rows")
    counted = {
        ("comments", "comments.author_id -> users.id"): ("fail", 2),
        ("comments", "comments.post_id -> posts.id"): ("fail", 0),
        ("posts", "posts.user_id -> users.id"): ("fail", 0),
    }
    check(
        backend,
        FAILING,
        [
            Variant("plan-wide", {"roots": US, "dangling": "fail"}, kinds, fails=named, dangling=counted),
            Variant(
                "per-relation",
                {
                    "roots": US,
                    "dangling": "drop",
                    "relations": [{"from": "comments.author_id", "to": "users.id", "dangling": "fail"}],
                },
                kinds,
                fails=named,
                dangling={("comments", "comments.author_id -> users.id"): ("fail", 2)},
            ),
        ],
    )


# -- 8. a where on a scoped table makes its children dangle --------------------------------------------

SOFT_DELETE = Case(
    statements=[
        USERS,
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id),"
        " deleted INTEGER NOT NULL)",
        "CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL REFERENCES posts (id),"
        " author_id INTEGER NOT NULL REFERENCES users (id))",
        "CREATE TABLE bookmarks (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id),"
        " post_id INTEGER REFERENCES posts (id))",
        "INSERT INTO users VALUES (1, 'US'), (2, 'EU')",
        "INSERT INTO posts VALUES (10, 1, 0), (11, 1, 1), (12, 2, 0), (13, 1, 0)",  # 11 is deleted
        "INSERT INTO comments VALUES (100, 10, 1), (101, 11, 1), (102, 10, 2), (103, 12, 1), (104, 13, 1),"
        " (105, 11, 2)",
        "INSERT INTO bookmarks VALUES (200, 1, 10), (201, 1, 11), (202, 1, NULL), (203, 2, 10), (204, 1, 12),"
        " (205, 2, 11)",
    ],
    keys={"users": ("id",), "posts": ("id",), "comments": ("id",), "bookmarks": ("id",)},
    foreign_keys=[
        "posts.user_id -> users.id",
        "comments.post_id -> posts.id",
        "comments.author_id -> users.id",
        "bookmarks.user_id -> users.id",
        "bookmarks.post_id -> posts.id",
    ],
)


@pytest.mark.parametrize("backend", [SQLITE])
def test_where_makes_children_dangle(check, backend: str) -> None:
    kinds = {"users": "root", "posts": "scoped", "comments": "scoped", "bookmarks": "scoped"}
    data = {"roots": US, "tables": {"posts": {"where": "deleted = 0"}}, "dangling": "drop"}
    # through posts.id alone: comments 101 (deleted post) and 103 (EU post), bookmarks 201 and 204
    dangling = {
        ("comments", "comments.post_id -> posts.id"): ("drop", 2),
        ("bookmarks", "bookmarks.post_id -> posts.id"): ("drop", 2),
    }
    check(
        backend,
        SOFT_DELETE,
        [
            Variant(
                "drop",
                data,
                kinds,
                {
                    "users": {1},
                    "posts": {10, 13},
                    "comments": {100, 104},  # 101 is on the deleted post; 102, 103, 105 touch the EU side
                    # 201 points at the deleted post, 204 at the EU post, 203 and 205 are the EU user's
                    "bookmarks": Rows(("id", "post_id"), {(200, 10), (202, None)}),
                },
                dangling=dangling,
            ),
            Variant(
                "nullify",
                {**data, "relations": [{"from": "bookmarks.post_id", "to": "posts.id", "dangling": "nullify"}]},
                kinds,
                {
                    "users": {1},
                    "posts": {10, 13},
                    "comments": {100, 104},
                    "bookmarks": Rows(("id", "post_id"), {(200, 10), (201, None), (202, None), (204, None)}),
                },
                dangling={**dangling, ("bookmarks", "bookmarks.post_id -> posts.id"): ("nullify", 2)},
            ),
        ],
    )


# -- 9. a virtual relation ----------------------------------------------------------------------------

UNDECLARED = Case(
    statements=[
        USERS,
        "CREATE TABLE events (id INTEGER PRIMARY KEY, actor_id INTEGER, kind VARCHAR(10))",  # no foreign key
        "INSERT INTO users VALUES (1, 'US'), (2, 'EU')",
        "INSERT INTO events VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 1, 'c'), (4, NULL, 'd'), (5, 99, 'e')",
    ],
    keys={"users": ("id",), "events": ("id",)},
    foreign_keys=["events.actor_id -> users.id"],
)


@pytest.mark.parametrize("backend", [SQLITE])
def test_virtual_relation(check, backend: str) -> None:
    check(
        backend,
        UNDECLARED,
        [
            Variant(
                "relation",
                {"roots": US, "relations": [{"from": "events.actor_id", "to": "users.id"}]},
                {"users": "root", "events": "scoped"},
                {"users": {1}, "events": {1, 3}},  # not 4 (no actor) nor 5 (an actor that does not exist)
            ),
            Variant("unlisted", {"roots": US, "unlisted": "fail"}, rejected=("no rule reaches", "events")),
        ],
    )


# A relation may point at columns that are no key of the parent: several kept parents then share a
# value, and a child row is still counted (and copied) once.
SHARED_VALUE = Case(
    statements=[
        "CREATE TABLE users (id INTEGER PRIMARY KEY, region VARCHAR(2) NOT NULL, team VARCHAR(5) NOT NULL)",
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, team VARCHAR(5))",  # no foreign key: team is no key
        "INSERT INTO users VALUES (1, 'US', 'a'), (2, 'US', 'a'), (3, 'EU', 'b'), (4, 'US', 'c')",
        "INSERT INTO docs VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, NULL), (5, 'z')",
    ],
    keys={"users": ("id",), "docs": ("id",)},
    foreign_keys=[],  # I1 asks for a key in the parent; the rows below are the check
)


@pytest.mark.parametrize("backend", [SQLITE, PG, PG_RANGES, MARIADB])
def test_relation_to_columns_that_are_no_key(check, backend: str) -> None:
    check(
        backend,
        SHARED_VALUE,
        [
            Variant(
                "shared",
                {"roots": US, "relations": [{"from": "docs.team", "to": "users.team"}]},
                {"users": "root", "docs": "scoped"},
                # doc 1's team has two US users and is counted once; doc 2's only user is in the EU
                {"users": {1, 2, 4}, "docs": {1, 3}},
            ),
        ],
    )


# -- 10. tables: all and skip ---------------------------------------------------------------------------

ALL_AND_SKIP = Case(
    statements=[
        "CREATE TABLE countries (id INTEGER PRIMARY KEY, name VARCHAR(20))",
        "CREATE TABLE teams (id INTEGER PRIMARY KEY, name VARCHAR(20))",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, region VARCHAR(2) NOT NULL,"
        " country_id INTEGER NOT NULL REFERENCES countries (id), team_id INTEGER REFERENCES teams (id))",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id))",
        "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id))",
        "INSERT INTO countries VALUES (1, 'us'), (2, 'de'), (3, 'fr')",
        "INSERT INTO teams VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        "INSERT INTO users VALUES (1, 'US', 1, NULL), (2, 'US', 1, 1), (3, 'EU', 2, NULL), (4, 'US', 2, 2)",
        "INSERT INTO posts VALUES (10, 1), (11, 2), (12, 3), (13, 4)",
        "INSERT INTO audit_log VALUES (1, 1), (2, 2), (3, 3)",
    ],
    keys={"countries": ("id",), "teams": ("id",), "users": ("id",), "posts": ("id",), "audit_log": ("id",)},
    foreign_keys=[
        "users.country_id -> countries.id",
        "users.team_id -> teams.id",
        "posts.user_id -> users.id",
        "audit_log.user_id -> users.id",
    ],
)


@pytest.mark.parametrize("backend", [SQLITE])
def test_all_and_skip(check, backend: str) -> None:
    kinds = {"countries": "all", "teams": "skip", "users": "root", "posts": "scoped", "audit_log": "skip"}
    tables = {"countries": "all", "teams": "skip", "audit_log": "skip"}
    check(
        backend,
        ALL_AND_SKIP,
        [
            # every country, unused 3 included; no team, no audit row; users 2 and 4 point at a skipped team
            Variant(
                "drop",
                {"roots": US, "tables": tables, "dangling": "drop"},
                kinds,
                {
                    "countries": {1, 2, 3},
                    "teams": set(),
                    "audit_log": set(),
                    "users": Rows(("id", "team_id"), {(1, None)}),
                    "posts": {10},
                },
            ),
            Variant(
                "nullify",
                {"roots": US, "tables": tables, "dangling": "nullify"},
                kinds,
                {
                    "countries": {1, 2, 3},
                    "teams": set(),
                    "audit_log": set(),
                    "users": Rows(("id", "team_id"), {(1, None), (2, None), (4, None)}),
                    "posts": {10, 11, 13},
                },
            ),
        ],
    )


# -- 11. rule 1: children of parents are not followed ---------------------------------------------------

CATALOG = Case(
    statements=[
        USERS,
        "CREATE TABLE vendors (id INTEGER PRIMARY KEY, name VARCHAR(20))",
        "CREATE TABLE products (id INTEGER PRIMARY KEY, vendor_id INTEGER NOT NULL REFERENCES vendors (id))",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id))",
        "CREATE TABLE order_lines (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders (id),"
        " product_id INTEGER NOT NULL REFERENCES products (id))",
        "CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products (id),"
        " reviewer_region VARCHAR(2) NOT NULL)",
        "INSERT INTO users VALUES (1, 'US'), (2, 'EU')",
        "INSERT INTO vendors VALUES (1, 'v1'), (2, 'v2'), (3, 'v3')",
        "INSERT INTO products VALUES (1, 1), (2, 1), (3, 2), (4, 3)",
        "INSERT INTO orders VALUES (10, 1), (11, 2)",
        "INSERT INTO order_lines VALUES (100, 10, 1), (101, 10, 2), (102, 11, 3)",
        "INSERT INTO reviews VALUES (1, 1, 'EU'), (2, 3, 'EU'), (3, 2, 'US')",
    ],
    keys={t: ("id",) for t in ("users", "vendors", "products", "orders", "order_lines", "reviews")},
    foreign_keys=[
        "products.vendor_id -> vendors.id",
        "orders.user_id -> users.id",
        "order_lines.order_id -> orders.id",
        "order_lines.product_id -> products.id",
        "reviews.product_id -> products.id",
    ],
)


@pytest.mark.parametrize("backend", [SQLITE])
def test_children_of_parents_are_not_followed(check, backend: str) -> None:
    check(
        backend,
        CATALOG,
        [
            # reviews hang off products, a parent: no rule reaches them, and unlisted: fail is the default
            Variant("unlisted", {"roots": US}, rejected=("no rule reaches", "reviews")),
            Variant(
                "reviews-skipped",
                {"roots": US, "tables": {"reviews": "skip"}},
                {
                    "users": "root",
                    "orders": "scoped",
                    "order_lines": "scoped",
                    "products": "referenced",
                    "vendors": "referenced",
                    "reviews": "skip",
                },
                {
                    "users": {1},
                    "orders": {10},
                    "order_lines": {100, 101},
                    "products": {1, 2},  # those the US order lines point to; not 3 (EU) nor 4 (unsold)
                    "vendors": {1},  # the parent of products 1 and 2
                    "reviews": set(),  # not even review 3, a US reviewer's review of a copied product
                },
            ),
        ],
    )
