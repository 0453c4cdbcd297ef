"""The history rewrite on generated histories with pinned hashes: filtering, pruning, tags, refusals,
determinism, incremental runs, and the guarantee that no content from an excluded path crosses."""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pygit2
import pytest

from migrator.codebase.commit_map import CommitMap
from migrator.codebase.findings import SecretMatch
from migrator.codebase.rewrite import ExcludedContentPushed, Rewrite, RulesChanged, SourceRewritten, rewrite
from migrator.errors import PermanentError
from migrator.stores.git.objects import BLOB, EMPTY_BLOB, GitObjects
from migrator.stores.git.packs import MemorySink, PackSink
from tests.git_histories import (
    ALLOWED_SECRET,
    PLANTED_SECRET,
    SCENARIOS,
    Scenario,
    add_commits,
    empty_commits,
    encodings_and_modes,
    merges,
    monorepo,
    random_history,
    renames,
    special_content,
    tags,
)

AWS_KEY = re.compile(rb"AKIA[0-9A-Z]{16}")


def scan(data: bytes) -> list[SecretMatch]:
    """A one-pattern scanner standing in for migrator.codebase.secrets (written elsewhere)."""
    return [
        SecretMatch(
            "aws-access-key-id",
            m.start(),
            m.end(),
            data.count(b"\n", 0, m.start()) + 1,
            "sha256:" + hashlib.sha256(m.group()).hexdigest(),
        )
        for m in AWS_KEY.finditer(data)
    ]


def secret_hash(secret: bytes) -> str:
    return "sha256:" + hashlib.sha256(secret).hexdigest()


def run(s: Scenario, previous: CommitMap | None = None, **kwargs: object) -> Rewrite:
    return rewrite(GitObjects.open_or_init(s.path), s.refs, s.rules, previous, **kwargs)  # type: ignore[arg-type]


def repo(s: Scenario) -> pygit2.Repository:
    return pygit2.Repository(str(s.path))


def files(r: pygit2.Repository, commit: str) -> dict[str, tuple[int, bytes]]:
    out: dict[str, tuple[int, bytes]] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            if entry.filemode == pygit2.GIT_FILEMODE_TREE:
                walk(r[entry.id], prefix + entry.name + "/")
            elif entry.filemode == pygit2.GIT_FILEMODE_COMMIT:
                out[prefix + entry.name] = (entry.filemode, str(entry.id).encode())
            else:
                out[prefix + entry.name] = (entry.filemode, r[entry.id].data)

    walk(r[commit].peel(pygit2.Commit).tree, "")
    return out


# Determinism --------------------------------------------------------------------------------------


def test_the_same_source_gives_the_same_target_ids_pinned(tmp_path: Path) -> None:
    first = run(monorepo(tmp_path / "a"))
    second = run(monorepo(tmp_path / "b"))
    assert first.refs == second.refs
    assert first.commit_map.export_text() == second.commit_map.export_text()
    # Pinned: a change here changes every mirror's hashes, and needs ENGINE_VERSION raised.
    assert first.refs["refs/heads/main"] == "f70610e6a0f2145f3b69ab6dd615e6580342ab02"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_in_memory_gives_the_ids_it_would_write_and_writes_nothing(tmp_path: Path, name: str) -> None:
    s = SCENARIOS[name](tmp_path / "a")
    written = run(SCENARIOS[name](tmp_path / "b"))
    before = set(repo(s).odb)
    in_memory = run(s, write=False)
    assert set(repo(s).odb) == before
    assert in_memory.refs == written.refs
    assert in_memory.commit_map.commits == written.commit_map.commits
    changed = set(in_memory.refs.values()) - set(s.refs.values())
    assert changed or name == "special_content"  # nothing is filtered there: the ids stay the source's
    assert not {pygit2.Oid(hex=t) for t in changed} & before


# What crosses -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_no_blob_that_stood_at_an_excluded_path_is_reachable(tmp_path: Path, name: str) -> None:
    s = SCENARIOS[name](tmp_path / "s")
    result = run(s)
    objects = GitObjects.open_or_init(s.path)
    reachable = objects.reachable_blobs(result.refs.values())
    excluded = set(result.commit_map.excluded_blobs) - {EMPTY_BLOB.hex()}
    assert not reachable & excluded
    # And every reachable commit is the image of a source commit.
    assert objects.reachable_commits(result.refs.values()) <= result.commit_map.targets()


def test_merges_collapse_when_a_side_only_touched_excluded_paths(tmp_path: Path) -> None:
    s = merges(tmp_path / "s")
    result = run(s)
    images = result.commit_map.commits
    r = repo(s)
    # The eu-only side had no image of its own: the merge collapsed onto main's line.
    eu_merge = r[s.marks["eu-merge"]]
    assert images[s.marks["eu-merge"]] == images[str(eu_merge.parents[0].id)]
    # The --no-ff merge of a branch main had not moved past keeps both parents (as in the source).
    assert len(r[images[s.marks["noff"]]].parents) == 2
    # The octopus loses its excluded-only side and keeps three parents.
    octopus = r[images[s.marks["octopus"]]]
    assert len(octopus.parents) == 3
    assert "region/eu/c.csv" not in files(r, str(octopus.id))
    main = files(r, result.refs["refs/heads/main"])
    assert not [p for p in main if p.startswith("region/eu/")]
    assert {"app/a.py", "app/b.py", "app/feature.py", "app/noff.py"} <= set(main)
    assert result.excluded_paths == {"region/eu/"}


def test_renames_into_and_out_of_an_excluded_folder(tmp_path: Path) -> None:
    s = renames(tmp_path / "s")
    result = run(s)
    r = repo(s)
    main = files(r, result.refs["refs/heads/main"])
    # Moved out of (and copied from) region/eu/: its content stood at an excluded path, so it is dropped.
    assert "app/leaked.txt" not in main and "app/copy.txt" not in main
    # Moved into region/eu/ later: dropped from the earlier commits where it stood at a kept path.
    before = result.commit_map.commits[s.marks["before-move-in"]]
    assert before is not None and "app/moved_in.py" not in files(r, before)
    assert {(p, e) for p, _, e in result.from_excluded} == {
        ("app/moved_in.py", "region/eu/moved_in.py"),
        ("app/leaked.txt", "region/eu/secret.txt"),
        ("app/copy.txt", "region/eu/secret.txt"),
    }
    # The empty file is exempt (it carries nothing); the file that became a folder is a folder.
    assert main["app/empty"] == (pygit2.GIT_FILEMODE_BLOB, b"")
    assert main["app/thing/inner.txt"][1] == b"now a folder\n" and "app/thing" not in main


def test_empty_commits_kept_and_commits_that_become_empty_pruned(tmp_path: Path) -> None:
    s = empty_commits(tmp_path / "s")
    result = run(s)
    r = repo(s)
    images = result.commit_map.commits
    empty_root = images[s.marks["empty-root"]]
    assert empty_root is not None and len(r[empty_root].tree) == 0
    empty = r[s.marks["empty"]]
    assert images[s.marks["empty"]] != images[str(empty.parents[0].id)]  # kept: empty in the source
    only = r[s.marks["only-excluded"]]
    assert images[s.marks["only-excluded"]] == images[str(only.parents[0].id)]  # pruned
    assert s.marks["only-excluded"] in result.pruned_commits
    assert images[s.marks["excluded-root"]] is None
    assert result.dropped_refs == ["refs/heads/side"] and "refs/heads/side" not in result.refs
    assert set(files(r, result.refs["refs/heads/main"])) == {"app/a.py", "app/b.py"}


def test_tags(tmp_path: Path) -> None:
    s = tags(tmp_path / "s")
    result = run(s)
    r = repo(s)
    images = result.commit_map.commits
    v10 = r[result.refs["refs/tags/v1.0"]]
    source_v10 = r[s.refs["refs/tags/v1.0"]]
    assert isinstance(v10, pygit2.Tag) and str(v10.target) == images[s.marks["first"]]
    assert (v10.name, v10.message, v10.tagger) == (source_v10.name, source_v10.message, source_v10.tagger)
    signed = r[result.refs["refs/tags/v1.1-signed"]]
    assert signed.message == "release 1.1\n"
    outer = r[result.refs["refs/tags/outer"]]
    inner = r[outer.target]
    assert isinstance(inner, pygit2.Tag) and str(inner.target) == images[s.marks["second"]]
    assert result.refs["refs/tags/light"] == images[s.marks["first"]]
    assert sorted(result.dropped_refs) == ["refs/tags/eu-tag", "refs/tags/tree-tag"]
    assert r[images[s.marks["second"]]].message == "b\n[scrubbed]\n"


def test_encoding_signature_symlink_and_executable_kept(tmp_path: Path) -> None:
    s = encodings_and_modes(tmp_path / "s")
    result = run(s)
    r = repo(s)
    images = result.commit_map.commits
    source_raw = r.odb.read(s.marks["latin1"])[1]
    target_raw = r.odb.read(images[s.marks["latin1"]])[1]
    assert b"encoding ISO-8859-1\n" in target_raw
    assert target_raw.split(b"\n\n", 1)[1] == "Caf\xe9 cr\xe8me\n".encode("latin-1")
    assert target_raw.split(b"\n", 1)[1].split(b"author", 1)[1] == source_raw.split(b"author", 1)[1]
    signed = r.odb.read(images[s.marks["signed"]])[1]
    assert b"gpgsig" not in signed and b"PGP" not in signed
    assert images[s.marks["signed-pruned"]] == images[s.marks["signed"]]
    main = files(r, result.refs["refs/heads/main"])
    assert main["app/run.sh"][0] == pygit2.GIT_FILEMODE_BLOB_EXECUTABLE
    assert main["app/link"] == (pygit2.GIT_FILEMODE_LINK, b"run.sh")


def test_special_content_is_listed(tmp_path: Path) -> None:
    s = special_content(tmp_path / "s")
    allowed = replace(s.rules, secrets_allow=frozenset({secret_hash(ALLOWED_SECRET)}))
    result = rewrite(GitObjects.open_or_init(s.path), s.refs, allowed, None, scan=scan)
    assert result.submodules == [("vendor/lib", s.marks["submodule"])]
    assert result.lfs_pointers == [("assets/model.bin", s.marks["lfs"])]
    assert result.large_blobs == [("data/big.bin", s.marks["large"], 102400)]
    assert [(f.path, f.commit, f.line, f.sha256) for f in result.findings] == [
        ("config/settings.py", s.marks["secret"], 1, secret_hash(PLANTED_SECRET))
    ]
    main = files(repo(s), result.refs["refs/heads/main"])
    assert "vendor/lib" in main and "data/big.bin" in main  # kept: the sync refuses, not the rewrite


def test_drop_and_redact(tmp_path: Path) -> None:
    s = special_content(tmp_path / "s")
    rules = replace(s.rules, submodules="drop", large_blobs="drop", secrets="redact")
    result = rewrite(GitObjects.open_or_init(s.path), s.refs, rules, None, scan=scan)
    r = repo(s)
    secret_commit = result.commit_map.commits[s.marks["secret"]]
    assert secret_commit is not None
    snapshot = files(r, secret_commit)
    assert "vendor/lib" not in snapshot and ".gitmodules" not in snapshot and "data/big.bin" not in snapshot
    settings = snapshot["config/settings.py"][1]
    assert PLANTED_SECRET not in settings and ALLOWED_SECRET not in settings and b"REDACTED" in settings
    assert len(result.findings) == 2  # nothing allowlisted here: both listed, both redacted


# Incremental --------------------------------------------------------------------------------------


def test_incremental_rewrites_only_new_commits_and_extends_the_old_history(tmp_path: Path) -> None:
    s = monorepo(tmp_path / "s")
    first = run(s)
    added = add_commits(s.path, "main", 5)
    s.refs = {**s.refs, "refs/heads/main": added[-1]}
    second = run(s, first.commit_map)
    assert set(second.new_commits) == set(added)
    assert not second.findings and second.new_blobs == 5
    r = repo(s)
    for ref, old in first.refs.items():
        assert r.descendant_of(second.refs[ref], old) or second.refs[ref] == old
    # The same as a first sync of the whole history: the ids depend only on the source and the rules.
    fresh = monorepo(tmp_path / "fresh")
    add_commits(fresh.path, "main", 5)
    fresh.refs = {**fresh.refs, "refs/heads/main": added[-1]}
    assert run(fresh).refs == second.refs
    # A no-op run makes nothing new.
    third = run(s, second.commit_map)
    assert not third.new_commits and not third.pruned_commits and third.new_blobs == 0
    assert third.refs == second.refs and third.commit_map.digest() == second.commit_map.digest()


def test_incremental_merge_onto_old_commits_matches_a_full_run(tmp_path: Path) -> None:
    """Merges whose parents were mapped by an earlier run: ancestry comes from the repository."""
    base = merges(tmp_path / "full")
    partial = replace(base, refs={k: v for k, v in base.refs.items() if k != "refs/heads/main"})
    partial.refs["refs/heads/main"] = base.marks["base"]
    first = run(partial)
    assert run(base, first.commit_map).refs == run(merges(tmp_path / "again")).refs


def test_commit_map_round_trip(tmp_path: Path) -> None:
    result = run(special_content(tmp_path / "s"))
    path = tmp_path / "map.txt"
    result.commit_map.save(path)
    loaded = CommitMap.load(path)
    assert loaded == result.commit_map and loaded.digest() == result.commit_map.digest()
    assert CommitMap.load(tmp_path / "none.txt") is None


def test_rules_changed_refuses(tmp_path: Path) -> None:
    s = monorepo(tmp_path / "s")
    original = s.rules
    first = run(s)
    s.rules = replace(original, paths_exclude=("region/",))
    with pytest.raises(RulesChanged, match="new baseline"):
        run(s, first.commit_map)
    # What to do is not what is produced: on_source_rewrite does not change the digest.
    s.rules = replace(original, on_source_rewrite="follow")
    assert run(s, first.commit_map).refs == first.refs


def force_push(s: Scenario) -> str:
    """Rewrite main in the source: a new commit on top of main's grandparent."""
    r = repo(s)
    grandparent = r[s.refs["refs/heads/main"]].parents[0].parents[0]
    r.references.create("refs/heads/main", str(grandparent.id), force=True)
    return add_commits(s.path, "main", 1, prefix="app/rewritten")[-1]


def test_a_force_pushed_source_fails_or_is_followed(tmp_path: Path) -> None:
    s = monorepo(tmp_path / "s")
    first = run(s)
    old_tip = s.refs["refs/heads/main"]
    new_tip = force_push(s)
    s.refs = {**s.refs, "refs/heads/main": new_tip}
    with pytest.raises(SourceRewritten) as raised:
        run(s, first.commit_map)
    assert (raised.value.ref, raised.value.old_tip, raised.value.new_tip) == ("refs/heads/main", old_tip, new_tip)
    s.rules = replace(s.rules, on_source_rewrite="follow")
    followed = run(s, first.commit_map)
    assert set(followed.new_commits) == {new_tip}
    assert followed.commit_map.tips["refs/heads/main"] == new_tip


def test_a_deleted_branch_is_not_in_the_result(tmp_path: Path) -> None:
    s = merges(tmp_path / "s")
    first = run(s)
    s.refs = {k: v for k, v in s.refs.items() if k != "refs/heads/feature"}
    second = run(s, first.commit_map)
    assert "refs/heads/feature" in first.refs and "refs/heads/feature" not in second.refs
    assert "refs/heads/feature" not in second.commit_map.tips and not second.new_commits


def test_content_already_pushed_that_moves_to_an_excluded_path_refuses(tmp_path: Path) -> None:
    s = monorepo(tmp_path / "s")
    first = run(s)
    r = repo(s)
    server = r[s.refs["refs/heads/main"]].tree["app/server.py"]
    added = add_commits(s.path, "main", 1, prefix="region/eu/copied")[-1]
    # Put the already-pushed server.py bytes at an excluded path in a new commit.
    builder = r.TreeBuilder(r[added].tree)
    eu = r.TreeBuilder(r[r[added].tree["region"].id])
    eu_inner = r.TreeBuilder(r[r[r[added].tree["region"].id]["eu"].id])
    eu_inner.insert("server.py", server.id, pygit2.GIT_FILEMODE_BLOB)
    eu.insert("eu", eu_inner.write(), pygit2.GIT_FILEMODE_TREE)
    builder.insert("region", eu.write(), pygit2.GIT_FILEMODE_TREE)
    signature = pygit2.Signature("Ada Lovelace", "ada@example.com", 1_800_000_000, 0)
    leak = r.create_commit("refs/heads/main", signature, signature, "copy\n", builder.write(), [added])
    s.refs = {**s.refs, "refs/heads/main": str(leak)}
    with pytest.raises(ExcludedContentPushed, match="new baseline"):
        run(s, first.commit_map)


def test_the_result_lists_what_the_dry_run_shows(tmp_path: Path) -> None:
    s = monorepo(tmp_path / "s")
    result = run(s, write=False, scan=scan)
    assert result.excluded_paths == {"region/eu/", "config/app.env"}
    assert not result.findings  # the planted key is in an excluded file: it never crosses
    assert len(result.new_commits) + len(result.pruned_commits) == len(result.commit_map.commits)
    assert result.source_tips == {k: v for k, v in s.refs.items() if k != "HEAD"}


def test_written_objects_are_a_valid_pack(tmp_path: Path) -> None:
    s = merges(tmp_path / "s")
    result = run(s)
    for ref, target in result.refs.items():
        pygit2.Repository(str(s.path)).references.create(f"refs/mirror/{ref[5:]}", target)
    checked = subprocess.run(
        ["git", "-C", str(s.path), "fsck", "--strict", "--no-dangling"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert list((s.path / "objects" / "pack").glob("pack-*.idx"))


def test_replacements_apply_at_their_paths_only(tmp_path: Path) -> None:
    s = monorepo(tmp_path / "s")
    result = run(s)
    main = files(repo(s), result.refs["refs/heads/main"])
    assert b"return 'ok'" in main["app/server.py"][1]
    assert main["region/us/deploy.yaml"][1] == b"region: us\n"


def test_findings_are_not_listed_again_by_a_later_sync(tmp_path: Path) -> None:
    s = special_content(tmp_path / "s")
    first = run(s, scan=scan)
    assert len(first.findings) == 2
    added = add_commits(s.path, "main", 2)
    s.refs = {**s.refs, "refs/heads/main": added[-1]}
    second = run(s, first.commit_map, scan=scan)
    assert not second.findings and set(second.new_commits) == set(added)


def test_commit_map_keeps_any_path(tmp_path: Path) -> None:
    odd = "dir/back\\slash\nnewline \udce9.txt"  # a newline and a non-UTF-8 byte, as git allows
    commit_map = CommitMap("d" * 64, {"a" * 40: None, "b" * 40: "c" * 40}, {"refs/heads/x": "b" * 40}, {"e" * 40: odd})
    commit_map.pushed_blobs.add("f" * 40)
    commit_map.save(tmp_path / "map")
    assert CommitMap.load(tmp_path / "map") == commit_map


@pytest.mark.parametrize("seed", range(4))
def test_random_histories_incremental_equals_full(tmp_path: Path, seed: int) -> None:
    """Rewriting the first half of a random history and then the rest gives the very ids of one full
    rewrite (the generator is sequential, so the shorter history is a prefix of the longer one)."""
    half = random_history(tmp_path / "half", seed, commits=40)
    whole = random_history(tmp_path / "whole", seed, commits=80)
    objects = GitObjects.open_or_init(whole.path)
    first = rewrite(objects, half.refs, whole.rules, None)
    dry = rewrite(objects, whole.refs, whole.rules, first.commit_map, write=False)
    second = rewrite(objects, whole.refs, whole.rules, first.commit_map)
    full = run(random_history(tmp_path / "fresh", seed, commits=80))
    assert second.refs == full.refs == dry.refs
    assert second.commit_map.commits == full.commit_map.commits
    assert second.commit_map.pruned == full.commit_map.pruned
    assert not set(second.new_commits) & set(first.new_commits)


def test_refs_are_selected_by_the_rules(tmp_path: Path) -> None:
    s = merges(tmp_path / "s")
    s.rules = replace(s.rules, refs_include=("refs/heads/**",), refs_exclude=("refs/heads/octo-*", "refs/heads/eu-*"))
    result = run(s)
    assert set(result.refs) == {"refs/heads/main", "refs/heads/feature", "refs/heads/noff"}
    assert set(result.commit_map.tips) == set(result.refs)


def test_pack_sink_flushes_whole_packs(tmp_path: Path) -> None:
    objects = GitObjects.open_or_init(tmp_path / "r.git")
    sink = PackSink(objects, flush_bytes=1000)
    ids = [sink.write(BLOB, b"blob number %d\n" % i * 20) for i in range(50)]
    sink.close()
    assert len(list((tmp_path / "r.git" / "objects" / "pack").glob("pack-*.idx"))) > 1
    reopened = GitObjects.open_or_init(tmp_path / "r.git")
    assert [reopened.read(oid) for oid in ids] == [(BLOB, b"blob number %d\n" % i * 20) for i in range(50)]
    assert ids[0] == MemorySink().write(BLOB, b"blob number 0\n" * 20)


def test_a_source_object_not_fetched_is_a_clear_error(tmp_path: Path) -> None:
    s = monorepo(tmp_path / "s")
    s.refs = {**s.refs, "refs/heads/missing": "01" * 20}
    with pytest.raises(PermanentError, match="not fetched completely"):
        run(s)
