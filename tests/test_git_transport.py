"""The git transport against real servers: a bare folder, `git daemon` and `git http-backend` with
authentication (tests/git_servers.py). Commits are made with pygit2 at fixed dates, so ids are pinned."""

from __future__ import annotations

import base64
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2
import pytest

from migrator.errors import SafetyError, StoreUnavailable, TransientError, UsageError
from migrator.stores.git.auth import TOKEN_USERNAME, GitAuth, git_environment
from migrator.stores.git.transport import RefUpdate, Remote
from migrator.stores.git.transport_errors import (
    GitAuthFailed,
    GitCommandFailed,
    GitRepositoryMissing,
    GitTransientError,
    GitUnreachable,
    PushRejected,
    classify_failure,
)
from tests.git_servers import DROP, GitDaemon, GitHttp, init_bare, install_pre_receive_guard

WHEN = 1_700_000_000  # 2023-11-14T22:13:20Z
EU_GUARD = [":(glob)region/eu", ":(glob)region/eu/**"]


# --- making histories


def commit(repo: Path, files: dict[str, bytes], message: str, parents: list[str] | None = None, step: int = 0) -> str:
    """A commit of exactly `files` (nested paths allowed) in `repo`, at WHEN + step seconds."""
    r = pygit2.Repository(str(repo))
    signature = pygit2.Signature("Ada Lovelace", "ada@example.org", WHEN + step, 0)
    tree = _tree(r, {tuple(path.split("/")): data for path, data in files.items()})
    return str(r.create_commit(None, signature, signature, message, tree, list(parents or [])))


def _tree(r: pygit2.Repository, files: dict[tuple[str, ...], bytes]) -> pygit2.Oid:
    builder = r.TreeBuilder()
    folders: dict[str, dict[tuple[str, ...], bytes]] = {}
    for parts, data in files.items():
        if len(parts) == 1:
            builder.insert(parts[0], r.create_blob(data), pygit2.enums.FileMode.BLOB)
        else:
            folders.setdefault(parts[0], {})[parts[1:]] = data
    for name, content in folders.items():
        builder.insert(name, _tree(r, content), pygit2.enums.FileMode.TREE)
    return builder.write()


def annotated_tag(repo: Path, name: str, target: str) -> str:
    r = pygit2.Repository(str(repo))
    signature = pygit2.Signature("Ada Lovelace", "ada@example.org", WHEN, 0)
    return str(r.create_tag(name, target, pygit2.enums.ObjectType.COMMIT, signature, f"release {name}\n"))


def refs_of(repo: Path) -> dict[str, str]:
    r = pygit2.Repository(str(repo))
    return {name: str(r.references[name].target) for name in r.references if name.startswith("refs/")}


@pytest.fixture
def local(tmp_path: Path) -> Path:
    """The local bare repository the sync pushes from (the rewrite's output)."""
    return init_bare(tmp_path / "local.git")


@dataclass
class Target:
    kind: str
    remote: Remote
    path: Path  # the repository's folder, for looking behind the server's back


@pytest.fixture(params=["folder", "daemon", "http"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "folder":
        path = request.getfixturevalue("bare_target")
        yield Target("folder", Remote(str(path)), path)
    elif request.param == "daemon":
        daemon: GitDaemon = request.getfixturevalue("git_daemon")
        url, path = daemon.new_repository("app.git")
        yield Target("daemon", Remote(url), path)
    else:
        http: GitHttp = request.getfixturevalue("git_http")
        url, path = http.new_repository("app.git")
        yield Target("http", Remote(url, GitAuth(http.username, http.password)), path)


# --- push, list, fetch, clone on every kind of target


def test_push_creates_refs_then_fetch_and_clone_bring_them_back(target: Target, local: Path, tmp_path: Path) -> None:
    first = commit(local, {"README.md": b"hello\n", "src/app.py": b"print(1)\n"}, "first\n")
    second = commit(local, {"README.md": b"hello again\n", "src/app.py": b"print(2)\n"}, "second\n", [first], 1)
    tag = annotated_tag(local, "v1", first)
    updates = [
        RefUpdate("refs/heads/main", second, None),
        RefUpdate("refs/heads/old", first, None),
        RefUpdate("refs/tags/v1", tag, None),
    ]
    assert target.remote.exists()
    target.remote.push_from(local, updates)

    expected = {"refs/heads/main": second, "refs/heads/old": first, "refs/tags/v1": tag}
    assert target.remote.list_refs() == expected  # HEAD and the peeled v1^{} are left out
    assert refs_of(target.path) == expected

    copy = tmp_path / "copy.git"
    target.remote.fetch_into(copy, ["+refs/heads/*:refs/source/heads/*", "+refs/tags/*:refs/source/tags/*"])
    assert refs_of(copy) == {name.replace("refs/", "refs/source/", 1): oid for name, oid in expected.items()}

    clone = tmp_path / "clone.git"
    target.remote.mirror_clone(clone)
    assert {k: v for k, v in refs_of(clone).items()} == expected


def test_fetch_prunes_refs_the_remote_no_longer_has(target: Target, local: Path, tmp_path: Path) -> None:
    first = commit(local, {"a": b"1\n"}, "first\n")
    target.remote.push_from(
        local, [RefUpdate("refs/heads/main", first, None), RefUpdate("refs/heads/gone", first, None)]
    )
    copy = tmp_path / "copy.git"
    target.remote.fetch_into(copy, ["+refs/heads/*:refs/source/heads/*"])
    assert set(refs_of(copy)) == {"refs/source/heads/main", "refs/source/heads/gone"}

    target.remote.push_from(local, [RefUpdate("refs/heads/gone", None, first)])
    target.remote.fetch_into(copy, ["+refs/heads/*:refs/source/heads/*"])
    assert set(refs_of(copy)) == {"refs/source/heads/main"}


def test_a_non_fast_forward_update_with_a_holding_lease_goes_through(target: Target, local: Path) -> None:
    first = commit(local, {"a": b"1\n"}, "first\n")
    second = commit(local, {"a": b"2\n"}, "second\n", [first], 1)
    rewritten = commit(local, {"a": b"2'\n"}, "second, rewritten\n", [first], 2)
    target.remote.push_from(local, [RefUpdate("refs/heads/main", second, None)])
    target.remote.push_from(local, [RefUpdate("refs/heads/main", rewritten, second)])
    assert target.remote.list_refs() == {"refs/heads/main": rewritten}


def test_a_target_changed_underneath_rejects_the_whole_push(target: Target, local: Path) -> None:
    first = commit(local, {"a": b"1\n"}, "first\n")
    second = commit(local, {"a": b"2\n"}, "second\n", [first], 1)
    target.remote.push_from(local, [RefUpdate("refs/heads/main", first, None)])
    # Someone else pushes a commit of their own straight into the target.
    foreign = commit(target.path, {"a": b"1\n", "theirs": b"x\n"}, "foreign\n", [first], 5)
    pygit2.Repository(str(target.path)).references["refs/heads/main"].set_target(foreign)

    with pytest.raises(PushRejected) as caught:
        target.remote.push_from(
            local, [RefUpdate("refs/heads/main", second, first), RefUpdate("refs/heads/feature", second, None)]
        )
    message = str(caught.value)
    assert f"the target changed underneath: refs/heads/main is {foreign}, expected {first}" in message
    assert isinstance(caught.value, SafetyError)
    # Atomic: neither the stale ref nor the new one moved.
    assert target.remote.list_refs() == {"refs/heads/main": foreign}


def test_a_ref_created_by_someone_else_rejects_a_push_that_expected_none(target: Target, local: Path) -> None:
    first = commit(local, {"a": b"1\n"}, "first\n")
    theirs = commit(target.path, {"b": b"theirs\n"}, "theirs\n", step=3)
    pygit2.Repository(str(target.path)).references.create("refs/heads/main", theirs)
    with pytest.raises(PushRejected, match=f"refs/heads/main is {theirs}, expected absent"):
        target.remote.push_from(local, [RefUpdate("refs/heads/main", first, None)])
    assert target.remote.list_refs() == {"refs/heads/main": theirs}


def test_a_ref_moved_between_our_look_and_the_update_is_refused_by_the_target(bare_target: Path, local: Path) -> None:
    # The lease is checked twice: by git against the refs the target advertised, and by the target when it
    # updates them. A hook that moves main after the advertisement exercises the second check.
    first = commit(local, {"a": b"1\n"}, "first\n")
    second = commit(local, {"a": b"2\n"}, "second\n", [first], 1)
    other = commit(local, {"a": b"other\n"}, "other\n", [first], 2)
    remote = Remote(str(bare_target))
    remote.push_from(local, [RefUpdate("refs/heads/main", first, None), RefUpdate("refs/heads/other", other, None)])
    hook = bare_target / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES "
        f"git update-ref refs/heads/main {other}\n"
    )
    hook.chmod(0o755)
    with pytest.raises(PushRejected) as caught:
        remote.push_from(
            local, [RefUpdate("refs/heads/main", second, first), RefUpdate("refs/heads/new", second, None)]
        )
    message = str(caught.value)
    assert "refs/heads/main: remote rejected: atomic transaction failed" in message
    assert "refs/heads/new: remote rejected: atomic transaction failed" in message
    assert f"cannot lock ref 'refs/heads/main': is at {other} but expected {first}" in message
    assert remote.list_refs() == {"refs/heads/main": other, "refs/heads/other": other}


def test_delete_and_a_retried_push_that_had_already_landed(target: Target, local: Path) -> None:
    first = commit(local, {"a": b"1\n"}, "first\n")
    second = commit(local, {"a": b"2\n"}, "second\n", [first], 1)
    target.remote.push_from(
        local, [RefUpdate("refs/heads/main", first, None), RefUpdate("refs/heads/topic", first, None)]
    )
    updates = [RefUpdate("refs/heads/main", second, first), RefUpdate("refs/heads/topic", None, first)]
    target.remote.push_from(local, updates)
    assert target.remote.list_refs() == {"refs/heads/main": second}
    # The same push again, as after a lost answer: the target already holds what it wants, so it succeeds.
    target.remote.push_from(local, updates)
    assert target.remote.list_refs() == {"refs/heads/main": second}


def test_a_partly_landed_state_pushes_only_what_is_missing(bare_target: Path, local: Path) -> None:
    remote = Remote(str(bare_target))
    first = commit(local, {"a": b"1\n"}, "first\n")
    second = commit(local, {"a": b"2\n"}, "second\n", [first], 1)
    remote.push_from(local, [RefUpdate("refs/heads/main", first, None), RefUpdate("refs/heads/topic", first, None)])
    remote.push_from(local, [RefUpdate("refs/heads/topic", None, first)])  # the deletion already happened
    remote.push_from(local, [RefUpdate("refs/heads/main", second, first), RefUpdate("refs/heads/topic", None, first)])
    assert remote.list_refs() == {"refs/heads/main": second}


def test_an_empty_push_runs_no_git(local: Path) -> None:
    # Nothing listens on this port: any git command would fail.
    Remote(f"http://127.0.0.1:{_closed_port()}/nobody.git").push_from(local, [])


def test_the_pre_receive_guard_refuses_an_excluded_path_and_its_words_reach_the_error(
    target: Target, local: Path
) -> None:
    install_pre_receive_guard(target.path, EU_GUARD)
    kept = commit(local, {"app/main.py": b"ok\n", "region/us/conf": b"us\n"}, "kept\n")
    target.remote.push_from(local, [RefUpdate("refs/heads/main", kept, None)])
    leak = commit(local, {"app/main.py": b"ok\n", "region/eu/conf": b"eu secret\n"}, "leak\n", [kept], 1)
    with pytest.raises(PushRejected) as caught:
        target.remote.push_from(
            local, [RefUpdate("refs/heads/main", leak, kept), RefUpdate("refs/heads/x", kept, None)]
        )
    message = str(caught.value)
    assert "refs/heads/main: remote rejected: pre-receive hook declined" in message
    assert "excluded path refused in refs/heads/main: region/eu/conf" in message
    assert target.remote.list_refs() == {"refs/heads/main": kept}


def test_the_guard_checks_every_commit_of_a_new_ref(bare_target: Path, local: Path) -> None:
    install_pre_receive_guard(bare_target, EU_GUARD)
    leak = commit(local, {"region/eu/conf": b"eu\n"}, "leak\n")
    hidden = commit(local, {"app": b"ok\n"}, "the leak is one commit down\n", [leak], 1)
    with pytest.raises(PushRejected, match="region/eu/conf"):
        Remote(str(bare_target)).push_from(local, [RefUpdate("refs/heads/new", hidden, None)])


# --- missing repositories, creation, unreachable servers


def test_a_missing_repository_is_a_clear_error_not_a_transient_one(
    tmp_path: Path, git_daemon: GitDaemon, git_http: GitHttp
) -> None:
    remotes = [
        Remote(str(tmp_path / "nothing.git")),
        Remote(f"{git_daemon.base_url}/nothing.git"),
        Remote(f"{git_http.base_url}/nothing.git", GitAuth(git_http.username, git_http.password)),
    ]
    for remote in remotes:
        assert not remote.exists()
        with pytest.raises(GitRepositoryMissing, match="no repository there") as caught:
            remote.list_refs()
        assert isinstance(caught.value, StoreUnavailable)
        assert remote.shown in str(caught.value)


def test_create_bare_makes_a_missing_folder_target(tmp_path: Path, local: Path) -> None:
    remote = Remote(str(tmp_path / "org" / "app.git"))
    assert not remote.exists()
    remote.create_bare(head="refs/heads/main")
    assert remote.exists()
    assert remote.list_refs() == {}
    assert pygit2.Repository(str(tmp_path / "org" / "app.git")).is_bare
    assert (tmp_path / "org" / "app.git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    with pytest.raises(UsageError, match="not empty"):
        remote.create_bare()


def test_create_bare_refuses_a_server_url(git_http: GitHttp) -> None:
    with pytest.raises(UsageError, match="create it on the server"):
        Remote(f"{git_http.base_url}/new.git").create_bare()


def test_nothing_listening_is_unreachable_not_transient() -> None:
    remote = Remote(f"git://127.0.0.1:{_closed_port()}/app.git")
    with pytest.raises(GitUnreachable) as caught:
        remote.list_refs()
    assert caught.value.kind == "connection refused"
    assert not isinstance(caught.value, TransientError)


def test_a_server_that_never_answers_times_out_as_transient() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        remote = Remote(f"git://127.0.0.1:{silent.getsockname()[1]}/app.git", list_timeout=1.0)
        with pytest.raises(GitTransientError, match="no answer within 1 s"):
            remote.list_refs()


# --- HTTP: authentication, injected failures, large pushes


def test_http_server_errors_are_transient_and_the_next_try_works(git_http: GitHttp, local: Path) -> None:
    url, _path = git_http.new_repository("app.git")
    remote = Remote(url, GitAuth(git_http.username, git_http.password))
    first = commit(local, {"a": b"1\n"}, "first\n")
    git_http.fail_next(1)
    with pytest.raises(GitTransientError, match="500"):
        remote.list_refs()
    git_http.fail_next(1, status=503)
    with pytest.raises(GitTransientError, match="503"):
        remote.push_from(local, [RefUpdate("refs/heads/main", first, None)])
    assert remote.list_refs() == {}  # the failed push changed nothing
    remote.push_from(local, [RefUpdate("refs/heads/main", first, None)])
    assert remote.list_refs() == {"refs/heads/main": first}
    assert [status for _m, _p, status in git_http.requests].count(500) == 1


def test_a_connection_dropped_by_the_server_is_transient(git_http: GitHttp, local: Path) -> None:
    url, _path = git_http.new_repository("app.git")
    remote = Remote(url, GitAuth(git_http.username, git_http.password))
    first = commit(local, {"a": b"1\n"}, "first\n")
    remote.list_refs()  # the server has answered once
    git_http.drop_next(1)
    with pytest.raises(GitTransientError, match="Empty reply from server"):
        remote.push_from(local, [RefUpdate("refs/heads/main", first, None)])
    assert ("?", "?", DROP) in git_http.requests
    remote.push_from(local, [RefUpdate("refs/heads/main", first, None)])
    assert remote.list_refs() == {"refs/heads/main": first}


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        # What other servers and networks print, as git relays it (GitHub, GitLab, curl, ssh).
        (
            "remote: Repository not found.\nfatal: repository 'https://github.com/o/x.git/' not found",
            GitRepositoryMissing,
        ),
        (
            "remote: HTTP Basic: Access denied\nfatal: Authentication failed for 'https://gitlab.com/o/x.git/'",
            GitAuthFailed,
        ),
        (
            "git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.",
            GitAuthFailed,
        ),
        ("error: RPC failed; curl 56 Recv failure: Connection reset by peer\nfatal: early EOF", GitTransientError),
        ("fatal: unable to access 'https://h/x.git/': The requested URL returned error: 502", GitTransientError),
        ("fatal: unable to access 'https://h/x.git/': Operation too slow. Less than 1000 bytes/sec", GitTransientError),
        (
            "fatal: unable to access 'https://nowhere.invalid/x/': Could not resolve host: nowhere.invalid",
            GitUnreachable,
        ),
        ("fatal: the receiving end does not support --atomic push", GitCommandFailed),
        ("fatal: bad object 1234567890123456789012345678901234567890", GitCommandFailed),
    ],
)
def test_git_s_words_are_classified(stderr: str, expected: type[Exception]) -> None:
    error = classify_failure("fetch", "https://h/x.git", stderr, answered_before=False)
    assert type(error) is expected


def test_a_wrong_password_is_an_auth_error_that_never_shows_the_password(git_http: GitHttp, tmp_path: Path) -> None:
    url, _path = git_http.new_repository("app.git")
    wrong = "not-the-Password-42"
    for remote in (
        Remote(url, GitAuth(git_http.username, wrong)),
        Remote(url.replace("http://", f"http://{git_http.username}:{wrong}@")),  # userinfo becomes the auth
        Remote(url),  # no credentials at all: git must not prompt
    ):
        with pytest.raises(GitAuthFailed, match="did not accept the credentials") as caught:
            remote.list_refs()
        assert wrong not in str(caught.value)
        assert wrong not in repr(remote) and wrong not in remote.shown
        assert caught.value.kind == "authentication failed"
        with pytest.raises(GitAuthFailed):
            remote.fetch_into(tmp_path / "copy.git", ["+refs/*:refs/source/*"])


def test_the_user_s_credential_helpers_are_asked_only_when_the_plan_gave_no_credentials(
    git_http: GitHttp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A helper that answers nothing and records each time git asks it (and tells it to forget a password).
    asked = tmp_path / "helper-was-asked"
    config = tmp_path / "user.gitconfig"
    config.write_text(f'[credential]\n\thelper = "!f() {{ echo $1 >> {asked}; }}; f"\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    url, _path = git_http.new_repository("app.git")

    with pytest.raises(GitAuthFailed):
        Remote(url, GitAuth(git_http.username, "wrong")).list_refs()
    assert not asked.exists()  # nor was it told to `erase` what it stores for this host

    with pytest.raises(GitAuthFailed):
        Remote(url).list_refs()
    assert asked.read_text().split() == ["get"]


def test_credentials_reach_git_only_through_the_environment(git_http: GitHttp, local: Path) -> None:
    url, _path = git_http.new_repository("app.git")
    git_http.watch_argv_for(git_http.password)
    remote = Remote(url.replace("http://", f"http://{git_http.username}:{git_http.password}@"))
    assert remote.shown == url
    first = commit(local, {"a": b"1\n"}, "first\n")
    remote.push_from(local, [RefUpdate("refs/heads/main", first, None)])
    assert remote.list_refs() == {"refs/heads/main": first}
    assert git_http.requests, "the server saw the requests"
    assert git_http.argv_hits == []  # no process on the machine had the password in its command line

    # The probe itself works: a process that does carry the password in its argv is seen.
    witness = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", git_http.password])
    try:
        remote.list_refs()
    finally:
        witness.kill()
        witness.wait()
    assert any(git_http.password in argv for argv in git_http.argv_hits)


def test_where_a_remote_is_and_how_it_is_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Remote("repos/app.git").folder == tmp_path / "repos" / "app.git"
    assert Remote(f"file://{tmp_path}/app.git").folder == tmp_path / "app.git"
    assert Remote("git@git.example.org:team/app.git").shown == "git@git.example.org:team/app.git"
    assert Remote("ssh://git@git.example.org:2222/team/app.git").shown == "ssh://git@git.example.org:2222/team/app.git"
    https = Remote("https://ada:s3cr%40t@git.example.org/team/app.git")
    assert https.shown == "https://git.example.org/team/app.git" and https.folder is None
    assert "s3cr" not in repr(https)
    with pytest.raises(UsageError, match="cannot carry a password"):
        Remote("ssh://git:pw@git.example.org/app.git")
    with pytest.raises(UsageError, match="may not start with '-'"):
        Remote("--upload-pack=touch /tmp/x")


def test_a_file_url_target_works_like_its_folder(bare_target: Path, local: Path) -> None:
    first = commit(local, {"a": b"1\n"}, "first\n")
    remote = Remote(f"file://{bare_target}")
    remote.push_from(local, [RefUpdate("refs/heads/main", first, None)])
    assert Remote(str(bare_target)).list_refs() == {"refs/heads/main": first}


def test_a_token_alone_is_sent_as_x_access_token() -> None:
    env = git_environment("https://git.example.org/", GitAuth(token="tok-123"))
    keys = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))}
    header = keys["http.https://git.example.org/.extraHeader"]
    assert base64.b64decode(header.removeprefix("Authorization: Basic ")) == f"{TOKEN_USERNAME}:tok-123".encode()
    assert keys["credential.helper"] == ""
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_ASKPASS"] == ""
    with pytest.raises(UsageError, match="not both"):
        GitAuth("u", "p", "t")


def test_a_push_larger_than_git_s_post_buffer_goes_through_chunked(git_http: GitHttp, local: Path) -> None:
    url, path = git_http.new_repository("app.git")
    remote = Remote(url, GitAuth(git_http.username, git_http.password))
    big = random.Random(15).randbytes(3 * 1024 * 1024)  # incompressible: the pack is over 1 MiB
    first = commit(local, {"data.bin": big}, "large\n")
    remote.push_from(local, [RefUpdate("refs/heads/main", first, None)])
    assert git_http.chunked_requests >= 1
    assert refs_of(path) == {"refs/heads/main": first}
    assert pygit2.Repository(str(path)).revparse_single("main:data.bin").data == big


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
