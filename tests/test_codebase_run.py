"""The codebase part end to end, on the demo's monorepo mirrored into a folder of bare repositories:
what crosses and what does not, the receipt, incremental syncs, and what refuses a sync."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator.demo.monorepo import PLANTED_KEY, PLANTED_PASSWORD
from migrator.engine.dry_run import dry_run
from migrator.engine.run import run_plan
from migrator.engine.verify import verify_plan
from migrator.errors import SafetyError
from migrator.plan.load import load_plan
from tests.codebase_cases import DEMO_RULES, all_blob_contents, all_messages, all_paths, demo_plan, git, refs_of


def target_of(folder: Path) -> Path:
    return folder / "us" / "git" / "monorepo-us.git"


def test_the_demo_mirror_keeps_the_eu_folder_and_the_secret_out(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    result = run_plan(loaded)
    assert result.verified_ok, result.codebase
    target = target_of(tmp_path)
    refs = refs_of(target)
    # The branches and tags the rules select; the EU feature branch is not among them.
    assert sorted(refs) == ["refs/heads/main", "refs/heads/release/1.0", "refs/tags/v1.0"]
    paths = all_paths(target)
    assert paths and not [p for p in paths if p.startswith("region/eu/") or p.endswith(".env")]
    assert {"app/feed.py", "region/us/ranker.yaml", "tests/test_storage.py"} <= paths
    blobs = all_blob_contents(target)
    assert PLANTED_PASSWORD.encode() not in blobs and PLANTED_KEY.encode() not in blobs
    assert b"AKIAIOSFODNN7EXAMPLE" in blobs  # the allowed test key crossed
    messages = all_messages(target)
    assert "4711" not in messages and "[scrubbed]" in messages
    # The tag is annotated still, and points at the mirror of the release commit.
    assert git("-C", str(target), "cat-file", "-t", "refs/tags/v1.0") == "tag"
    assert git("-C", str(target), "rev-parse", "refs/tags/v1.0^{commit}") == refs["refs/heads/release/1.0"]
    # Authors and dates are the source's.
    source = tmp_path / "source" / "git" / "monorepo.git"
    assert git("-C", str(target), "log", "-1", "--format=%an %ae %at", "release/1.0") == git(
        "-C", str(source), "log", "-1", "--format=%an %ae %at", "release/1.0"
    )


def test_the_receipt_holds_each_ref_and_the_commit_map_beside_it(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    result = run_plan(loaded)
    receipt = json.loads(Path(result.receipt or "").read_text())
    entry = receipt["codebase"]["repositories"]["monorepo"]
    source = tmp_path / "source" / "git" / "monorepo.git"
    assert entry["refs"]["refs/heads/main"] == {
        "source": refs_of(source)["refs/heads/main"],
        "target": refs_of(target_of(tmp_path))["refs/heads/main"],
    }
    map_file = Path(result.receipt or "").parent / entry["commit_map"]
    assert map_file.exists() and entry["verified"] is True
    # The map is never pushed: the target holds the mirror's refs only.
    assert not [ref for ref in refs_of(target_of(tmp_path)) if "migrator" in ref]
    checked = verify_plan(loaded, receipt=Path(result.receipt or ""))
    assert checked.ok, checked.codebase


def test_a_second_run_pushes_nothing(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    first = run_plan(loaded)
    before = refs_of(target_of(tmp_path))
    second = run_plan(loaded)
    assert second.status == "already-finished" and second.run_id == first.run_id
    assert refs_of(target_of(tmp_path)) == before


def test_a_secret_not_allowed_refuses_the_push_naming_path_commit_and_hash(tmp_path: Path) -> None:
    rules = {**DEMO_RULES, "paths": {"exclude": ["region/eu/**"]}}  # the .env file is no longer excluded
    loaded = load_plan(demo_plan(tmp_path, rules=rules))
    with pytest.raises(SafetyError) as refused:
        run_plan(loaded)
    message = str(refused.value)
    assert "config/global.env" in message and "sha256:" in message
    assert PLANTED_PASSWORD not in message and PLANTED_KEY not in message
    assert not target_of(tmp_path).exists() or refs_of(target_of(tmp_path)) == {}


def test_the_dry_run_lists_what_a_sync_would_do_and_pushes_nothing(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    result = dry_run(loaded)
    assert result.codebase is not None
    [repo] = result.codebase["repositories"]
    assert repo["refs_to_update"] == ["refs/heads/main", "refs/heads/release/1.0", "refs/tags/v1.0"]
    assert "config/global.env" in repo["excluded_paths"] and "region/eu/gdpr_export.py" in repo["excluded_paths"]
    assert repo["pruned_commits"] >= 2  # the two commits that only touched region/eu
    assert repo["secrets"] == [] and not result.refusals
    assert not target_of(tmp_path).exists()


def test_a_dry_run_after_a_sync_counts_only_the_new_commits_and_leaves_the_state_alone(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    run_plan(loaded)
    source = tmp_path / "source" / "git" / "monorepo.git"
    work = tmp_path / "work"
    git("clone", "-q", str(source), str(work))
    (work / "app" / "rank.py").write_text("def rank(posts):\n    return sorted(posts)\n")
    git("-C", str(work), "add", "app/rank.py")
    git("-C", str(work), "-c", "user.name=C", "-c", "user.email=c@example.com", "commit", "-q", "-m", "Rank")
    git("-C", str(work), "push", "-q", "origin", "main")
    state = tmp_path / ".migrator"
    before = sorted((p, p.stat().st_mtime_ns) for p in state.rglob("*") if p.is_file())
    result = dry_run(loaded)
    assert result.codebase is not None
    [repo] = result.codebase["repositories"]
    assert (repo["new_commits"], repo["refs_to_update"]) == (1, ["refs/heads/main"])
    assert sorted((p, p.stat().st_mtime_ns) for p in state.rglob("*") if p.is_file()) == before
