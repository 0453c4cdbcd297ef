"""Where a git remote is: a folder, or a URL with any credentials taken out of it.

A folder is a path without a scheme (`/srv/git/app.git`, `./mirrors/app.git`) or a file:// URL; a
URL is anything with `scheme://`, or ssh's scp-like `user@host:path` (a ":" before any "/"). For
http(s) the userinfo is removed from the URL git sees and becomes the credentials (when the plan gave
none); ssh keeps its user name, which is not a secret, and may not carry a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from migrator.errors import UsageError
from migrator.stores.git.auth import GitAuth

_SCP_LIKE = re.compile(r"^[^/]+:")


@dataclass(frozen=True)
class Location:
    url: str  # what git is given: never a password in it
    folder: Path | None  # a local folder (path or file://), else None
    origin: str | None  # scheme://host[:port]/ of an http(s) URL, the scope of its credentials
    userinfo_auth: GitAuth | None  # credentials found in the URL's userinfo


def locate(url_or_path: str) -> Location:
    text = url_or_path.strip()
    if not text:
        raise UsageError("a git remote needs a URL or a folder, got an empty string")
    if text.startswith("-"):
        raise UsageError(f"a git remote may not start with '-': {text!r}")
    if "://" not in text:
        if _SCP_LIKE.match(text) and not text.startswith((".", "/", "~")):
            return Location(text, None, None, None)  # user@host:path, ssh
        folder = Path(text).expanduser().absolute()
        return Location(str(folder), folder, None, None)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        folder = Path(unquote(parts.path)).absolute()
        return Location(str(folder), folder, None, None)
    host = parts.hostname or ""
    hostport = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        hostport += f":{parts.port}"
    if scheme in ("http", "https"):
        auth = None
        if parts.password is not None:  # a user name alone is left to the user's credential helpers
            auth = GitAuth(unquote(parts.username or "") or None, unquote(parts.password), None)
        bare = urlunsplit((scheme, hostport, parts.path, parts.query, ""))
        return Location(bare, None, f"{scheme}://{hostport}/", auth)
    if parts.password is not None:
        raise UsageError(f"{scheme}:// URLs cannot carry a password; use an ssh key or an agent")
    netloc = f"{parts.username}@{hostport}" if parts.username else hostport
    return Location(urlunsplit((scheme, netloc, parts.path, parts.query, "")), None, None, None)
