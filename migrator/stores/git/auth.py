"""Credentials for a git remote, and the environment that hands them to git without showing them.

A password on git's command line is readable by every user of the machine (`ps` shows argv), and one
in a URL is printed by git in its own messages ("fatal: unable to access 'https://user:pw@...'").
So credentials go through the environment only: GIT_CONFIG_COUNT / GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n
set `http.<url>.extraHeader = Authorization: Basic <base64(user:secret)>`, scoped to the remote's origin
(scheme, host and port), so a redirect to another host does not carry it. Config from the environment has the rank of
`git -c`: it wins over the user's files, which are otherwise kept (proxies, CA bundles, `insteadOf`).

A token alone is sent with the user name "x-access-token", which GitHub (app and personal tokens) and
Gitea accept; GitLab accepts any user name with a personal access token.

When credentials are given, the user's own credential helpers are switched off (`credential.helper=`
empty resets the list): on a 401 git would otherwise ask them, and on failure tell them to forget
(`credential reject`) the user's stored password. Without credentials the helpers stay: they are how a
user with a configured machine reaches their server. Either way git never prompts: GIT_TERMINAL_PROMPT=0
and an empty GIT_ASKPASS (git skips askpass programs when the variable is set but empty), and ssh runs
in batch mode unless the user chose their own GIT_SSH_COMMAND.

The environment is also made predictable: English messages (LC_ALL=C), which transport_errors.py
classifies; no inherited repository variables (GIT_DIR and the like, set when we run inside a hook);
no tracing (GIT_TRACE_CURL would print headers).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass

from migrator.errors import UsageError

TOKEN_USERNAME = "x-access-token"

# `git rev-parse --local-env-vars` of git 2.39: variables that point git at a repository other than the
# one we name; inherited from a hook or a shell they would redirect our commands.
_REPOSITORY_VARIABLES = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_OBJECT_DIRECTORY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_GRAFT_FILE",
        "GIT_INDEX_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
        "GIT_PREFIX",
        "GIT_SHALLOW_FILE",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_QUARANTINE_PATH",
    }
)


@dataclass(frozen=True)
class GitAuth:
    """HTTP(S) credentials: a user name and a password, a token, or a user name and a token."""

    username: str | None = None
    password: str | None = None
    token: str | None = None

    def __post_init__(self) -> None:
        if self.password is not None and self.token is not None:
            raise UsageError("git credentials: give a password or a token, not both")
        if self.secret is None:
            raise UsageError("git credentials: a password or a token is needed")

    @property
    def secret(self) -> str | None:
        return self.token if self.token is not None else self.password

    @property
    def basic_header(self) -> str:
        """`Authorization: Basic ...`, the value of http.extraHeader."""
        username = self.username or (TOKEN_USERNAME if self.token is not None else "")
        pair = f"{username}:{self.secret}".encode()
        return "Authorization: Basic " + base64.b64encode(pair).decode("ascii")

    def __repr__(self) -> str:  # never the secret, not even in a traceback's locals
        kind = "token" if self.token is not None else "password"
        return f"GitAuth(username={self.username!r}, {kind}=***)"


def git_environment(origin: str | None, auth: GitAuth | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for one git command; `origin` (scheme://host[:port]/) scopes the credentials."""
    env = {
        key: value
        for key, value in (os.environ if base is None else base).items()
        if key not in _REPOSITORY_VARIABLES
        and not key.startswith("GIT_TRACE")
        and not key.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))
    }
    env.update(
        {
            "LC_ALL": "C",
            "LANGUAGE": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "GIT_NO_REPLACE_OBJECTS": "1",
        }
    )
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    config: list[tuple[str, str]] = [
        # A stalled transfer (under 1 kB/s for a minute) ends as "Operation too slow": transient.
        ("http.lowSpeedLimit", "1000"),
        ("http.lowSpeedTime", "60"),
    ]
    if auth is not None and origin is not None:
        config.append(("credential.helper", ""))
        config.append((f"http.{origin}.extraHeader", auth.basic_header))
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env
