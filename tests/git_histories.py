"""Generated git histories with fixed authors and dates, so every object id is pinned.

Each scenario function builds a bare repository in a given folder and returns a `Scenario`: its refs
and the rules it is meant to be mirrored with. The rewrite tests, the differential test against
git-filter-repo and the end-to-end tests of the sync reuse them. Objects are written raw through
pygit2 (tests may use it directly), which lets a scenario hold what porcelain would refuse or
normalise: an encoding header, a signature header, a gitlink without its repository.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from migrator.codebase.rules import Replacement, RepoRules

START = 1_700_000_000  # 2023-11-14T22:13:20Z; each commit one minute later
AUTHOR = b"Ada Lovelace <ada@example.com>"
COMMITTER = b"Grace Hopper <grace@example.com>"
FILE, EXEC, LINK, GITLINK = b"100644", b"100755", b"120000", b"160000"

# A planted AWS key id (the documented example shape) and a test key the rules allowlist.
PLANTED_SECRET = b"AKIAIOSFODNN7EXAMPLE"
ALLOWED_SECRET = b"AKIAALLOWEDTESTKEY00"
LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n"
)
FAKE_SIGNATURE = (
    b"gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEEexampleexampleexample\n =abcd\n"
    b" -----END PGP SIGNATURE-----"
)

Entry = tuple[bytes, bytes]  # (mode, content); a gitlink's content is the submodule commit's hex


@dataclass
class Scenario:
    path: Path
    refs: dict[str, str]  # every ref of the source -> object id (annotated tags: the tag object)
    rules: RepoRules
    # Why git-filter-repo's trees legitimately differ from migrator's, for the differential test.
    filter_repo_differs: str | None = None
    marks: dict[str, str] = field(default_factory=dict)  # named commits, for assertions


class History:
    """Builds commits on named branches from file states; everything raw, every date fixed."""

    def __init__(self, path: Path):
        self.path = path
        self.repo = pygit2.init_repository(str(path), bare=True)
        self.clock = START
        self.states: dict[str, dict[str, Entry]] = {}  # commit hex -> its files
        self.marks: dict[str, str] = {}

    # Objects ---------------------------------------------------------------------------------------

    def _write(self, kind: int, data: bytes) -> bytes:
        return self.repo.odb.write(kind, data).raw

    def _tree(self, files: dict[str, Entry]) -> bytes:
        children: dict[bytes, dict[str, Entry]] = {}
        entries: list[tuple[bytes, bytes, bytes]] = []
        for path, (mode, content) in files.items():
            head, _, rest = path.partition("/")
            if rest:
                children.setdefault(head.encode(), {})[rest] = (mode, content)
            elif mode == GITLINK:
                entries.append((mode, head.encode(), bytes.fromhex(content.decode())))
            else:
                entries.append((mode, head.encode(), self._write(pygit2.GIT_OBJECT_BLOB, content)))
        for name, sub in children.items():
            entries.append((b"40000", name, self._tree(sub)))
        entries.sort(key=lambda e: e[1] + (b"/" if e[0] == b"40000" else b""))
        return self._write(pygit2.GIT_OBJECT_TREE, b"".join(b"%s %s\x00%s" % e for e in entries))

    def commit(
        self,
        branch: str | None,
        changes: dict[str, Entry | bytes | None],
        message: bytes,
        *,
        parents: list[str] | None = None,
        extra_headers: bytes = b"",
        mark: str | None = None,
    ) -> str:
        """A commit on `branch` (its tip is the first parent unless `parents` is given): the first
        parent's files with `changes` applied (None deletes; bytes is a regular file's content)."""
        ref = f"refs/heads/{branch}" if branch else None
        if parents is None:
            parents = [str(self.repo.references[ref].target)] if ref and ref in self.repo.references else []
        files = dict(self.states[parents[0]]) if parents else {}
        for path, change in changes.items():
            if change is None:
                for existing in [p for p in files if p == path or p.startswith(path + "/")]:
                    del files[existing]
            else:
                files[path] = (FILE, change) if isinstance(change, bytes) else change
        self.clock += 60
        stamp = b"%d +0000" % self.clock
        data = b"tree " + self._tree(files).hex().encode() + b"\n"
        data += b"".join(b"parent " + p.encode() + b"\n" for p in parents)
        data += b"author " + AUTHOR + b" " + stamp + b"\ncommitter " + COMMITTER + b" " + stamp + b"\n"
        data += extra_headers + b"\n" + message
        commit = self._write(pygit2.GIT_OBJECT_COMMIT, data).hex()
        self.states[commit] = files
        if ref:
            self.repo.references.create(ref, commit, force=True)
        if mark:
            self.marks[mark] = commit
        return commit

    def lightweight_tag(self, name: str, target: str) -> None:
        self.repo.references.create(f"refs/tags/{name}", target, force=True)

    def annotated_tag(self, name: str, target: str, message: bytes, kind: bytes = b"commit", ref: bool = True) -> str:
        self.clock += 60
        data = b"object %s\ntype %s\ntag %s\ntagger %s %d +0000\n\n" % (
            target.encode(),
            kind,
            name.encode(),
            COMMITTER,
            self.clock,
        )
        tag = self._write(pygit2.GIT_OBJECT_TAG, data + message).hex()
        if ref:
            self.repo.references.create(f"refs/tags/{name}", tag, force=True)
        return tag

    def tree_of(self, commit: str) -> str:
        return str(self.repo[commit].tree_id)

    def refs(self) -> dict[str, str]:
        return {name: str(self.repo.references[name].target) for name in self.repo.references}

    def scenario(self, rules: RepoRules, differs: str | None = None) -> Scenario:
        return Scenario(self.path, self.refs(), rules, differs, dict(self.marks))


def rules(name: str = "repo", **overrides: object) -> RepoRules:
    return RepoRules(name=name, target_name=name, **overrides)  # type: ignore[arg-type]


# Scenarios ---------------------------------------------------------------------------------------


def merges(path: Path) -> Scenario:
    """Branches and merges: a side that only touched the excluded folder (its merge collapses), a
    normal feature merge, a --no-ff merge of a branch main had not moved past, an octopus merge."""
    h = History(path)
    h.commit("main", {"app/main.py": b"print('hello')\n", "region/eu/data.csv": b"eu,1\n"}, b"initial\n")
    h.commit("main", {"README.md": b"# app\n"}, b"readme\n")
    base = h.commit("main", {"app/util.py": b"def f():\n    return 1\n"}, b"util\n", mark="base")
    h.commit("eu-only", {"region/eu/data.csv": b"eu,2\n"}, b"eu data\n", parents=[base])
    h.commit("eu-only", {"region/eu/more.csv": b"eu,3\n"}, b"more eu data\n")
    h.commit("main", {"app/main.py": b"print('hello, world')\n"}, b"greeting\n")
    eu_tip = h.refs()["refs/heads/eu-only"]
    eu_files = {p: e for p, e in h.states[eu_tip].items() if p.startswith("region/eu/")}
    h.commit(
        "main", eu_files, b"Merge branch 'eu-only'\n", parents=[h.refs()["refs/heads/main"], eu_tip], mark="eu-merge"
    )
    merged = dict(h.states[h.refs()["refs/heads/main"]])
    feature_base = h.refs()["refs/heads/main"]
    h.commit("feature", {"app/feature.py": b"FEATURE = True\n"}, b"feature\n", parents=[feature_base])
    h.commit("feature", {"region/eu/feature.csv": b"eu feature\n"}, b"feature eu\n")
    h.commit("main", {"app/other.py": b"x = 1\n"}, b"other\n")
    f_tip = h.refs()["refs/heads/feature"]
    main_tip = h.refs()["refs/heads/main"]
    changes = {p: e for p, e in h.states[f_tip].items() if p not in merged}
    h.commit("main", changes, b"Merge branch 'feature'\n", parents=[main_tip, f_tip], mark="feature-merge")
    # --no-ff merge of a branch that main had not moved past.
    ff_base = h.refs()["refs/heads/main"]
    h.commit("noff", {"app/noff.py": b"n = 1\n"}, b"noff\n", parents=[ff_base])
    noff_tip = h.refs()["refs/heads/noff"]
    h.commit("main", {"app/noff.py": b"n = 1\n"}, b"Merge branch 'noff'\n", parents=[ff_base, noff_tip], mark="noff")
    # Octopus: three sides, one of them only in the excluded folder.
    octo_base = h.refs()["refs/heads/main"]
    a = h.commit("octo-a", {"app/a.py": b"a\n"}, b"a\n", parents=[octo_base])
    b = h.commit("octo-b", {"app/b.py": b"b\n"}, b"b\n", parents=[octo_base])
    c = h.commit("octo-c", {"region/eu/c.csv": b"c\n"}, b"c\n", parents=[octo_base])
    h.commit(
        "main",
        {"app/a.py": b"a\n", "app/b.py": b"b\n", "region/eu/c.csv": b"c\n"},
        b"Merge branches 'octo-a', 'octo-b' and 'octo-c'\n",
        parents=[octo_base, a, b, c],
        mark="octopus",
    )
    return h.scenario(rules(paths_exclude=("region/eu/",)))


def renames(path: Path) -> Scenario:
    """Files moved into and out of an excluded folder, a copy out of it, a file that becomes a folder."""
    h = History(path)
    h.commit("main", {"app/a.py": b"a = 1\n", "region/eu/secret.txt": b"eu only\n"}, b"initial\n")
    h.commit("main", {"app/moved_in.py": b"will move into eu\n"}, b"add moved_in\n", mark="before-move-in")
    h.commit("main", {"app/moved_in.py": None, "region/eu/moved_in.py": b"will move into eu\n"}, b"move into eu\n")
    h.commit(
        "main", {"region/eu/secret.txt": None, "app/leaked.txt": b"eu only\n"}, b"move out of eu\n", mark="move-out"
    )
    h.commit("main", {"app/copy.txt": b"eu only\n"}, b"copy\n")
    h.commit("main", {"app/thing": b"a file\n"}, b"thing is a file\n")
    h.commit("main", {"app/thing": None, "app/thing/inner.txt": b"now a folder\n"}, b"thing is a folder\n")
    h.commit("main", {"app/empty": b""}, b"an empty file\n")
    h.commit("main", {"region/eu/empty": b""}, b"an empty file in eu\n")
    return h.scenario(
        rules(paths_exclude=("region/eu/",)),
        differs="git-filter-repo does not drop content that also stood at an excluded path (from_excluded)",
    )


def empty_commits(path: Path) -> Scenario:
    """Commits empty in the source (kept), and commits that only touch excluded paths (pruned)."""
    h = History(path)
    h.commit("main", {}, b"empty root\n", mark="empty-root")
    h.commit("main", {"app/a.py": b"a\n"}, b"a\n")
    h.commit("main", {}, b"empty on purpose\n", mark="empty")
    h.commit("main", {"secrets/x.env": b"X=1\n"}, b"only excluded\n", mark="only-excluded")
    h.commit("main", {"app/b.py": b"b\n", "c.env": b"C=1\n"}, b"b\n")
    h.commit("side", {"only.env": b"E=1\n"}, b"an excluded root\n", parents=[], mark="excluded-root")
    return h.scenario(rules(paths_exclude=("*.env", "secrets/")))


def tags(path: Path) -> Scenario:
    """Annotated, signed, lightweight tags, a tag of a tag, a tag of a tree, a tag on a pruned root."""
    h = History(path)
    h.commit("main", {"region/eu/only.txt": b"eu\n"}, b"eu root\n", mark="eu-root")
    first = h.commit("main", {"app/a.py": b"a\n"}, b"a\n", mark="first")
    second = h.commit("main", {"app/b.py": b"b\n"}, b"b\nPassword: hunter2\n", mark="second")
    h.annotated_tag("v1.0", first, b"release 1.0\n")
    h.annotated_tag(
        "v1.1-signed",
        second,
        b"release 1.1\n-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAd\n=abcd\n-----END PGP SIGNATURE-----\n",
    )
    inner = h.annotated_tag("inner", second, b"inner tag\n", ref=False)
    h.annotated_tag("outer", inner, b"a tag of a tag\n", kind=b"tag")
    h.lightweight_tag("light", first)
    h.annotated_tag("tree-tag", h.tree_of(second), b"a tree\n", kind=b"tree")
    h.annotated_tag("eu-tag", h.marks["eu-root"], b"the eu root\n")
    return h.scenario(
        rules(paths_exclude=("region/eu/",), message_scrub=(r"Password: \S+",)),
        differs="git-filter-repo keeps the tag of a tree; migrator drops it (no commit to map)",
    )


def encodings_and_modes(path: Path) -> Scenario:
    """A Latin-1 message with an encoding header, a signed commit, a symlink, an executable."""
    h = History(path)
    h.commit("main", {"app/run.sh": (EXEC, b"#!/bin/sh\necho hi\n"), "app/link": (LINK, b"run.sh")}, b"modes\n")
    h.commit(
        "main",
        {"app/cafe.txt": b"x\n"},
        "Caf\xe9 cr\xe8me\n".encode("latin-1"),
        extra_headers=b"encoding ISO-8859-1\n",
        mark="latin1",
    )
    h.commit("main", {"app/signed.txt": b"s\n"}, b"signed\n", extra_headers=FAKE_SIGNATURE + b"\n", mark="signed")
    h.commit("main", {"region/eu/x": b"eu x\n"}, b"eu\n", extra_headers=FAKE_SIGNATURE + b"\n", mark="signed-pruned")
    return h.scenario(rules(paths_exclude=("region/eu/",)))


def special_content(path: Path) -> Scenario:
    """A submodule, an LFS pointer, a large blob, a planted secret and an allowlisted test key."""
    h = History(path)
    h.commit(
        "main",
        {
            "app/a.py": b"a\n",
            ".gitmodules": b'[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = https://example.com/lib.git\n',
            "vendor/lib": (GITLINK, b"0123456789abcdef0123456789abcdef01234567"),
        },
        b"add a submodule\n",
        mark="submodule",
    )
    h.commit("main", {"assets/model.bin": LFS_POINTER}, b"an lfs pointer\n", mark="lfs")
    h.commit("main", {"data/big.bin": bytes(range(256)) * 400}, b"a large blob\n", mark="large")
    h.commit(
        "main",
        {"config/settings.py": b"AWS_KEY = '" + PLANTED_SECRET + b"'\nTEST_KEY = '" + ALLOWED_SECRET + b"'\n"},
        b"settings\n",
        mark="secret",
    )
    h.commit("main", {"config/settings.py": b"AWS_KEY = os.environ['AWS_KEY']\n"}, b"key from env\n")
    return h.scenario(rules(max_blob_size=50_000, submodules="keep", lfs="pointers-only"))


def monorepo(path: Path) -> Scenario:
    """A small global monorepo: app code, region/eu and region/us, a config file with a planted secret in
    its history, a merge, tags: the shape the demo mirrors."""
    h = History(path)
    h.commit(
        "main",
        {
            "app/server.py": b"def serve():\n    return 'ok'\n",
            "region/eu/deploy.yaml": b"region: eu\n",
            "region/us/deploy.yaml": b"region: us\n",
            "config/app.env": b"DEBUG=0\n",
        },
        b"initial\n",
    )
    h.commit("main", {"config/app.env": b"DEBUG=0\nAWS_KEY=" + PLANTED_SECRET + b"\n"}, b"config\n", mark="secret")
    h.commit("main", {"config/app.env": b"DEBUG=0\n"}, b"remove the key\n")
    h.commit("eu-work", {"region/eu/deploy.yaml": b"region: eu\nreplicas: 3\n"}, b"eu replicas\n")
    h.commit("main", {"app/server.py": b"PORT = 8080\n\ndef serve():\n    return 'OK'\n"}, b"a port\n")
    main_tip, eu_tip = h.refs()["refs/heads/main"], h.refs()["refs/heads/eu-work"]
    h.commit(
        "main",
        {"region/eu/deploy.yaml": b"region: eu\nreplicas: 3\n"},
        b"Merge branch 'eu-work'\n",
        parents=[main_tip, eu_tip],
    )
    h.annotated_tag("v1.0", h.refs()["refs/heads/main"], b"first release\n")
    return h.scenario(
        rules(
            paths_exclude=("region/eu/", "*.env"),
            replacements=(Replacement(paths=("app/*.py",), pattern="OK", replacement="ok"),),
        )
    )


SCENARIOS = {
    "merges": merges,
    "renames": renames,
    "empty_commits": empty_commits,
    "tags": tags,
    "encodings_and_modes": encodings_and_modes,
    "special_content": special_content,
    "monorepo": monorepo,
}


def add_commits(path: Path, branch: str, count: int, prefix: str = "app/more") -> list[str]:
    """Extend a scenario's branch by `count` commits (fixed dates continue after the branch's tip)."""
    repo = pygit2.Repository(str(path))
    tip = repo.references[f"refs/heads/{branch}"].target
    h = History.__new__(History)
    h.path, h.repo, h.marks = path, repo, {}
    h.clock = repo[tip].commit_time
    h.states = {str(tip): _files_of(repo, repo[tip].tree, "")}
    return [h.commit(branch, {f"{prefix}/{i}.txt": b"%d\n" % i}, b"more %d\n" % i) for i in range(count)]


def _files_of(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str) -> dict[str, Entry]:
    files: dict[str, Entry] = {}
    for entry in tree:
        path = prefix + entry.name
        if entry.filemode == pygit2.GIT_FILEMODE_TREE:
            files.update(_files_of(repo, repo[entry.id], path + "/"))
        elif entry.filemode == pygit2.GIT_FILEMODE_COMMIT:
            files[path] = (GITLINK, str(entry.id).encode())
        else:
            files[path] = (b"%o" % entry.filemode, repo[entry.id].data)
    return files


def linear_history(path: Path, commits: int, files: int = 300, seed: int = 7) -> None:
    """A long history for the benchmark: `commits` small commits touching 1-3 files each in a tree of
    `files` files over ~30 folders (a tenth under region/eu/), written in one `git fast-import`."""
    chooser = random.Random(seed)
    names = [(f"region/eu/mod{i % 10}/f{i}.txt" if i % 10 == 0 else f"src/pkg{i % 29}/f{i}.txt") for i in range(files)]
    lines: list[bytes] = []
    for index in range(commits):
        stamp = START + 60 * index
        lines.append(b"commit refs/heads/main\n")
        lines.append(b"committer Ada Lovelace <ada@example.com> %d +0000\n" % stamp)
        message = b"change %d\n" % index
        lines.append(b"data %d\n%s\n" % (len(message), message))
        for _ in range(chooser.randint(1, 3)):
            name = chooser.choice(names).encode()
            content = b"%s revision %d\n" % (name, index)
            lines.append(b"M 100644 inline %s\ndata %d\n%s\n" % (name, len(content), content))
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(lines), check=True)


def extend_linear(path: Path, commits: int, start: int, seed: int = 11) -> None:
    """Add commits to a linear_history's main (in one fast-import), for a re-sync."""
    chooser = random.Random(seed)
    lines: list[bytes] = [b"reset refs/heads/main\nfrom refs/heads/main^0\n\n"]
    for index in range(start, start + commits):
        stamp = START + 60 * index
        lines.append(b"commit refs/heads/main\n")
        lines.append(b"committer Ada Lovelace <ada@example.com> %d +0000\n" % stamp)
        message = b"change %d\n" % index
        lines.append(b"data %d\n%s\n" % (len(message), message))
        name = b"src/pkg%d/new%d.txt" % (chooser.randint(0, 28), index)
        lines.append(b"M 100644 inline %s\ndata 2\nx\n\n" % name)
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(lines), check=True)


def _three_way(h: History, tip: str, sides: list[str]) -> dict[str, Entry | bytes | None]:
    """A merge's changes to `tip`: what each side changed since its merge base with the tip (deletions
    too); where both changed a file the tip's version wins (`-X ours`). Not an evil merge, which
    git-filter-repo documents it cannot always re-apply onto a new first parent."""
    ours = h.states[tip]
    changes: dict[str, Entry | bytes | None] = {}
    for side in sides:
        base = h.states[str(h.repo.merge_base(tip, side))]
        theirs = h.states[side]
        for file in set(base) | set(theirs):
            if theirs.get(file) == base.get(file) or ours.get(file) != base.get(file):
                continue
            if any(f.startswith(file + "/") or file.startswith(f + "/") for f in ours if f != file):
                continue
            changes[file] = theirs.get(file)
    return changes


def random_history(path: Path, seed: int, commits: int = 80) -> Scenario:
    """A seeded random history: branches forking and merging (some octopus), commits touching kept
    and excluded paths or nothing, deletions. Every file revision has unique content, so nothing kept
    ever stood at an excluded path and git-filter-repo must produce the very same history."""
    chooser = random.Random(seed)
    h = History(path)
    folders = ["app", "app/lib", "docs", "region/eu", "region/eu/sub", "region/us", "config"]
    h.commit("main", {"README.md": b"seed %d\n" % seed}, b"root\n")
    branches = ["main"]
    for index in range(commits):
        roll = chooser.random()
        if roll < 0.12 and len(branches) < 5:
            name = f"b{index}"
            h.commit(name, {}, b"fork %d\n" % index, parents=[h.refs()[f"refs/heads/{chooser.choice(branches)}"]])
            branches.append(name)
            continue
        branch = chooser.choice(branches)
        tip = h.refs()[f"refs/heads/{branch}"]
        if roll < 0.25 and len(branches) > 1:
            others = [b for b in branches if b != branch]
            sides = [
                h.refs()[f"refs/heads/{b}"] for b in chooser.sample(others, min(len(others), chooser.choice([1, 1, 2])))
            ]
            sides = [side for side in dict.fromkeys(sides) if side != tip]
            if sides:
                changes = _three_way(h, tip, sides)
                h.commit(branch, changes, b"merge %d\n" % index, parents=[tip, *sides])
                continue
        changes = {}
        if roll > 0.95:
            pass  # an empty commit
        else:
            for _ in range(chooser.randint(1, 3)):
                existing = sorted(h.states[tip])
                if existing and chooser.random() < 0.15:
                    changes[chooser.choice(existing)] = None
                else:
                    folder = chooser.choice(folders)
                    suffix = chooser.choice([".py", ".txt", ".env"])
                    file = f"{folder}/f{chooser.randint(0, 6)}{suffix}"
                    changes[file] = b"%s at %d on %s\n" % (file.encode(), index, branch.encode())
        h.commit(branch, changes, b"change %d\n" % index)
    h.lightweight_tag("last", h.refs()["refs/heads/main"])
    return h.scenario(rules(paths_exclude=("region/eu/", "*.env")))
