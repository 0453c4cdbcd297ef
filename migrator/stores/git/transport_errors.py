"""What a failed git command means, decided once, here: retry, fix the setup, or stop.

git has no error codes beyond 128 ("fatal"), so its messages are the evidence; commands run with
LC_ALL=C (auth.py) so the wording below is what git, curl and the servers print in English.

* GitTransientError (retried by the engine): HTTP 5xx, a connection reset or closed early ("early
  EOF", "the remote end hung up unexpectedly", "RPC failed"), a timeout or a stalled transfer, and a
  refused connection once this remote has answered before (a server restarting, not a wrong port).
* GitAuthFailed / GitRepositoryMissing / GitUnreachable (StoreUnavailable, exit 2, no retry): 401/403
  or git wanting to ask for a user name; a repository that is not there (404, "does not appear to be
  a git repository", the daemon's "no such repository"); an unknown host or a refused first contact.
* GitCommandFailed (PermanentError): anything else, with git's own words.

A push refused by the target (a stale lease, a hook) is not decided here: transport.py reads git's
porcelain report and raises PushRejected. Every message is built from the remote's printable form and
git's stderr, which never hold the credentials (they travel in the environment); the stderr is
passed through redact_text anyway, in case a user's own config put a password in a URL.
"""

from __future__ import annotations

import re

from migrator.errors import PermanentError, SafetyError, StoreUnavailable, TransientError
from migrator.redaction import redact_text

AUTHENTICATION_FAILED = "authentication failed"
UNKNOWN_REPOSITORY = "unknown repository"
UNKNOWN_HOST = "unknown host"
CONNECTION_REFUSED = "connection refused"


class GitTransientError(TransientError):
    """Worth trying again: the server or the network failed, not the request."""


class GitAuthFailed(StoreUnavailable):
    def __init__(self, message: str):
        super().__init__(message, AUTHENTICATION_FAILED)


class GitRepositoryMissing(StoreUnavailable):
    def __init__(self, message: str):
        super().__init__(message, UNKNOWN_REPOSITORY)


class GitUnreachable(StoreUnavailable):
    pass


class GitCommandFailed(PermanentError):
    """git failed for a reason retrying will not change."""


class PushRejected(SafetyError):
    """The target refused the push, so nothing moved (it is atomic): each ref with git's reason, and
    what the target's hooks said."""

    def __init__(self, shown: str, rejections: list[tuple[str, str]], remote_messages: list[str]):
        self.rejections = rejections
        self.remote_messages = remote_messages
        lines = [f"the push to {shown} was rejected, nothing was changed:"]
        lines += [f"  {ref}: {reason}" for ref, reason in rejections]
        if remote_messages:
            lines.append("  the target said:")
            lines += [f"    {line}" for line in remote_messages]
        super().__init__("\n".join(lines))


_AUTH = re.compile(
    r"returned error: 40[13]\b|Authentication failed|could not read (Username|Password)|terminal prompts disabled"
    r"|HTTP Basic: Access denied|Permission denied \(publickey|Invalid username or password",
    re.IGNORECASE,
)
_MISSING = re.compile(
    r"returned error: 404\b|does not appear to be a git repository|no such repository|repository .* not found"
    r"|Repository not found|not exported",
    re.IGNORECASE,
)
_UNKNOWN_HOST = re.compile(r"Could not resolve host|Name or service not known|nodename nor servname", re.IGNORECASE)
_REFUSED = re.compile(r"Connection refused|Couldn't connect to server", re.IGNORECASE)
_TRANSIENT = re.compile(
    r"returned error: 5\d\d\b|\bHTTP 5\d\d\b|RPC failed|early EOF|remote end hung up|Connection reset"
    r"|Connection timed out|Operation timed out|timed out|Operation too slow|transfer closed"
    r"|unexpected disconnect|Empty reply from server|Recv failure|Send failure"
    r"|Broken pipe|SSL_read|gnutls_handshake|GnuTLS recv error|HTTP/2 stream"
    r"|index-pack failed|protocol error: bad pack header|Could not read from remote repository",
    re.IGNORECASE,
)


def classify_failure(action: str, shown: str, stderr: str, *, answered_before: bool) -> Exception:
    """The error for `git <action>` against `shown` that failed with `stderr`."""
    said = _git_said(stderr)
    where = f"git {action} {shown}"
    if _AUTH.search(said):
        return GitAuthFailed(
            f"{where}: the server did not accept the credentials (check the user name and password or token "
            f"under `git:` for this side, and that they may access this repository): {said}"
        )
    if _MISSING.search(said):
        return GitRepositoryMissing(
            f"{where}: no repository there (check the base URL and the repository's name, or create it): {said}"
        )
    if _UNKNOWN_HOST.search(said):
        return GitUnreachable(f"{where}: unknown host (check the URL): {said}", UNKNOWN_HOST)
    if _REFUSED.search(said):
        if answered_before:
            return GitTransientError(f"{where}: the server stopped answering: {said}")
        return GitUnreachable(
            f"{where}: nothing answers there (check the URL and the port): {said}", CONNECTION_REFUSED
        )
    if "does not support --atomic" in said:
        return GitCommandFailed(
            f"{where}: the target's server does not offer atomic pushes, which migrator needs so that a "
            f"repository's refs move together or not at all (receive.advertiseAtomic): {said}"
        )
    if _TRANSIENT.search(said):
        return GitTransientError(f"{where}: {said}")
    return GitCommandFailed(f"{where} failed: {said}")


def _git_said(stderr: str) -> str:
    """git's stderr on one line each, progress and blank lines dropped, credentials hidden."""
    lines = [line.strip() for line in stderr.replace("\r", "\n").splitlines()]
    return redact_text(" | ".join(line for line in lines if line)) or "(git printed nothing)"
