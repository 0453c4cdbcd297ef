"""The codebase part's syncs end to end: the demo monorepo mirrored into a folder of bare repositories,
then the source moved on (new commits, a force-push, a deleted branch), the rules changed, the target
found holding other refs or changed underneath, tampered with, or the run killed between two steps.

Every run goes through run_plan / verify_plan / dry_run, or `python -m migrator` where a real kill is
needed; the target is checked with the git command line (tests/codebase_cases.py)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from migrator.audit.verify import verify_state
from migrator.codebase.refusals import ExcludedContentPushed, RulesChanged
from migrator.codebase.sync import Mark, UnitFiles
from migrator.engine.dry_run import dry_run
from migrator.engine.parts import codebase
from migrator.engine.run import run_plan
from migrator.engine.verify import verify_plan
from migrator.errors import SafetyError
from migrator.plan.load import LoadedPlan, load_plan
from tests.codebase_cases import (
    DEMO_RULES,
    all_paths,
    commit_onto,
    demo_plan,
    git,
    is_ancestor,
    refs_of,
)
from tests.codebase_killable import KILLED
from tests.git_histories import add_commits
from tests.git_servers import init_bare, install_pre_receive_guard

ROOT = Path(__file__).resolve().parent.parent
MIRRORED = ["refs/heads/main", "refs/heads/release/1.0", "refs/tags/v1.0"]


def source_of(folder: Path) -> Path:
    return folder / "source" / "git" / "monorepo.git"


def target_of(folder: Path) -> Path:
    return folder / "us" / "git" / "monorepo-us.git"


def the_repository(result: Any) -> dict[str, Any]:
    [repository] = result.codebase["repositories"]
    return repository  # type: ignore[no-any-return]


def with_rules(plan: Path, **changes: Any) -> LoadedPlan:
    """The plan file with its codebase section changed (the source left as it is), loaded again."""
    body = yaml.safe_load(plan.read_text(encoding="utf-8"))
    body["codebase"] = {**body["codebase"], **changes}
    plan.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return load_plan(plan)


def with_target(plan: Path, **changes: Any) -> LoadedPlan:
    body = yaml.safe_load(plan.read_text(encoding="utf-8"))
    body["target"] = {**body["target"], **changes}
    plan.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return load_plan(plan)


def mirrored_afresh(folder: Path, *, rules: dict[str, Any] | None = None, moved_on: bool = False) -> dict[str, str]:
    """The refs an uninterrupted first sync of the demo monorepo gives, into a target of its own
    (`moved_on`: after the commits `move_on` adds)."""
    loaded = load_plan(demo_plan(folder, rules=rules))
    if moved_on:
        move_on(source_of(folder))
    assert run_plan(loaded).verified_ok
    return refs_of(target_of(folder))


def move_on(source: Path) -> None:
    """The source moves on: three commits on main, two on the release branch tagged v1.1."""
    add_commits(source, "main", 3, prefix="app/new")
    fixes = add_commits(source, "release/1.0", 2, prefix="app/fix")
    git("-C", str(source), "update-ref", "refs/tags/v1.1", fixes[-1])


# 1. Incremental syncs ------------------------------------------------------------------------------


def test_a_sync_rewrites_only_the_new_commits_and_extends_the_target_history(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    first = run_plan(loaded)
    before = refs_of(target_of(tmp_path))
    move_on(source_of(tmp_path))

    second = run_plan(loaded)
    assert second.status == "finished" and second.verified_ok, second.codebase
    repository = the_repository(second)
    assert repository["new_commits"] == 5  # three on main, two on the release branch: nothing else
    assert repository["updated_refs"] == ["refs/heads/main", "refs/heads/release/1.0", "refs/tags/v1.1"]
    assert repository["deleted_refs"] == []
    after = refs_of(target_of(tmp_path))
    assert after["refs/tags/v1.0"] == before["refs/tags/v1.0"]
    assert after["refs/tags/v1.1"] == after["refs/heads/release/1.0"]  # a lightweight tag, new in the source
    for ref in ("refs/heads/main", "refs/heads/release/1.0"):
        assert after[ref] != before[ref] and is_ancestor(target_of(tmp_path), before[ref], after[ref])
    assert git("-C", str(target_of(tmp_path)), "rev-list", "--count", f"{before['refs/heads/main']}..main") == "3"
    # A sync after a change of the source, not of the plan: a run of its own, with a receipt of its own.
    assert second.run_id != first.run_id and second.receipt not in (None, first.receipt)
    assert Path(second.receipt or "").exists()
    checked = verify_plan(loaded)
    assert checked.ok, checked.codebase
    # The same ids as a first sync of the moved-on source into a target of its own.
    assert after == mirrored_afresh(tmp_path / "afresh", moved_on=True)


def test_a_sync_with_nothing_new_pushes_nothing_and_says_already_finished(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    run_plan(loaded)
    add_commits(source_of(tmp_path), "main", 2)
    second = run_plan(loaded)
    before = refs_of(target_of(tmp_path))
    mtimes = {p: p.stat().st_mtime_ns for p in (target_of(tmp_path) / "refs").rglob("*") if p.is_file()}
    assert len(mtimes) == len(before)  # every ref a file of its own, to see that none is written again

    third = run_plan(loaded)
    assert third.status == "already-finished" and third.run_id == second.run_id
    assert third.receipt is None  # no new run, no new receipt
    assert refs_of(target_of(tmp_path)) == before
    assert mtimes == {p: p.stat().st_mtime_ns for p in (target_of(tmp_path) / "refs").rglob("*") if p.is_file()}


def test_a_source_change_outside_the_mirrored_refs_syncs_without_pushing(tmp_path: Path) -> None:
    """The EU branch is not mirrored: a new commit there makes a sync (the source moved), which
    rewrites nothing and updates no ref."""
    loaded = load_plan(demo_plan(tmp_path))
    run_plan(loaded)
    before = refs_of(target_of(tmp_path))
    add_commits(source_of(tmp_path), "eu/cookie-banner", 1, prefix="region/eu/more")

    again = run_plan(loaded)
    assert again.status == "finished" and again.verified_ok, again.codebase
    repository = the_repository(again)
    assert repository["new_commits"] == 0 and repository["updated_refs"] == [] and repository["deleted_refs"] == []
    assert refs_of(target_of(tmp_path)) == before


def test_a_secret_in_new_commits_refuses_the_sync_until_it_is_withdrawn(tmp_path: Path) -> None:
    """Nothing of a refused sync is kept (no commit map, nothing pushed): once the commit is taken
    back out of the source, the next sync is an ordinary one, not a source rewrite."""
    loaded = load_plan(demo_plan(tmp_path))
    run_plan(loaded)
    before = refs_of(target_of(tmp_path))
    source = source_of(tmp_path)
    commit_onto(source, "refs/heads/main", {"app/settings.py": 'AWS = "AKIAJ3OTHERPRODKEY7Q"\n'}, "settings\n")

    with pytest.raises(SafetyError) as refused:
        run_plan(loaded)
    assert "app/settings.py" in str(refused.value) and "AKIAJ3OTHERPRODKEY7Q" not in str(refused.value)
    assert refs_of(target_of(tmp_path)) == before

    git("-C", str(source), "update-ref", "refs/heads/main", "refs/heads/main~1")
    again = run_plan(loaded)
    assert again.verified_ok and the_repository(again)["updated_refs"] == []
    assert refs_of(target_of(tmp_path)) == before


# 2. A source force-push ----------------------------------------------------------------------------


def force_push_main(source: Path) -> None:
    """main rewritten in the source: three commits dropped, two others in their place."""
    git("-C", str(source), "update-ref", "refs/heads/main", "refs/heads/main~3")
    add_commits(source, "main", 2, prefix="app/rewritten")


def test_a_force_pushed_source_refuses_the_sync_unless_the_rules_say_follow(tmp_path: Path) -> None:
    plan = demo_plan(tmp_path)
    loaded = load_plan(plan)
    run_plan(loaded)
    before = refs_of(target_of(tmp_path))
    force_push_main(source_of(tmp_path))

    with pytest.raises(SafetyError) as refused:
        run_plan(loaded)
    message = str(refused.value)
    assert "refs/heads/main" in message and "on_source_rewrite: follow" in message
    assert refs_of(target_of(tmp_path)) == before

    followed = run_plan(with_rules(plan, on_source_rewrite="follow"))
    assert followed.verified_ok, followed.codebase
    assert the_repository(followed)["new_commits"] == 2
    after = refs_of(target_of(tmp_path))
    assert not is_ancestor(target_of(tmp_path), before["refs/heads/main"], after["refs/heads/main"])
    assert after["refs/heads/release/1.0"] == before["refs/heads/release/1.0"]
    checked = verify_plan(load_plan(plan))
    assert checked.ok, checked.codebase
    # The new history is the one a first sync of the force-pushed source gives.
    fresh = tmp_path / "afresh"
    fresh_loaded = load_plan(demo_plan(fresh))
    force_push_main(source_of(fresh))
    run_plan(fresh_loaded)
    assert after == refs_of(target_of(fresh))


# 3. A deleted source branch ------------------------------------------------------------------------


def test_a_branch_deleted_in_the_source_is_deleted_in_the_target(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    run_plan(loaded)
    before = refs_of(target_of(tmp_path))
    git("-C", str(source_of(tmp_path)), "update-ref", "-d", "refs/heads/release/1.0")

    planned = the_repository(dry_run(loaded))
    assert planned["refs_to_delete"] == ["refs/heads/release/1.0"] and planned["refs_to_update"] == []

    again = run_plan(loaded)
    assert again.verified_ok, again.codebase
    assert the_repository(again)["deleted_refs"] == ["refs/heads/release/1.0"]
    after = refs_of(target_of(tmp_path))
    assert after == {ref: oid for ref, oid in before.items() if ref != "refs/heads/release/1.0"}
    assert verify_plan(loaded).ok
    assert Mark.read(UnitFiles.of(loaded.state_dir, "monorepo").mark).pushed == after


# 4. A change of the rules --------------------------------------------------------------------------


def test_changed_rules_refuse_a_sync_and_restart_makes_a_new_baseline(tmp_path: Path) -> None:
    plan = demo_plan(tmp_path)
    run_plan(load_plan(plan))
    before = refs_of(target_of(tmp_path))
    exclude = [*DEMO_RULES["paths"]["exclude"], "tests/**"]
    changed = with_rules(plan, paths={"exclude": exclude})

    with pytest.raises(RulesChanged) as refused:
        run_plan(changed)
    assert "migrator run PLAN --restart" in str(refused.value)
    assert refs_of(target_of(tmp_path)) == before

    restarted = run_plan(changed, start_over=True)
    assert restarted.verified_ok, restarted.codebase
    after = refs_of(target_of(tmp_path))
    assert after["refs/heads/main"] != before["refs/heads/main"]
    assert sorted(after) == MIRRORED
    assert not [p for p in all_paths(target_of(tmp_path)) if p.startswith("tests/")]
    assert not is_ancestor(target_of(tmp_path), before["refs/heads/main"], after["refs/heads/main"])
    checked = verify_plan(changed)
    assert checked.ok, checked.codebase
    # The new baseline is exactly a first sync under the new rules.
    assert after == mirrored_afresh(tmp_path / "afresh", rules={**DEMO_RULES, "paths": {"exclude": exclude}})
    # And the next sync extends it as usual.
    add_commits(source_of(tmp_path), "main", 1)
    assert run_plan(changed).verified_ok


def test_content_already_pushed_that_turns_up_at_an_excluded_path_needs_a_new_baseline(tmp_path: Path) -> None:
    """The feed's code, mirrored already, is copied into region/eu/: the target's history carries
    content that is now the EU's, so the sync refuses; --restart leaves it out of the new baseline."""
    loaded = load_plan(demo_plan(tmp_path))
    run_plan(loaded)
    before = refs_of(target_of(tmp_path))
    source = source_of(tmp_path)
    feed = git("-C", str(source), "rev-parse", "main:app/feed.py")
    content = git("-C", str(source), "show", "main:app/feed.py") + "\n"
    commit_onto(source, "refs/heads/main", {"region/eu/feed.py": content}, "EU: copy the feed\n")

    with pytest.raises(ExcludedContentPushed) as refused:
        run_plan(loaded)
    assert feed[:12] in str(refused.value) and "region/eu/feed.py" in str(refused.value)
    assert "migrator run PLAN --restart" in str(refused.value)
    assert refs_of(target_of(tmp_path)) == before

    restarted = run_plan(loaded, start_over=True)
    assert restarted.verified_ok, restarted.codebase
    reachable = git("-C", str(target_of(tmp_path)), "rev-list", "--objects", "--all").split()
    assert feed not in reachable
    checked = verify_plan(loaded)
    assert checked.ok, checked.codebase


def test_the_mirrored_refs_follow_the_ref_selection(tmp_path: Path) -> None:
    """Which refs are mirrored does not shape the commits: a new selection is an ordinary sync that
    deletes the refs no longer selected and pushes the newly selected ones."""
    plan = demo_plan(tmp_path)
    run_plan(load_plan(plan))
    before = refs_of(target_of(tmp_path))

    narrower = run_plan(with_rules(plan, refs={"include": ["refs/heads/main", "refs/tags/v*"]}))
    assert narrower.verified_ok and the_repository(narrower)["deleted_refs"] == ["refs/heads/release/1.0"]
    assert refs_of(target_of(tmp_path)) == {r: o for r, o in before.items() if r != "refs/heads/release/1.0"}

    wider = with_rules(plan, refs={"include": ["refs/heads/main", "refs/heads/eu/*", "refs/tags/v*"]})
    result = run_plan(wider)
    assert result.verified_ok and the_repository(result)["updated_refs"] == ["refs/heads/eu/cookie-banner"]
    after = refs_of(target_of(tmp_path))
    # The EU branch's only commit touched region/eu alone: its mirror is main's mirror.
    assert after["refs/heads/eu/cookie-banner"] == after["refs/heads/main"] == before["refs/heads/main"]
    assert verify_plan(wider).ok


# 5. A target holding refs this plan did not push ---------------------------------------------------


def foreign_target(folder: Path, *, main_too: bool = False) -> dict[str, str]:
    """The target repository made beforehand by someone else, holding a branch of its own (and a main)."""
    target = target_of(folder)
    target.parent.mkdir(parents=True)
    git("init", "--bare", "-q", str(target))
    commit_onto(target, "refs/heads/legacy", {"LEGACY.md": "the old home of the code\n"}, "legacy\n", parent="")
    if main_too:
        commit_onto(target, "refs/heads/main", {"OLD.md": "an older main\n"}, "old main\n", parent="")
    return refs_of(target)


def test_existing_fail_refuses_a_target_holding_other_refs(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    held = foreign_target(tmp_path)
    assert any("refs/heads/legacy" in r for r in dry_run(loaded).refusals)
    with pytest.raises(SafetyError) as refused:
        run_plan(loaded)
    message = str(refused.value)
    assert "refs/heads/legacy" in message and "target.existing: truncate" in message and "merge" in message
    assert refs_of(target_of(tmp_path)) == held


def test_existing_merge_mirrors_beside_the_refs_it_did_not_push(tmp_path: Path) -> None:
    plan = demo_plan(tmp_path, existing="merge")
    loaded = load_plan(plan)
    held = foreign_target(tmp_path)
    result = run_plan(loaded)
    assert result.verified_ok, result.codebase
    after = refs_of(target_of(tmp_path))
    assert sorted(after) == sorted([*MIRRORED, "refs/heads/legacy"])
    assert after["refs/heads/legacy"] == held["refs/heads/legacy"]
    checked = verify_plan(loaded)
    assert checked.ok, checked.codebase
    # A later sync leaves it alone too.
    add_commits(source_of(tmp_path), "main", 1)
    assert run_plan(loaded).verified_ok
    assert refs_of(target_of(tmp_path))["refs/heads/legacy"] == held["refs/heads/legacy"]


def test_existing_merge_a_sync_with_nothing_new_is_already_finished(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path, existing="merge"))
    foreign_target(tmp_path)
    first = run_plan(loaded)
    again = run_plan(loaded)
    assert again.status == "already-finished" and again.run_id == first.run_id


def test_existing_merge_verify_by_receipt_leaves_the_other_refs_alone(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path, existing="merge"))
    foreign_target(tmp_path)
    result = run_plan(loaded)
    assert result.verified_ok and verify_plan(loaded).ok
    checked = verify_plan(loaded, receipt=Path(result.receipt or ""))
    assert checked.ok, checked.codebase


def test_existing_merge_refuses_to_overwrite_a_ref_it_did_not_push(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path, existing="merge"))
    held = foreign_target(tmp_path, main_too=True)
    with pytest.raises(SafetyError, match="refs/heads/main, which this plan did not push"):
        run_plan(loaded)
    assert refs_of(target_of(tmp_path)) == held


def test_existing_truncate_replaces_and_deletes_the_refs_it_did_not_push(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path, existing="truncate"))
    foreign_target(tmp_path, main_too=True)
    result = run_plan(loaded)
    assert result.verified_ok, result.codebase
    repository = the_repository(result)
    assert "refs/heads/legacy" in repository["deleted_refs"]
    assert refs_of(target_of(tmp_path)) == mirrored_afresh(tmp_path / "afresh")
    assert verify_plan(loaded).ok


# 6. A target changed underneath --------------------------------------------------------------------


def test_a_target_changed_between_syncs_refuses_the_next_one(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    run_plan(loaded)
    hotfix = commit_onto(target_of(tmp_path), "refs/heads/main", {"app/hotfix.py": "FIX = 1\n"}, "hotfix\n")
    held = refs_of(target_of(tmp_path))
    add_commits(source_of(tmp_path), "main", 2)

    with pytest.raises(SafetyError) as refused:
        run_plan(loaded)
    message = str(refused.value)
    assert "changed since the last sync" in message and "refs/heads/main" in message
    assert refs_of(target_of(tmp_path)) == held and held["refs/heads/main"] == hotfix


def test_a_target_with_a_pre_receive_guard_takes_every_sync_and_refuses_a_leak(tmp_path: Path) -> None:
    """The target's own hook refuses any commit touching an excluded path: the syncs pass it, a push
    of the unfiltered source does not."""
    loaded = load_plan(demo_plan(tmp_path))
    target = target_of(tmp_path)
    target.parent.mkdir(parents=True)
    init_bare(target)
    install_pre_receive_guard(target, [":(glob)region/eu/**", ":(glob)**/*.env"])
    assert run_plan(loaded).verified_ok
    move_on(source_of(tmp_path))
    assert run_plan(loaded).verified_ok
    before = refs_of(target)
    leak = subprocess.run(
        ["git", "-C", str(source_of(tmp_path)), "push", str(target), "main:refs/heads/leak"], capture_output=True
    )
    assert leak.returncode != 0 and b"excluded path refused in refs/heads/leak" in leak.stderr
    assert refs_of(target) == before


def test_the_dry_run_says_a_target_changed_underneath_would_be_refused(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    run_plan(loaded)
    commit_onto(target_of(tmp_path), "refs/heads/main", {"app/hotfix.py": "FIX = 1\n"}, "hotfix\n")
    assert any("changed since the last sync" in r for r in dry_run(loaded).refusals)


# 7. Tampering with the target, caught by verify ----------------------------------------------------


def failed_checks(verification: dict[str, Any]) -> dict[str, str]:
    [repository] = verification["repositories"]
    return {c["check"]: c["detail"] for c in repository["checks"] if not c["ok"]}


@pytest.fixture
def mirrored(tmp_path: Path) -> tuple[LoadedPlan, Path]:
    """The demo monorepo mirrored once; the loaded plan and the receipt of that run."""
    loaded = load_plan(demo_plan(tmp_path))
    result = run_plan(loaded)
    assert result.verified_ok
    return loaded, Path(result.receipt or "")


def test_verify_catches_a_foreign_commit_on_a_mirrored_branch(
    tmp_path: Path, mirrored: tuple[LoadedPlan, Path]
) -> None:
    loaded, receipt = mirrored
    foreign = commit_onto(target_of(tmp_path), "refs/heads/main", {"app/backdoor.py": "OPEN = True\n"}, "fix\n")
    checked = verify_plan(loaded)
    assert not checked.ok
    failed = failed_checks(checked.codebase or {})
    assert set(failed) == {"tips", "images"}
    assert f"refs/heads/main: target {foreign[:12]}" in failed["tips"]
    assert "1 commit in the target" in failed["images"] and foreign[:12] in failed["images"]

    by_receipt = verify_plan(loaded, receipt=receipt)
    assert not by_receipt.ok
    failed = failed_checks(by_receipt.codebase or {})
    assert set(failed) == {"tips", "images"} and foreign[:12] in failed["images"]


def test_verify_catches_an_unfiltered_source_commit(tmp_path: Path, mirrored: tuple[LoadedPlan, Path]) -> None:
    loaded, _ = mirrored
    git("-C", str(source_of(tmp_path)), "push", "-q", str(target_of(tmp_path)), "main:refs/heads/leak")
    checked = verify_plan(loaded)
    assert not checked.ok
    failed = failed_checks(checked.codebase or {})
    assert set(failed) == {"tips", "images", "paths", "blobs"}
    assert "refs/heads/leak: in the target, not from the source" in failed["tips"]
    source_main = refs_of(source_of(tmp_path))["refs/heads/main"]
    assert source_main[:12] in failed["images"]
    assert "region/eu/" in failed["paths"] and "config/global.env" in failed["paths"]
    assert "stood at excluded source paths" in failed["blobs"]


def test_verify_catches_an_excluded_path_pushed_directly(tmp_path: Path, mirrored: tuple[LoadedPlan, Path]) -> None:
    loaded, receipt = mirrored
    commit_onto(target_of(tmp_path), "refs/heads/main", {"region/eu/x": "eu only\n"}, "add x\n")
    checked = verify_plan(loaded)
    assert not checked.ok
    failed = failed_checks(checked.codebase or {})
    assert set(failed) == {"tips", "images", "paths"}  # a new blob: never at an excluded source path
    assert "region/eu/x" in failed["paths"]

    by_receipt = verify_plan(loaded, receipt=receipt)
    failed = failed_checks(by_receipt.codebase or {})
    assert not by_receipt.ok and "region/eu/x" in failed["paths"]


def leak_excluded_blob(tmp_path: Path) -> str:
    """The planted secret's file, as it stood in the source, put into the target under a tag of its
    own (a ref naming a blob, no commit); the blob's id."""
    blob = git("-C", str(source_of(tmp_path)), "rev-parse", "main~5:config/global.env")
    content = subprocess.run(
        ["git", "-C", str(source_of(tmp_path)), "cat-file", "blob", blob], capture_output=True, check=True
    ).stdout
    assert git("-C", str(target_of(tmp_path)), "hash-object", "-w", "--stdin", stdin=content) == blob
    git("-C", str(target_of(tmp_path)), "update-ref", "refs/tags/leak", blob)
    return blob


def test_verify_catches_a_ref_naming_an_excluded_blob(tmp_path: Path, mirrored: tuple[LoadedPlan, Path]) -> None:
    loaded, receipt = mirrored
    leak_excluded_blob(tmp_path)
    for checked in (verify_plan(loaded), verify_plan(loaded, receipt=receipt)):
        assert not checked.ok
        assert "refs/tags/leak: in the target, not from the source" in failed_checks(checked.codebase or {})["tips"]


def test_the_blobs_check_names_an_excluded_blob_a_ref_points_at(
    tmp_path: Path, mirrored: tuple[LoadedPlan, Path]
) -> None:
    loaded, _ = mirrored
    blob = leak_excluded_blob(tmp_path)
    failed = failed_checks(verify_plan(loaded).codebase or {})
    assert "blobs" in failed and blob[:12] in failed["blobs"]


def test_the_runs_own_verification_catches_a_change_made_right_after_its_push(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone pushes an excluded path onto the mirror's main between the sync's push and its check:
    the run's verification (against the rewrite it just made, from what it last proved) says so."""
    loaded = load_plan(demo_plan(tmp_path))
    run_plan(loaded)
    move_on(source_of(tmp_path))
    done = codebase._Events.done

    def tamper_after_push(self: codebase._Events, repository: str, step: str, facts: Any) -> None:
        done(self, repository, step, facts)
        if step == "pushed":
            commit_onto(target_of(tmp_path), "refs/heads/main", {"region/eu/x": "eu only\n"}, "add x\n")

    monkeypatch.setattr(codebase._Events, "done", tamper_after_push)
    result = run_plan(loaded)
    assert result.status == "copied-but-not-verified" and not result.verified_ok
    failed = failed_checks({"repositories": [the_repository(result)["verification"]]})
    assert set(failed) == {"tips", "images", "paths"} and "region/eu/x" in failed["paths"]
    assert Mark.read(UnitFiles.of(loaded.state_dir, "monorepo").mark).step == "pushed"
    monkeypatch.undo()
    with pytest.raises(SafetyError, match="changed since the last sync"):  # and the next sync will not cover it up
        run_plan(loaded)


# 8. A run killed between two steps -----------------------------------------------------------------


def killed_after(step: str, plan: Path, *options: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.codebase_killable", step, "run", str(plan), "--format", "json", *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    assert done.returncode == KILLED, done.stderr.decode()


@pytest.mark.parametrize("resync", [False, True], ids=["first-sync", "re-sync"])
@pytest.mark.parametrize("step", ["fetched", "rewritten", "pushed", "verified"])
def test_a_run_killed_after_a_step_converges_to_the_same_target(tmp_path: Path, step: str, resync: bool) -> None:
    plan = demo_plan(tmp_path / "killed")
    loaded = load_plan(plan)
    if resync:
        run_plan(loaded)
        move_on(source_of(tmp_path / "killed"))
    killed_after(step, plan)
    assert Mark.read(UnitFiles.of(loaded.state_dir, "monorepo").mark).step == step

    again = run_plan(loaded)
    assert again.status == "resumed-and-finished" and again.verified_ok, again.codebase
    assert refs_of(target_of(tmp_path / "killed")) == mirrored_afresh(tmp_path / "whole", moved_on=resync)
    checked = verify_plan(loaded)
    assert checked.ok, checked.codebase


@pytest.mark.parametrize("step", ["fetched", "rewritten"])
def test_a_restart_killed_after_a_step_is_finished_by_a_plain_run(tmp_path: Path, step: str) -> None:
    """`run --restart` killed: the next `run` (without --restart, as the CLI advises after a stop)
    goes on with the new baseline instead of refusing the changed rules."""
    plan = demo_plan(tmp_path / "killed")
    run_plan(load_plan(plan))
    rules = {**DEMO_RULES, "paths": {"exclude": [*DEMO_RULES["paths"]["exclude"], "tests/**"]}}
    changed = with_rules(plan, paths=rules["paths"])
    killed_after(step, plan, "--restart")

    again = run_plan(changed)
    assert again.status == "resumed-and-finished" and again.verified_ok, again.codebase
    assert refs_of(target_of(tmp_path / "killed")) == mirrored_afresh(tmp_path / "whole", rules=rules)


@pytest.mark.parametrize("resync", [False, True], ids=["first-sync", "re-sync"])
def test_a_push_that_landed_before_its_mark_was_written_converges(tmp_path: Path, resync: bool) -> None:
    """Killed after the server took the push but before the mark said so: the next run finds the
    target's refs at their new ids, pushes nothing more, and calls them neither foreign refs nor a
    change underneath."""
    plan = demo_plan(tmp_path / "killed")
    loaded = load_plan(plan)
    if resync:
        run_plan(loaded)
        move_on(source_of(tmp_path / "killed"))
    killed_after("rewritten", plan)
    files = UnitFiles.of(loaded.state_dir, "monorepo")
    mark = Mark.read(files.mark)
    target = target_of(tmp_path / "killed")
    if not target.exists():
        init_bare(target)
    # What the killed run's push would have sent: the rewritten refs, from the sync's own repository.
    git("-C", str(files.work), "push", "-q", str(target), *[f"{oid}:{ref}" for ref, oid in mark.refs.items()])
    assert refs_of(target) == mark.refs

    again = run_plan(loaded)
    assert again.verified_ok, again.codebase
    assert the_repository(again)["updated_refs"] == []
    assert refs_of(target) == mirrored_afresh(tmp_path / "whole", moved_on=resync)


# 9. The receipt, the commit map and the audit trail over several syncs -----------------------------


def test_receipts_maps_and_the_audit_trail_over_several_syncs(tmp_path: Path) -> None:
    loaded = load_plan(demo_plan(tmp_path))
    receipts = [Path(run_plan(loaded).receipt or "")]
    for prefix in ("app/one", "app/two"):
        add_commits(source_of(tmp_path), "main", 2, prefix=prefix)
        receipts.append(Path(run_plan(loaded).receipt or ""))
    assert len(set(receipts)) == 3

    source, target = refs_of(source_of(tmp_path)), refs_of(target_of(tmp_path))
    digest = the_repository(dry_run(loaded))["rules_digest"]
    body = json.loads(receipts[-1].read_text())
    entry = body["codebase"]["repositories"]["monorepo"]
    assert entry["rules_digest"] == digest and entry["verified"] is True
    assert entry["refs"] == {ref: {"source": source[ref], "target": target[ref]} for ref in MIRRORED}
    # The map beside the receipt: named by its SHA-256, holding an image for every target commit.
    map_file = receipts[-1].parent / entry["commit_map"]
    text = map_file.read_bytes()
    assert hashlib.sha256(text).hexdigest() == entry["commit_map_sha256"]
    assert f"rules {digest}".encode() in text
    images = {line.split()[2] for line in text.decode().splitlines() if line.startswith("commit ")}
    in_target = git("-C", str(target_of(tmp_path)), "rev-list", "--all").split()
    assert in_target and set(in_target) <= images
    # Each sync's receipt holds its own tips: the first one's main is an ancestor of the last one's.
    first = json.loads(receipts[0].read_text())["codebase"]["repositories"]["monorepo"]
    first_main = first["refs"]["refs/heads/main"]["target"]
    assert first_main != target["refs/heads/main"]
    assert is_ancestor(target_of(tmp_path), first_main, target["refs/heads/main"])
    # The last receipt proves the target without the source; an older one no longer matches it.
    assert verify_plan(loaded, receipt=receipts[-1]).ok
    stale = verify_plan(loaded, receipt=receipts[0])
    assert not stale.ok and "refs/heads/main" in failed_checks(stale.codebase or {})["tips"]
    report = verify_state(loaded.state_dir)
    assert report.ok, report.problems
    assert len(report.receipts) == 3
    # The audit trail has each sync's steps: what was rewritten, and the map it made.
    events = [json.loads(line) for line in (loaded.state_dir / "audit.jsonl").read_text().splitlines()]
    rewritten = [e for e in events if e["event"] == "repository rewritten"]
    assert [e["new_commits"] for e in rewritten] == [6, 2, 2]
    assert rewritten[-1]["commit_map_sha256"] == entry["commit_map_sha256"]
    assert [e["event"] for e in events].count("repository verified") == 3
