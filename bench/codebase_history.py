"""A generated monorepo history for the codebase benchmark, as a `git fast-import` stream.

`history_stream(commits, seed)` gives a linear main line with a side branch merged back every 250
commits; every commit changes one to three files of a tree of about 400 (app code, `region/eu/`,
`region/us/`, a few `.env` files), sometimes adds or deletes one. Authors and dates are fixed, so the
same arguments give the same commit ids. `more_commits` continues a history from its main tip.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

BASE_TIME = 1672531200
AUTHORS = ("Ada <ada@global.example>", "Ben <ben@eu.global.example>", "Cy <cy@us.global.example>")
FOLDERS = [f"app/module{i:02d}" for i in range(30)] + [f"region/eu/svc{i}" for i in range(8)]
FOLDERS += [f"region/us/svc{i}" for i in range(8)] + ["config", "docs"]
EXCLUDED_GLOBS = ["region/eu/**", "**/*.env"]  # what the benchmark's plan keeps out


@dataclass
class Tree:
    files: dict[str, int] = field(default_factory=dict)  # path -> version

    def content(self, path: str) -> bytes:
        version = self.files[path]
        lines = [f"# {path} version {version}"] + [f"value_{i} = {version * 31 + i}" for i in range(25)]
        return ("\n".join(lines) + "\n").encode()


def _initial(rng: random.Random) -> Tree:
    tree = Tree()
    for folder in FOLDERS:
        for j in range(8):
            suffix = ".env" if folder == "config" and j < 3 else ".py"
            tree.files[f"{folder}/file{j}{suffix}"] = 0
    return tree


def _data(body: bytes) -> bytes:
    return f"data {len(body)}\n".encode() + body + b"\n"


def _commit(ref: str, mark: int, n: int, parents: list[str], changes: list[tuple[str, bytes | None]]) -> bytes:
    """One commit; a parent is a mark (`:12`) or a commit id already in the repository."""
    author = AUTHORS[n % len(AUTHORS)]
    when = f"{BASE_TIME + n * 60} +0000"
    out = f"commit {ref}\nmark :{mark}\nauthor {author} {when}\ncommitter {author} {when}\n".encode()
    out += _data(f"Change {n}\n".encode())
    if parents:
        out += f"from {parents[0]}\n".encode()
        out += b"".join(f"merge {p}\n".encode() for p in parents[1:])
    for path, content in changes:
        out += f"D {path}\n".encode() if content is None else f"M 100644 inline {path}\n".encode() + _data(content)
    return out + b"\n"


def _changes(rng: random.Random, tree: Tree) -> list[tuple[str, bytes | None]]:
    changes: list[tuple[str, bytes | None]] = []
    roll = rng.random()
    if roll < 0.05:
        path = f"{rng.choice(FOLDERS)}/new{len(tree.files)}.py"
        tree.files[path] = 0
        changes.append((path, tree.content(path)))
    elif roll < 0.07 and len(tree.files) > 50:
        path = rng.choice(sorted(tree.files))
        del tree.files[path]
        changes.append((path, None))
    for path in rng.sample(sorted(tree.files), rng.randint(1, 3)):
        tree.files[path] += 1
        changes.append((path, tree.content(path)))
    return changes


def history_stream(commits: int, seed: int = 11, start: int = 0) -> bytes:
    """`commits` commits on refs/heads/main (a side branch merged every 250), then `done`."""
    rng = random.Random(seed)
    tree = _initial(rng)
    out = [_commit("refs/heads/main", 1, 0, [], [(p, tree.content(p)) for p in sorted(tree.files)])]
    mark, main_tip, n = 1, 1, 1
    while n < commits:
        if n % 250 == 0 and n + 4 <= commits:
            side_tip = main_tip
            for _ in range(2):  # two commits on a side branch, one on main, then the merge
                mark += 1
                out.append(_commit("refs/heads/side", mark, n, [f":{side_tip}"], _changes(rng, tree)))
                side_tip, n = mark, n + 1
            mark += 1
            out.append(_commit("refs/heads/main", mark, n, [f":{main_tip}"], _changes(rng, tree)))
            main_tip, n = mark, n + 1
            mark += 1
            out.append(_commit("refs/heads/main", mark, n, [f":{main_tip}", f":{side_tip}"], []))
            main_tip, n = mark, n + 1
            continue
        mark += 1
        out.append(_commit("refs/heads/main", mark, n, [f":{main_tip}"], _changes(rng, tree)))
        main_tip, n = mark, n + 1
    out.append(b"reset refs/heads/side\nfrom 0000000000000000000000000000000000000000\n\n")
    return b"".join(out) + b"done\n"


def more_commits(tip: str, commits: int, seed: int, first: int) -> bytes:
    """`commits` more commits on refs/heads/main after commit `tip` (a full id), numbered from `first`."""
    rng = random.Random(seed)
    tree = _initial(rng)
    out = []
    for i in range(commits):
        parent = tip if i == 0 else f":{i}"
        changes = [(path, content) for path, content in _changes(rng, tree) if content is not None]
        out.append(_commit("refs/heads/main", i + 1, first + i, [parent], changes))
    return b"".join(out) + b"done\n"
