"""The codebase part end to end against real servers on 127.0.0.1: `git daemon` and `git http-backend`
with HTTP Basic authentication and injected failures, a pre-receive hook as the target's second guard,
the CLI from `validate --connect` to `audit verify`, and the dry run and refusals on the scenario
holding a submodule, an LFS pointer, a large blob and secrets."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from migrator.codebase.secrets import secret_hash
from migrator.codebase.wildmatch import git_pathspecs
from migrator.demo.monorepo import PLANTED_KEY, PLANTED_PASSWORD, write_monorepo
from migrator.engine.dry_run import dry_run
from migrator.engine.observer import Silent
from migrator.engine.run import run_plan
from migrator.engine.verify import verify_plan
from migrator.errors import PlanError, SafetyError
from migrator.plan.load import load_plan
from migrator.stores.git.transport import PushRejected
from tests.codebase_cases import (
    DEMO_RULES,
    all_blob_contents,
    all_paths,
    commit_files,
    demo_plan,
    files_holding,
    git,
    refs_of,
    write_plan,
)
from tests.conftest import CliRunner
from tests.git_histories import ALLOWED_SECRET, PLANTED_SECRET, special_content
from tests.git_servers import GitDaemon, GitHttp, init_bare, install_pre_receive_guard

PASSWORD_VARIABLE = "MIGRATOR_TEST_GIT_PASSWORD"
LATER = 1_700_000_000  # the source's new commits, after the demo's history
DEMO_REFS = ["refs/heads/main", "refs/heads/release/1.0", "refs/tags/v1.0"]


def monorepo_source(folder: Path) -> Path:
    """The demo monorepo, bare, in `folder` as `monorepo.git`."""
    write_monorepo(folder)
    return folder / "monorepo.git"


def expected_target_refs(tmp_path: Path) -> dict[str, str]:
    """The demo mirror's refs as a run into a local folder makes them: the ids any target must get, the
    rewrite being a pure function of the source and the rules."""
    folder = tmp_path / "reference"
    folder.mkdir()
    result = run_plan(load_plan(demo_plan(folder)))
    assert result.verified_ok, result.codebase
    return refs_of(folder / "us" / "git" / "monorepo-us.git")


def http_side(server: GitHttp, folder: str = "") -> dict[str, Any]:
    return {
        "codebase": server.base_url + folder,
        "git": {"username": server.username, "password": f"${{{PASSWORD_VARIABLE}}}"},
    }


def assert_nowhere(secret: str, loaded_state: Path, *texts: str) -> None:
    assert files_holding(loaded_state, secret.encode()) == []
    for text in texts:
        assert secret not in text


# --- targets over the network


def test_a_git_daemon_target_gets_the_same_mirror_as_a_folder(tmp_path: Path, git_daemon: GitDaemon) -> None:
    expected = expected_target_refs(tmp_path)
    _url, served = git_daemon.new_repository("monorepo-us")
    loaded = load_plan(demo_plan(tmp_path, codebase=git_daemon.base_url))
    result = run_plan(loaded)
    assert result.verified_ok, result.codebase
    assert refs_of(served) == expected and sorted(expected) == DEMO_REFS
    assert not [p for p in all_paths(served) if p.startswith("region/eu/") or p.endswith(".env")]
    checked = verify_plan(loaded)
    assert checked.ok, checked.codebase
    assert [c["ok"] for c in checked.codebase["repositories"][0]["checks"]] == [True] * len(
        checked.codebase["repositories"][0]["checks"]
    )


def test_http_source_and_target_with_basic_auth_keep_the_password_out_of_everything(
    tmp_path: Path, git_http: GitHttp
) -> None:
    expected = expected_target_refs(tmp_path)
    # The source served by the same server, in its own folder, under the name the plan gives it.
    (git_http.root / "global").mkdir()
    shutil.move(str(monorepo_source(tmp_path / "made")), git_http.root / "global" / "monorepo")
    _url, served = git_http.new_repository("us/monorepo-us")
    git_http.watch_argv_for(git_http.password)
    plan = write_plan(tmp_path, http_side(git_http, "/global"), http_side(git_http, "/us"), DEMO_RULES)
    environ = {PASSWORD_VARIABLE: git_http.password}
    loaded = load_plan(plan, environ=environ)
    result = run_plan(loaded, environ=environ)
    assert result.verified_ok, result.codebase
    assert refs_of(served) == expected
    assert PLANTED_PASSWORD.encode() not in all_blob_contents(served)
    checked = verify_plan(loaded)
    by_receipt = verify_plan(loaded, receipt=Path(result.receipt or ""))
    assert checked.ok and by_receipt.ok, (checked.codebase, by_receipt.codebase)
    # Every request authenticated; the password never in a command line, a state file, the audit log,
    # the receipt or the results.
    assert {status for _m, _p, status in git_http.requests} <= {200}
    assert git_http.argv_hits == []
    audit = (loaded.state_dir / "audit.jsonl").read_text()
    assert '"repository pushed"' in audit
    assert_nowhere(
        git_http.password,
        loaded.state_dir,
        json.dumps(result.to_dict()),
        json.dumps(checked.to_dict()),
        json.dumps(by_receipt.to_dict()),
        Path(result.receipt or "").read_text(),
    )


def test_injected_500s_are_retried_and_the_mirror_is_the_undisturbed_one(tmp_path: Path, git_http: GitHttp) -> None:
    expected = expected_target_refs(tmp_path)
    _url, served = git_http.new_repository("monorepo-us")
    plan = demo_plan(tmp_path, **http_side(git_http))
    environ = {PASSWORD_VARIABLE: git_http.password}
    loaded = load_plan(plan, environ=environ)
    git_http.fail_next(2)
    git_http.drop_next(1)  # then a connection closed before any answer
    result = run_plan(loaded, environ=environ)
    assert result.verified_ok, result.codebase
    assert refs_of(served) == expected
    assert [status for _m, _p, status in git_http.requests].count(500) == 2
    assert len(result.retries) == 3 and all("500" in retry for retry in result.retries[:2])
    events = [json.loads(line) for line in (loaded.state_dir / "audit.jsonl").read_text().splitlines()]
    retries = [e for e in events if e.get("event") == "retry"]
    assert [e["attempt"] for e in retries] == [1, 2, 3]
    assert "500" in retries[0]["error"] and git_http.base_url in retries[2]["error"]
    receipt = json.loads(Path(result.receipt or "").read_text())
    assert len(receipt["retries"]) == 3
    assert_nowhere(git_http.password, loaded.state_dir, json.dumps(result.to_dict()))


class FailAtStep(Silent):
    """Makes the http target fail the first request of a step, the first time the step starts."""

    def __init__(self, server: GitHttp, step: str, count: int = 1):
        self.server, self.target_step, self.count = server, step, count

    def step(self, message: str) -> None:
        if message == self.target_step and self.count:
            self.server.fail_next(self.count)
            self.count = 0


@pytest.mark.parametrize("step", ["monorepo: push", "monorepo: verify"])
def test_a_500_at_the_push_or_the_verification_is_retried_to_the_same_mirror(
    tmp_path: Path, git_http: GitHttp, step: str
) -> None:
    expected = expected_target_refs(tmp_path)
    _url, served = git_http.new_repository("monorepo-us")
    environ = {PASSWORD_VARIABLE: git_http.password}
    loaded = load_plan(demo_plan(tmp_path, **http_side(git_http)), environ=environ)
    result = run_plan(loaded, environ=environ, observer=FailAtStep(git_http, step))
    assert result.verified_ok, result.codebase
    assert len(result.retries) == 1 and "500" in result.retries[0]
    assert refs_of(served) == expected
    assert len(receive_packs(git_http)) == 1  # pushed once, also when the verification was retried
    assert verify_plan(loaded).ok


def test_a_run_retried_after_its_rewrite_still_reports_the_commits_it_pushed(tmp_path: Path, git_http: GitHttp) -> None:
    git_http.new_repository("monorepo-us")
    environ = {PASSWORD_VARIABLE: git_http.password}
    loaded = load_plan(demo_plan(tmp_path, **http_side(git_http)), environ=environ)
    git_http.fail_next(1)  # the target's first answer: after the fetch and the rewrite, before the push
    result = run_plan(loaded, environ=environ)
    assert result.verified_ok and len(result.retries) == 1
    assert result.codebase is not None
    [repo] = result.codebase["repositories"]
    assert (repo["new_commits"], repo["pruned_commits"]) == (6, 2)


def test_a_wrong_password_is_a_clear_error_and_nothing_is_pushed(
    tmp_path: Path, git_http: GitHttp, run_cli: CliRunner
) -> None:
    _url, served = git_http.new_repository("monorepo-us")
    plan = demo_plan(tmp_path, **http_side(git_http))
    wrong = "not-the-Password-42"
    done = run_cli("run", plan, env={PASSWORD_VARIABLE: wrong})
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "credentials" in said and git_http.base_url in said
    assert wrong not in said and git_http.password not in said
    assert refs_of(served) == {}
    assert 401 in {status for _m, _p, status in git_http.requests}
    for command in (["validate", plan, "--connect"], ["verify", plan]):
        checked = run_cli(*command, env={PASSWORD_VARIABLE: wrong})
        assert checked.returncode == 2, checked.stdout + checked.stderr
        assert "did not accept the credentials" in checked.stderr and wrong not in checked.stdout + checked.stderr
        said += checked.stdout + checked.stderr
    state = load_plan(plan, environ={PASSWORD_VARIABLE: wrong}).state_dir
    assert_nowhere(wrong, state, said)


def test_incremental_syncs_over_http_push_only_what_is_new(tmp_path: Path, git_http: GitHttp) -> None:
    _url, served = git_http.new_repository("monorepo-us")
    environ = {PASSWORD_VARIABLE: git_http.password}
    loaded = load_plan(demo_plan(tmp_path, **http_side(git_http)), environ=environ)
    first = run_plan(loaded, environ=environ)
    assert first.verified_ok, first.codebase
    old_main = refs_of(served)["refs/heads/main"]
    pushes = len(receive_packs(git_http))
    # Nothing new: no push at all.
    again = run_plan(loaded, environ=environ)
    assert again.status == "already-finished" and len(receive_packs(git_http)) == pushes
    # Three app commits and two EU-only ones on main: three new images, two pruned, one push.
    source = tmp_path / "source" / "git" / "monorepo.git"
    for step, path in enumerate(["app/a.py", "region/eu/b.py", "app/c.py", "region/eu/d.py", "app/e.py"]):
        commit_files(source, "main", {path: f"# {path}\n"}, f"add {path}", LATER + step * 60)
    later = run_plan(loaded, environ=environ)
    assert later.verified_ok, later.codebase
    assert later.codebase is not None
    [repo] = later.codebase["repositories"]
    assert (repo["new_commits"], repo["pruned_commits"], repo["updated_refs"]) == (3, 2, ["refs/heads/main"])
    assert len(receive_packs(git_http)) == pushes + 1
    new_main = refs_of(served)["refs/heads/main"]
    assert new_main != old_main
    git("-C", str(served), "merge-base", "--is-ancestor", old_main, new_main)  # raises if not an ancestor
    assert not [p for p in all_paths(served) if p.startswith("region/eu/")]


def test_a_push_over_a_mebibyte_goes_chunked_and_verifies(tmp_path: Path, git_http: GitHttp) -> None:
    _url, served = git_http.new_repository("monorepo-us")
    environ = {PASSWORD_VARIABLE: git_http.password}
    loaded = load_plan(demo_plan(tmp_path, **http_side(git_http)), environ=environ)
    noise = random.Random(7).randbytes(1_500_000).hex()  # 3 MB that compress to about half: over 1 MiB
    commit_files(tmp_path / "source" / "git" / "monorepo.git", "main", {"app/weights.txt": noise}, "weights", LATER)
    result = run_plan(loaded, environ=environ)
    assert result.verified_ok, result.codebase
    assert git_http.chunked_requests >= 1
    assert git("-C", str(served), "cat-file", "-s", "main:app/weights.txt") == str(len(noise))


def test_content_that_also_stood_at_an_excluded_path_is_kept_out_and_planned_so(
    tmp_path: Path, run_cli: CliRunner
) -> None:
    plan = demo_plan(tmp_path)
    source = tmp_path / "source" / "git" / "monorepo.git"
    copied = commit_files(source, "main", {"app/eu_copy.py": "EU = True\n"}, "a copy", LATER)
    commit_files(source, "main", {"region/eu/flag.py": "EU = True\n"}, "the EU flag", LATER + 60)
    planned = run_cli("plan", plan)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert (
        f"kept out: app/eu_copy.py in {copied[:12]}, its content also stood at region/eu/flag.py (an excluded path)"
        in planned.stdout
    )
    result = run_plan(load_plan(plan))
    assert result.verified_ok, result.codebase
    assert "app/eu_copy.py" not in all_paths(tmp_path / "us" / "git" / "monorepo-us.git")


def receive_packs(server: GitHttp) -> list[tuple[str, str, int]]:
    """The pushes the server answered (git's POST to git-receive-pack)."""
    return [r for r in server.requests if r[0] == "POST" and r[1].endswith("/git-receive-pack")]


def test_tampering_with_a_daemon_target_is_caught_and_not_overwritten(
    tmp_path: Path, git_daemon: GitDaemon, run_cli: CliRunner
) -> None:
    url, served = git_daemon.new_repository("monorepo-us")
    loaded = load_plan(demo_plan(tmp_path, codebase=git_daemon.base_url))
    assert run_plan(loaded).verified_ok
    in_place = run_cli("plan", tmp_path / "plan.yaml")
    assert in_place.returncode == 0, in_place.stdout + in_place.stderr
    assert "no new source commit since the last sync" in in_place.stdout and "refs to update: none" in in_place.stdout
    # Someone pushes an EU file straight into the mirror.
    work = tmp_path / "someone"
    git("clone", "--quiet", "--branch", "main", url, str(work))
    (work / "region" / "eu").mkdir(parents=True)
    (work / "region" / "eu" / "leak.csv").write_text("eu,1\n")
    git("-C", str(work), "add", "-A")
    git("-C", str(work), "-c", "user.name=X", "-c", "user.email=x@example.com", "commit", "--quiet", "-m", "leak")
    git("-C", str(work), "push", "--quiet", "origin", "HEAD:refs/heads/main")
    tampered = refs_of(served)
    checked = verify_plan(loaded)
    assert not checked.ok
    failed = {c["check"] for c in checked.codebase["repositories"][0]["checks"] if not c["ok"]}
    assert {"tips", "images", "paths"} <= failed, checked.codebase
    verified = run_cli("verify", tmp_path / "plan.yaml")
    assert verified.returncode != 0 and "FAIL" in verified.stdout and "region/eu/leak.csv" in verified.stdout
    # The next sync refuses to overwrite what it did not push, and its dry run says so.
    planned = run_cli("plan", tmp_path / "plan.yaml")
    assert planned.returncode == 2 and "changed since the last sync: refs/heads/main" in planned.stderr
    commit_files(tmp_path / "source" / "git" / "monorepo.git", "main", {"app/x.py": "x\n"}, "x", LATER)
    with pytest.raises(SafetyError, match="changed since the last sync"):
        run_plan(loaded)
    assert refs_of(served) == tampered


def test_validate_connect_names_a_server_repository_that_is_missing(
    tmp_path: Path, git_daemon: GitDaemon, run_cli: CliRunner
) -> None:
    plan = demo_plan(tmp_path, codebase=git_daemon.base_url)
    done = run_cli("validate", plan, "--connect")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{git_daemon.base_url}/monorepo-us" in done.stderr and "create it on the server" in done.stderr


def test_a_password_in_the_url_is_refused_without_being_printed(tmp_path: Path, git_http: GitHttp) -> None:
    with_password = git_http.base_url.replace("http://", f"http://{git_http.username}:${{{PASSWORD_VARIABLE}}}@")
    plan = demo_plan(tmp_path, codebase=with_password)
    with pytest.raises(PlanError) as refused:
        load_plan(plan, environ={PASSWORD_VARIABLE: git_http.password})
    assert "target.codebase: holds a password" in str(refused.value)
    assert git_http.password not in str(refused.value)


# --- the target's own guard


def guarded_target(tmp_path: Path) -> Path:
    served = init_bare(tmp_path / "us" / "git" / "monorepo-us.git")
    install_pre_receive_guard(served, git_pathspecs(["region/eu/**"]))
    return served


def test_the_pre_receive_guard_rejects_a_plan_that_forgot_the_eu_folder(tmp_path: Path, run_cli: CliRunner) -> None:
    served = guarded_target(tmp_path)
    mistaken = {**DEMO_RULES, "paths": {"exclude": ["**/*.env"]}}  # region/eu/** forgotten
    loaded = load_plan(demo_plan(tmp_path, rules=mistaken))
    with pytest.raises(PushRejected) as rejected:
        run_plan(loaded)
    assert isinstance(rejected.value, SafetyError)
    message = str(rejected.value)
    assert "excluded path refused in refs/heads/main: region/eu/" in message
    assert "nothing was changed" in message
    assert refs_of(served) == {}
    # The CLI says the same and ends with exit code 2.
    done = run_cli("run", tmp_path / "plan.yaml")
    assert done.returncode == 2 and "excluded path refused" in done.stdout + done.stderr
    assert refs_of(served) == {}


def test_the_right_rules_pass_the_pre_receive_guard(tmp_path: Path) -> None:
    served = guarded_target(tmp_path)
    result = run_plan(load_plan(demo_plan(tmp_path)))
    assert result.verified_ok, result.codebase
    assert sorted(refs_of(served)) == DEMO_REFS


def test_rules_fixed_after_a_rejected_push_sync_without_a_restart(tmp_path: Path) -> None:
    """Nothing was pushed under the mistaken rules, so no target commit depends on their commit map."""
    served = guarded_target(tmp_path)
    mistaken = {**DEMO_RULES, "paths": {"exclude": ["**/*.env"]}}
    with pytest.raises(PushRejected):
        run_plan(load_plan(demo_plan(tmp_path, rules=mistaken)))
    fixed = load_plan(demo_plan(tmp_path))
    planned = dry_run(fixed)
    assert not planned.refusals and planned.codebase is not None
    assert planned.codebase["repositories"][0]["new_commits"] == 6
    result = run_plan(fixed)
    assert result.verified_ok, result.codebase
    assert refs_of(served) == expected_target_refs(tmp_path)


def test_a_push_that_landed_unrecorded_is_not_replaced_under_new_rules(tmp_path: Path) -> None:
    """The other side of dropping an unpushed map: a kill after the push but before the mark leaves
    the mark saying nothing was pushed; new rules then find refs this plan did not push, and refuse."""
    first = load_plan(demo_plan(tmp_path))
    assert run_plan(first).verified_ok
    served = tmp_path / "us" / "git" / "monorepo-us.git"
    before = refs_of(served)
    mark_file = first.state_dir / "codebase" / "monorepo" / "unit.json"
    mark = json.loads(mark_file.read_text())
    mark_file.write_text(json.dumps({**mark, "step": "rewritten", "pushed": {}, "verified": {}}))
    other = {**DEMO_RULES, "paths": {"exclude": ["region/**", "**/*.env"]}}
    with pytest.raises(SafetyError, match="already holds refs this plan did not push"):
        run_plan(load_plan(demo_plan(tmp_path, rules=other)))
    assert refs_of(served) == before


# --- the command line


def test_the_cli_from_validate_to_audit_verify(tmp_path: Path, git_http: GitHttp, run_cli: CliRunner) -> None:
    _url, served = git_http.new_repository("monorepo-us")
    plan = demo_plan(tmp_path, **http_side(git_http))
    env = {PASSWORD_VARIABLE: git_http.password}

    validated = run_cli("validate", plan, "--connect", env=env)
    assert validated.returncode == 0, validated.stderr
    assert "codebase source" in validated.stdout and "codebase target" in validated.stdout

    planned = run_cli("plan", plan, env=env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    text = planned.stdout
    assert "repository monorepo" in text
    assert "8 new source commits: 6 to rewrite, 2 pruned (empty once filtered)" in text
    assert "refs to update: refs/heads/main, refs/heads/release/1.0, refs/tags/v1.0" in text
    assert "paths excluded:" in text and "config/global.env" in text
    as_json = run_cli("plan", plan, "--format", "json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    [repo] = json.loads(as_json.stdout)["codebase"]["repositories"]
    assert repo["refs_to_update"] == DEMO_REFS and repo["secrets"] == []
    assert refs_of(served) == {}  # planning pushed nothing

    ran = run_cli("run", plan, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "repository monorepo: 8 new source commits (6 rewritten, 2 pruned), 3 refs pushed" in ran.stdout
    assert "repository monorepo verified" in ran.stdout
    assert sorted(refs_of(served)) == DEMO_REFS

    verified = run_cli("verify", plan, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ok" in verified.stdout and "repository monorepo verified" in verified.stdout
    receipt = _receipt_of(plan)
    by_receipt = run_cli("verify", plan, "--receipt", receipt, env=env)
    assert by_receipt.returncode == 0, by_receipt.stdout + by_receipt.stderr
    assert "repository monorepo verified" in by_receipt.stdout

    state = load_plan(plan, environ=env).state_dir
    audited = run_cli("audit", "verify", state)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    for done in (validated, planned, as_json, ran, verified, by_receipt, audited):
        assert git_http.password not in done.stdout + done.stderr
    assert files_holding(state, git_http.password.encode()) == []


def _receipt_of(plan: Path) -> Path:
    state = load_plan(plan, environ={PASSWORD_VARIABLE: "unused"}).state_dir
    [receipt] = [p for p in (state / "receipts").glob("*.json")]
    return receipt


def test_a_secret_in_the_history_the_cli_plans_and_refuses_naming_path_commit_and_hash(
    tmp_path: Path, git_daemon: GitDaemon, run_cli: CliRunner
) -> None:
    _url, served = git_daemon.new_repository("monorepo-us")
    leaky = {**DEMO_RULES, "paths": {"exclude": ["region/eu/**"]}}  # the .env file is no longer excluded
    plan = demo_plan(tmp_path, rules=leaky, codebase=git_daemon.base_url)
    source = tmp_path / "source" / "git" / "monorepo.git"
    added = git("-C", str(source), "log", "--all", "--format=%H", "--diff-filter=A", "--", "config/global.env")
    commit = added.splitlines()[-1][:12]

    planned = run_cli("plan", plan)
    assert planned.returncode == 2, planned.stdout + planned.stderr
    said = planned.stdout + planned.stderr
    assert "secret" in said and "config/global.env" in said and commit in said and "sha256:" in said
    as_json = run_cli("plan", plan, "--format", "json")
    assert as_json.returncode == 2
    planned_json = json.loads(as_json.stdout)
    assert len(planned_json["refusals"]) == 2 and all("config/global.env" in r for r in planned_json["refusals"])
    [repo] = planned_json["codebase"]["repositories"]
    findings = repo["secrets"]
    assert findings and {f["path"] for f in findings} == {"config/global.env"}
    assert {f["sha256"] for f in findings} >= {secret_hash(PLANTED_PASSWORD.encode())}

    ran = run_cli("run", plan)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    said_run = ran.stdout + ran.stderr
    assert "config/global.env" in said_run and commit in said_run
    assert secret_hash(PLANTED_PASSWORD.encode()) in said_run
    for text in (said, as_json.stdout, said_run):
        assert PLANTED_PASSWORD not in text and PLANTED_KEY not in text
    assert refs_of(served) == {}


# --- submodules, LFS pointers, large blobs and secrets


def special_plan(tmp_path: Path, **rules: Any) -> Path:
    special_content(tmp_path / "source" / "repo.git")
    return write_plan(
        tmp_path,
        {"codebase": "source"},
        {"codebase": "target"},
        {**rules, "repositories": [{"name": "repo"}]},
    )


def test_the_dry_run_lists_special_content_and_the_run_refuses_one_line_each(tmp_path: Path) -> None:
    loaded = load_plan(special_plan(tmp_path, submodules="fail", lfs="fail", max_blob_size=50_000))
    planned = dry_run(loaded)
    assert planned.codebase is not None
    [repo] = planned.codebase["repositories"]
    assert [s["path"] for s in repo["submodules"]] == ["vendor/lib"]
    assert [p["path"] for p in repo["lfs_pointers"]] == ["assets/model.bin"]
    assert [(b["path"], b["size"]) for b in repo["large_blobs"]] == [("data/big.bin", 102_400)]
    assert {(s["path"], s["sha256"]) for s in repo["secrets"]} == {
        ("config/settings.py", secret_hash(PLANTED_SECRET)),
        ("config/settings.py", secret_hash(ALLOWED_SECRET)),
    }
    assert len(planned.refusals) == 5
    with pytest.raises(SafetyError) as refused:
        run_plan(loaded)
    lines = str(refused.value).splitlines()
    assert len(lines) == 5, lines
    assert ["submodule at vendor/lib" in lines[0], "LFS pointer at assets/model.bin" in lines[1]] == [True, True]
    assert "data/big.bin is 102,400 bytes" in lines[2]
    assert all("config/settings.py" in line for line in lines[3:])
    for line in lines:
        assert PLANTED_SECRET.decode() not in line and ALLOWED_SECRET.decode() not in line
    assert not (tmp_path / "target" / "repo.git").exists() or refs_of(tmp_path / "target" / "repo.git") == {}


def test_dropping_special_content_and_allowing_the_test_key_passes_and_verifies(tmp_path: Path) -> None:
    loaded = load_plan(
        special_plan(
            tmp_path,
            submodules="drop",
            lfs="pointers-only",
            max_blob_size=50_000,
            large_blobs="drop",
            secrets={"action": "refuse", "allow": [secret_hash(PLANTED_SECRET), secret_hash(ALLOWED_SECRET)]},
        )
    )
    result = run_plan(loaded)
    assert result.verified_ok, result.codebase
    target = tmp_path / "target" / "repo.git"
    paths = all_paths(target)
    assert "vendor/lib" not in paths and "data/big.bin" not in paths
    assert {"assets/model.bin", "config/settings.py", "app/a.py"} <= paths
    assert b"version https://git-lfs.github.com/spec/v1" in all_blob_contents(target)
    checked = verify_plan(loaded)
    assert checked.ok, checked.codebase


def test_redacted_secrets_are_absent_from_every_blob_of_the_target(tmp_path: Path) -> None:
    loaded = load_plan(
        special_plan(
            tmp_path,
            submodules="keep",
            lfs="pointers-only",
            secrets={"action": "redact", "allow": [secret_hash(ALLOWED_SECRET)]},
        )
    )
    result = run_plan(loaded)
    assert result.verified_ok, result.codebase
    target = tmp_path / "target" / "repo.git"
    blobs = all_blob_contents(target)
    assert PLANTED_SECRET not in blobs
    assert ALLOWED_SECRET in blobs  # allowed: kept as it was
    settings = git("-C", str(target), "log", "--all", "-p", "--format=", "--", "config/settings.py")
    assert "REDACTED" in settings
    checked = verify_plan(loaded)
    assert checked.ok, checked.codebase
