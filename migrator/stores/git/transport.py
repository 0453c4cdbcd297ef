"""A git remote reached through the git command line: list its refs, fetch from it, push to it.

The remote is a folder of the machine (a bare repository, created with `git init --bare` when the plan
targets a folder), or a file://, git://, http(s):// or ssh:// URL (ssh is not tested here). Credentials
never appear in argv or in a URL git sees (auth.py); `Remote.shown` is the form fit for messages.

The push is the step that must not overwrite what it did not expect. `push_from` sends every update of
one repository in ONE `git push --atomic`, each ref with `--force-with-lease=<ref>:<expected>` (empty:
the ref must not exist), so either every ref moves or none does, and a ref someone moved since we looked
fails the whole push. The refspecs are `<new>:<ref>` WITHOUT the `+` prefix: a `+` refspec overrides the
lease in git 2.39 (the ref is forced whatever it holds), while a lease that holds already allows a
non-fast-forward update. A push retried after one that landed but whose answer was lost finds the refs
already at their new values: git reports "up to date" for those; a deletion that already happened is
reported stale by git, so a stale report is checked against the target's refs before it is believed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from migrator.errors import UsageError
from migrator.stores.git.auth import GitAuth, git_environment
from migrator.stores.git.command import Completed, run_git
from migrator.stores.git.remote_url import locate
from migrator.stores.git.transport_errors import (
    GitAuthFailed,
    GitCommandFailed,
    GitRepositoryMissing,
    GitTransientError,
    GitUnreachable,
    PushRejected,
    classify_failure,
)

# One import for the sync: the remote, its credentials and every error it raises.
__all__ = [
    "GitAuth",
    "GitAuthFailed",
    "GitCommandFailed",
    "GitRepositoryMissing",
    "GitTransientError",
    "GitUnreachable",
    "PushRejected",
    "RefUpdate",
    "Remote",
]

LIST_TIMEOUT = 120.0  # seconds: ls-remote, a single request and answer
TRANSFER_TIMEOUT = 3600.0  # seconds: fetch, push, clone of a whole repository
ZERO_ID = "0" * 40


@dataclass(frozen=True)
class RefUpdate:
    """Set `ref` to `new` (None: delete it) if the target's ref is `expected` (None: it must not exist)."""

    ref: str
    new: str | None
    expected: str | None


class Remote:
    def __init__(
        self,
        url_or_path: str,
        auth: GitAuth | None = None,
        *,
        list_timeout: float = LIST_TIMEOUT,
        transfer_timeout: float = TRANSFER_TIMEOUT,
    ):
        self._location = locate(url_or_path)
        self._auth = auth or self._location.userinfo_auth
        self._list_timeout = list_timeout
        self._transfer_timeout = transfer_timeout
        self._answered = False  # a refused connection after an answer is a restart, not a wrong address

    @property
    def shown(self) -> str:
        """The remote as printed: a folder's path or the URL without credentials."""
        return self._location.url

    @property
    def folder(self) -> Path | None:
        return self._location.folder

    def __repr__(self) -> str:
        return f"Remote({self.shown!r})"

    def exists(self) -> bool:
        """Whether a repository answers there (for a folder: a git repository is in it)."""
        folder = self._location.folder
        if folder is not None:
            return folder.is_dir() and self._is_repository(folder)
        result = self._git(["ls-remote", "--heads", "--", self._location.url], self._list_timeout, check=False)
        if result.returncode == 0:
            return True
        error = self._failure("ls-remote", result)
        if isinstance(error, GitRepositoryMissing):
            return False
        raise error

    def create_bare(self, head: str | None = None) -> None:
        """A new bare repository in the target folder (its parents made too); `head` (a full ref name)
        is what its HEAD names, else git's default. Only for folders: a server's repositories are
        created on the server."""
        folder = self._location.folder
        if folder is None:
            raise UsageError(f"{self.shown}: only a folder target can be created here; create it on the server")
        if folder.exists() and any(folder.iterdir()):
            raise UsageError(f"{self.shown}: the folder exists and is not empty, refusing to create a repository in it")
        folder.parent.mkdir(parents=True, exist_ok=True)
        self._git(["init", "--bare", "--quiet", "--", str(folder)], self._list_timeout, action="init")
        if head is not None:
            self._git(["symbolic-ref", "HEAD", head], self._list_timeout, git_dir=folder, action="symbolic-ref")

    def list_refs(self) -> dict[str, str]:
        """Every ref of the remote, full name -> object id (an annotated tag: the tag object's id), without
        HEAD and without the peeled `^{}` lines."""
        result = self._git(["ls-remote", "--", self._location.url], self._list_timeout, action="ls-remote")
        refs: dict[str, str] = {}
        for line in result.stdout.splitlines():
            object_id, _, name = line.partition("\t")
            if name and name != "HEAD" and not name.endswith("^{}"):
                refs[name] = object_id
        return refs

    def fetch_into(self, local: Path, refspecs: list[str], prune: bool = True) -> None:
        """Fetch `refspecs` (e.g. `+refs/*:refs/source/*`) into the local bare repository `local`, made if
        missing. No tags beyond those the refspecs name; `prune` removes local refs under the refspecs'
        destinations that the remote no longer has."""
        if not refspecs:
            return
        if not local.exists():
            self._git(["init", "--bare", "--quiet", "--", str(local)], self._list_timeout, action="init")
        args = ["fetch", "--quiet", "--no-tags", "--no-auto-gc", "--no-write-fetch-head", "--no-recurse-submodules"]
        if prune:
            args.append("--prune")
        args += ["--", self._location.url, *refspecs]
        self._git(args, self._transfer_timeout, git_dir=local, action="fetch")

    def push_from(self, local: Path, updates: list[RefUpdate]) -> None:
        """Apply `updates` to the remote in one atomic push from the local bare repository `local`; an
        empty list runs nothing. Raises PushRejected (nothing changed) when any ref is refused."""
        self._push(local, updates, retried=False)

    def _push(self, local: Path, updates: list[RefUpdate], *, retried: bool) -> None:
        if not updates:
            return
        refs = [update.ref for update in updates]
        if len(set(refs)) != len(refs):
            raise UsageError(f"push to {self.shown}: a ref is updated twice in one push: {sorted(refs)}")
        args = ["push", "--atomic", "--porcelain", "--no-verify", "--no-follow-tags", "--no-recurse-submodules"]
        args += ["--no-progress"]
        for update in updates:
            args.append(f"--force-with-lease={update.ref}:{update.expected or ''}")
        args += ["--", self._location.url]
        for update in updates:
            args.append(f"{update.new}:{update.ref}" if update.new is not None else f":{update.ref}")
        result = self._git(args, self._transfer_timeout, git_dir=local, check=False, action="push")
        if result.returncode == 0:
            return
        rejections = _rejected_refs(result.stdout)
        if not rejections:
            raise self._failure("push", result)
        reasons = [reason for _ref, reason in rejections.values()]
        if any("stale info" in r for r in reasons) and all(
            "stale info" in r or "atomic push failed" in r for r in reasons
        ):
            # Either someone moved a ref, or our own earlier push landed (a deletion then reads as stale).
            self._settle_stale(local, updates, retried)
            return
        raise PushRejected(self.shown, _reasons(rejections, updates, None), _remote_messages(result.stderr))

    def mirror_clone(self, dest: Path) -> None:
        """A fresh `git clone --mirror` of the remote into `dest` (for verify). From a folder it goes
        through git's transport (`--no-local`): only what the repository serves, never a hard link to
        its object store, unreachable objects included."""
        args = ["clone", "--mirror", "--quiet"]
        if self._location.folder is not None:
            args.append("--no-local")
        args += ["--", self._location.url, str(dest)]
        self._git(args, self._transfer_timeout, action="clone")

    # --- internals

    def _settle_stale(self, local: Path, updates: list[RefUpdate], retried: bool) -> None:
        current = self.list_refs()
        pending = [u for u in updates if current.get(u.ref) != u.new]
        if not pending:
            return  # the target already holds exactly what this push wanted
        moved = [u for u in pending if current.get(u.ref) != u.expected]
        if moved:
            stale = {u.ref: (u.ref, "stale info") for u in moved}
            raise PushRejected(self.shown, _reasons(stale, updates, current), [])
        if retried:
            busy = [(u.ref, "the target's refs kept changing while we pushed; run again") for u in pending]
            raise PushRejected(self.shown, busy, [])
        # The refs not yet at their new values all hold what we expected (the others already hold their
        # new values): push just those, once.
        self._push(local, pending, retried=True)

    def _is_repository(self, folder: Path) -> bool:
        result = self._git(["rev-parse", "--git-dir"], self._list_timeout, git_dir=folder, check=False)
        return result.returncode == 0

    def _git(
        self,
        args: list[str],
        timeout: float,
        *,
        git_dir: Path | None = None,
        check: bool = True,
        action: str | None = None,
    ) -> Completed:
        env = git_environment(self._location.origin, self._auth)
        result = run_git(args, env=env, timeout=timeout, shown=self.shown, git_dir=git_dir)
        if result.returncode == 0:
            self._answered = True
        elif check:
            raise self._failure(action or args[0], result)
        return result

    def _failure(self, action: str, result: Completed) -> Exception:
        return classify_failure(action, self.shown, result.stderr, answered_before=self._answered)


def _rejected_refs(porcelain: str) -> dict[str, tuple[str, str]]:
    """ref -> (ref, reason) for every `!` line of `git push --porcelain`:
    `!<TAB><from>:<to><TAB>[rejected] (stale info)`."""
    rejected: dict[str, tuple[str, str]] = {}
    for line in porcelain.splitlines():
        if not line.startswith("!\t"):
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        ref = fields[1].rpartition(":")[2]
        summary = fields[2]
        reason = summary[summary.find("(") + 1 : summary.rfind(")")] if "(" in summary else summary
        rejected[ref] = (ref, f"{summary.split(']')[0].strip('[')}: {reason}" if "]" in summary else reason)
    return rejected


def _reasons(
    rejections: dict[str, tuple[str, str]], updates: list[RefUpdate], current: dict[str, str] | None
) -> list[tuple[str, str]]:
    """Each rejected ref with a reason a person can act on."""
    by_ref = {u.ref: u for u in updates}
    reasons: list[tuple[str, str]] = []
    for ref, (_ref, reason) in rejections.items():
        update = by_ref.get(ref)
        if "stale info" in reason and update is not None:
            expected = update.expected or "absent"
            now = (current.get(ref) or "absent") if current is not None else "no longer that"
            reason = f"the target changed underneath: {ref} is {now}, expected {expected}"
        elif "atomic push failed" in reason:
            reason = "not pushed, because another ref of this atomic push was rejected"
        reasons.append((ref, reason))
    return reasons


def _remote_messages(stderr: str) -> list[str]:
    """What the target's hooks printed: git relays it as `remote: ...` lines."""
    messages = []
    for line in stderr.splitlines():
        if line.startswith("remote:"):
            text = line[len("remote:") :].strip()
            if text:
                messages.append(text)
    return messages
