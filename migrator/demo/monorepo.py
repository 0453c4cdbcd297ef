"""The demo's global monorepo: one repository for every region, whose US mirror leaves Europe behind.

`ROOT/source/git/monorepo.git` (bare) holds the app, `region/eu/` and `region/us/` folders, and in
its history a `config/global.env` that once held a database password and a cloud key (removed two
commits later, as happens: the file is gone, the secret is still in the history). plans/demo.yaml
mirrors it to `ROOT/us/git/monorepo-us.git` without `region/eu/` and without any `*.env` file, ever,
and with customer ids scrubbed from the commit messages. A test fixture holds AWS's documented example
key; the plan allows it by its hash, as a team allows a known test key.

The history is written as a `git fast-import` stream with fixed authors and dates, so its commit ids
(and the mirror's) are the same wherever it is generated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from migrator.stores.git.fast_import import import_history

BASE_TIME = 1672531200  # 2023-01-01T00:00:00Z, as the rest of the demo
DAY = 86400
ALICE = "Alice Global <alice@global.example>"
BOB = "Bob Europe <bob@eu.global.example>"
CAROL = "Carol States <carol@us.global.example>"
# AWS's documented example access key id: not a secret, and the demo plan allows it by its hash.
EXAMPLE_KEY = "AKIAIOSFODNN7EXAMPLE"
# The secrets planted in the history: made-up values, of the shapes a scanner knows.
PLANTED_PASSWORD = "Zq7-global-Prod-db-4f9e2b"
PLANTED_KEY = "AKIAJ3GLOBALPRODKEY7Q"[:20]


@dataclass
class Commit:
    ref: str
    author: str
    day: int
    message: str
    files: dict[str, str | None] = field(default_factory=dict)  # path -> content; None deletes it
    merge: str | None = None  # a mark to merge in


HISTORY: list[Commit] = [
    Commit(
        "refs/heads/main",
        ALICE,
        0,
        "Start the global app",
        {
            "README.md": "# Global app\n\nOne codebase, every region.\n",
            "app/__init__.py": "",
            "app/main.py": 'from app.feed import feed\n\n\ndef main():\n    print(feed("world"))\n',
            "app/feed.py": 'def feed(region):\n    return f"top posts for {region}"\n',
            "region/us/settings.yaml": "region: us\ncurrency: USD\n",
            "region/eu/settings.yaml": "region: eu\ncurrency: EUR\ngdpr: true\n",
        },
    ),
    Commit(
        "refs/heads/main",
        ALICE,
        1,
        "Configure the production database\n\nCustomer-Id: 4711 asked for the new replica.\n",
        {
            "config/global.env": f"DB_HOST=db.global.example\nDB_PASSWORD={PLANTED_PASSWORD}\n"
            f"AWS_ACCESS_KEY_ID={PLANTED_KEY}\n",
            "app/db.py": 'import os\n\nDSN = os.environ["DB_HOST"]\n',
        },
    ),
    Commit(
        "refs/heads/main",
        BOB,
        2,
        "EU: export a user's data on request (GDPR art. 15)",
        {"region/eu/gdpr_export.py": "def export(user_id):\n    return {'user': user_id}\n"},
    ),
    Commit(
        "refs/heads/main",
        ALICE,
        3,
        "Move the secrets to the vault",
        {"config/global.env": None, "config/README.md": "Secrets live in the vault, never in git.\n"},
    ),
    Commit(
        "refs/heads/main",
        CAROL,
        4,
        "US: ranker settings",
        {"region/us/ranker.yaml": "model: recsys/us-ranker\nthreshold: 0.4\n"},
    ),
    Commit(
        "refs/heads/main",
        BOB,
        5,
        "EU: tighten retention",
        {"region/eu/settings.yaml": "region: eu\ncurrency: EUR\ngdpr: true\nretention_days: 30\n"},
    ),
    Commit(
        "refs/heads/main",
        CAROL,
        6,
        "Test the S3 client against a fake key",
        {"tests/test_storage.py": f'FAKE_KEY = "{EXAMPLE_KEY}"\n\n\ndef test_key():\n    assert FAKE_KEY\n'},
    ),
    Commit(
        "refs/heads/main",
        ALICE,
        7,
        "Feed: rank by region",
        {"app/feed.py": 'def feed(region):\n    return f"ranked posts for {region}"\n'},
    ),
]
RELEASE_AT = 5  # refs/heads/release/1.0 and the tag v1.0 point at the 5th commit (US ranker settings)
EU_BRANCH = Commit(
    "refs/heads/eu/cookie-banner",
    BOB,
    8,
    "EU: cookie banner",
    {"region/eu/cookies.py": "BANNER = True\n"},
)


def monorepo_stream() -> bytes:
    """The fast-import stream of the whole history, branches and tags included."""
    out: list[bytes] = []
    for mark, commit in enumerate(HISTORY, start=1):
        out.append(_commit(commit, mark, mark - 1 if mark > 1 else None))
        if mark == RELEASE_AT:
            out.append(f"reset refs/heads/release/1.0\nfrom :{mark}\n\n".encode())
            out.append(_tag("v1.0", mark, ALICE, RELEASE_AT, "Release 1.0\n"))
    out.append(_commit(EU_BRANCH, len(HISTORY) + 1, len(HISTORY)))
    out.append(b"done\n")
    return b"".join(out)


def write_monorepo(folder: Path) -> Path:
    """Write `folder/monorepo.git` (bare), replacing an earlier one; return its path."""
    bare = folder / "monorepo.git"
    import_history(bare, monorepo_stream())
    return bare


def _commit(commit: Commit, mark: int, parent: int | None) -> bytes:
    when = f"{BASE_TIME + commit.day * DAY} +0000"
    lines = [
        f"commit {commit.ref}",
        f"mark :{mark}",
        f"author {commit.author} {when}",
        f"committer {commit.author} {when}",
    ]
    head = "\n".join(lines).encode() + b"\n" + _data(commit.message)
    if parent is not None:
        head += f"from :{parent}\n".encode()
    for path, content in sorted(commit.files.items()):
        head += f"D {path}\n".encode() if content is None else f"M 100644 inline {path}\n".encode() + _data(content)
    return head + b"\n"


def _tag(name: str, mark: int, tagger: str, day: int, message: str) -> bytes:
    head = f"tag {name}\nfrom :{mark}\ntagger {tagger} {BASE_TIME + day * DAY} +0000\n".encode()
    return head + _data(message)


def _data(text: str) -> bytes:
    body = text.encode("utf-8")
    return f"data {len(body)}\n".encode() + body + b"\n"
