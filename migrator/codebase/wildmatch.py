"""gitignore-style wildmatch on full paths and ref names, and the same patterns as git's own pathspecs.

Paths (the `paths` exclude and include lists, replacements' paths):
- a pattern without '/' (other than a trailing one) matches the basename at any depth;
- a pattern with '/' is anchored at the root (a leading '/' only says so);
- `**` spans directories (`a/**/b`, `**/b`, `a/**`); `*`, `?` and `[...]` never match '/';
- a trailing '/' matches directories only;
- a path is matched if it or any of its parent directories is.
Negation (`!`) is not supported: an include list says what to keep instead.

Each list is compiled into one regular expression, so a path is tested by one `re` call whatever the
number of patterns; the rewrite asks about each path once and caches the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache


def pattern_problem(pattern: str) -> str | None:
    """What is wrong with a path or ref pattern, for the plan's validation; None if it is usable."""
    if not pattern.strip("/"):
        return "an empty pattern matches nothing"
    if pattern.startswith("!"):
        return "negation ('!') is not supported; list what to keep under `include` instead"
    if pattern.endswith("\\") and not pattern.endswith("\\\\"):
        return "a trailing backslash escapes nothing"
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            end = _class_end(pattern, i)
            if end is None:
                return f"the '[' at position {i + 1} is never closed"
            i = end + 1
            continue
        if char == "]":
            return f"the ']' at position {i + 1} closes no '['"
        i += 1
    if "//" in pattern:
        return "an empty path segment ('//')"
    return None


def _class_end(pattern: str, start: int) -> int | None:
    """Index of the ']' closing the class opened at `start`, or None."""
    i = start + 1
    if i < len(pattern) and pattern[i] in "!^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":  # a ']' first in the class is a literal
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i
        i += 1
    return None


def _segment_regex(segment: str) -> str:
    """One path segment's glob as a regex that never crosses '/'."""
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "\\" and i + 1 < len(segment):
            out.append(re.escape(segment[i + 1]))
            i += 2
        elif char == "*":
            while i < len(segment) and segment[i] == "*":  # '**' inside a segment is a plain '*'
                i += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = _class_end(segment, i)
            if end is None:
                out.append(re.escape(char))
                i += 1
                continue
            body = segment[i + 1 : end]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"(?!/)[{'^' if negate else ''}{body}]")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _glob_regex(glob: str) -> str:
    """A '/'-separated glob with `**` segments as a regex matching the whole string."""
    segments = glob.split("/")
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            # `**/` matches zero or more directories; a final `/**` everything below.
            parts.append(".*" if last else "(?:[^/]*/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    regex = "".join(parts)
    if glob.endswith("/**"):
        # `a/**` matches what is inside `a`, not `a` itself.
        regex = regex[: -len(".*")] + ".+"
    return regex


def _path_pattern(pattern: str) -> tuple[str, bool]:
    """(regex on a full path, directories only) for one gitignore-style pattern."""
    dir_only = pattern.endswith("/")
    body = pattern.rstrip("/")
    body = body.lstrip("/") if "/" in body else "**/" + body
    return _glob_regex(body), dir_only


def _compile(patterns: Sequence[str], dirs: bool) -> re.Pattern[str] | None:
    regexes = [regex for regex, dir_only in map(_path_pattern, patterns) if dirs or not dir_only]
    return re.compile("|".join(f"(?:{r})" for r in regexes)) if regexes else None


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class PathMatcher:
    """One list of gitignore-style patterns: does it match a file, a directory (or a parent of them)?"""

    def __init__(self, patterns: Sequence[str]):
        self.patterns = tuple(patterns)
        self._files = _compile(self.patterns, dirs=False)
        self._dirs = _compile(self.patterns, dirs=True)
        self._prefixes = [_anchored_segments(p) for p in self.patterns]

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches_dir_itself(self, path: str) -> bool:
        return self._dirs is not None and self._dirs.fullmatch(path) is not None

    def matches_file_itself(self, path: str) -> bool:
        return self._files is not None and self._files.fullmatch(path) is not None

    def matches_dir(self, path: str) -> bool:
        return any(self.matches_dir_itself(p) for p in (*_parents(path), path))

    def matches_file(self, path: str) -> bool:
        return self.matches_file_itself(path) or any(self.matches_dir_itself(p) for p in _parents(path))

    def might_match_under(self, dir_path: str) -> bool:
        """Could some path strictly below `dir_path` be matched? True when unsure (it only saves work)."""
        if self.matches_dir(dir_path):
            return True
        dir_segments = dir_path.split("/")
        for segments in self._prefixes:
            if segments is None:
                return True  # a basename pattern matches at any depth
            if _segments_may_continue(segments, dir_segments):
                return True
        return False


def _anchored_segments(pattern: str) -> list[str] | None:
    """The segments of an anchored pattern, or None for a basename pattern (matches at any depth)."""
    body = pattern.rstrip("/")
    if "/" not in body:
        return None
    return body.lstrip("/").split("/")


def _segments_may_continue(pattern: list[str], dir_segments: list[str]) -> bool:
    """Can a path below the directory still match the anchored pattern?"""
    for index, directory in enumerate(dir_segments):
        if index >= len(pattern):
            return False
        if pattern[index] == "**":
            return True
        if re.fullmatch(_segment_regex(pattern[index]), directory) is None:
            return False
    return len(pattern) > len(dir_segments)


class PathRules:
    """A repository's path rules: what is excluded (never crosses) and, optionally, all that is kept."""

    def __init__(self, exclude: Sequence[str], include: Sequence[str] = ()):
        self.exclude = PathMatcher(exclude)
        self.include = PathMatcher(include)

    def excludes_dir(self, path: str) -> bool:
        """The directory and everything under it is excluded (by the exclude list)."""
        return self.exclude.matches_dir(path)

    def keeps_file(self, path: str) -> bool:
        if self.exclude.matches_file(path):
            return False
        return not self.include or self.include.matches_file(path)

    def might_keep_under(self, dir_path: str) -> bool:
        """Could anything below the directory be kept? False lets the rewrite drop it unread."""
        if self.excludes_dir(dir_path):
            return False
        return not self.include or self.include.might_match_under(dir_path)


def ref_matches(pattern: str, ref: str) -> bool:
    """Wildmatch on a full ref name: `*` stops at '/', `**` spans it (`refs/heads/*`, `refs/tags/**`)."""
    return _ref_regex(pattern).fullmatch(ref) is not None


@lru_cache(maxsize=256)
def _ref_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(_glob_regex(pattern))


def git_pathspecs(exclude: Sequence[str]) -> list[str]:
    """The exclude patterns as git pathspecs: `git log --all --name-only -- <these>` lists exactly the
    paths they exclude (each pattern for the path itself and for everything under it)."""
    specs: list[str] = []
    for pattern in exclude:
        dir_only = pattern.endswith("/")
        body = pattern.rstrip("/")
        body = body.lstrip("/") if "/" in body else "**/" + body
        if not dir_only and not body.endswith("/**"):
            specs.append(f":(glob){body}")
        specs.append(f":(glob){body}" if body.endswith("/**") else f":(glob){body}/**")
    return specs
