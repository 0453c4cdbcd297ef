"""Checks of a plan's codebase keys that go beyond their shape (SPEC §2): both sides and the section
go together, locations are git locations without a password in them, credentials come from ${VAR}s,
every pattern and regular expression can be used, repository names are safe and unique.

Like the rest of `rules.py`, these read the raw YAML values, entry by entry, so that one malformed
entry does not hide the problems of the others (the shape check reports the malformed one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from migrator.errors import Problem
from migrator.plan.yaml_source import Path_, YamlSource, dotted, read_yaml

ProblemAt = Callable[..., Problem]  # (path, message, hint=None) -> Problem, located in the plan file

_SCHEMES = ("https", "http", "git", "ssh", "file")
_SCP_LIKE = re.compile(r"^[^/:@\s]+@[^/:\s]+:")  # git@host:org, which git reads but a base URL cannot be
_VARIABLE_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
_ALLOW_ENTRY = re.compile(r"^sha256:[0-9a-f]{64}$")
_SECRET_KEYS = ("password", "token")


def codebase_problems(raw: dict[str, Any], sides: dict[str, dict[str, Any]], source: YamlSource) -> list[Problem]:
    """Every problem of the codebase keys; call it when the plan names a codebase anywhere."""

    def problem(path: Path_, message: str, hint: str | None = None) -> Problem:
        return Problem(source.file, source.line_of(path), dotted(path), message, hint)

    problems = _sides_problems(raw, sides, source, problem)
    section = raw.get("codebase")
    if isinstance(section, dict):
        problems += _rules_problems(section, ("codebase",), problem)
        problems += _repositories_problems(section.get("repositories"), problem)
    return problems


def git_without_codebase(sides: dict[str, dict[str, Any]], problem: ProblemAt) -> list[Problem]:
    """`git` credentials on a side of a plan that mirrors no repositories: a leftover, or a forgotten part."""
    return [
        problem(
            (side, "git"),
            "is for the codebase, but the plan mirrors no repositories",
            "remove it, or add source.codebase, target.codebase and a codebase section",
        )
        for side, section in sides.items()
        if "git" in section
    ]


# --- the sides --------------------------------------------------------------------------------------


def _sides_problems(
    raw: dict[str, Any], sides: dict[str, dict[str, Any]], source: YamlSource, problem: ProblemAt
) -> list[Problem]:
    problems: list[Problem] = []
    locations: dict[str, str] = {}
    for side, section in sides.items():
        if "codebase" not in section:
            problems.append(
                problem(
                    (side,),
                    "codebase is required",
                    f"set {side}.codebase to a base URL (https://, ssh://, git://, file://) or a folder",
                )
            )
            continue
        location = section["codebase"]
        if not isinstance(location, str) or (side, "codebase") in source.unset:
            continue  # the shape check or the unset variable is the problem
        found = _location_problem(location, side)
        if found:
            problems.append(problem((side, "codebase"), *found))
        else:
            locations[side] = location
    if "codebase" not in raw:
        named = ("source", "codebase") if "codebase" in sides["source"] else ("target", "codebase")
        problems.append(
            problem(
                named,
                "repositories are named but the plan has no codebase section to say which to mirror",
                "add `codebase: {repositories: [{name: REPOSITORY}]}`, or remove the codebase keys",
            )
        )
    if len(locations) == 2 and _same_location(locations["source"], locations["target"], Path(source.file).parent):
        problems.append(
            problem(("target", "codebase"), "is the source's codebase", "mirror into another folder or server")
        )
    problems += _literal_credentials(sides, source, problem)
    return problems


def _location_problem(location: str, side: str) -> tuple[str, str | None] | None:
    """What is wrong with a base URL or a folder, as (message, hint); None when it can be used."""
    if not location.strip():
        return "is empty", f"set {side}.codebase to a base URL or a folder of repositories"
    if "://" not in location:
        if _SCP_LIKE.match(location):
            return "is not a base URL", "write it as ssh://USER@HOST/PATH"
        return None  # a folder, relative to the plan file's folder
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        return f"is not a git location: {scheme}:// is not supported", (
            "use https://, http://, ssh://, git://, file:// or a folder"
        )
    try:
        password = parts.password
    except ValueError:  # a port that is not a number
        return "is not a valid URL", None
    if password is not None:
        return "holds a password, and URLs are printed", (
            f"remove it from the URL and give it under {side}.git as password: ${{VAR}} or token: ${{VAR}}"
        )
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return "is not a local path", "write it as file:///PATH"
    elif not parts.hostname:
        return "names no host", f"write it as {scheme}://HOST/PATH"
    return None


def _same_location(source: str, target: str, base_dir: Path) -> bool:
    def normal(location: str) -> str:
        if location.startswith("file://"):
            location = urlsplit(location).path
        elif "://" in location:
            return location.rstrip("/")
        path = Path(location).expanduser()
        return str((path if path.is_absolute() else base_dir / path).resolve())

    return normal(source) == normal(target)


class _EveryVariable(Mapping[str, str]):
    """An environment in which `${NAME}` stays `${NAME}`: reading the plan with it gives the values as
    written in the file, so that a literal password can be told from one that comes from a variable."""

    def __getitem__(self, name: str) -> str:
        return f"${{{name}}}"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _literal_credentials(sides: dict[str, dict[str, Any]], source: YamlSource, problem: ProblemAt) -> list[Problem]:
    """A password or token written in the plan file would be in every copy of it, in version control."""
    given = [
        (side, key)
        for side, section in sides.items()
        if isinstance(section.get("git"), dict)
        for key in _SECRET_KEYS
        if isinstance(section["git"].get(key), str)
    ]
    if not given:
        return []
    written = read_yaml(Path(source.file), _EveryVariable())[0].data
    problems = []
    for side, key in given:
        as_written = _at(written, (side, "git", key))
        if not (isinstance(as_written, str) and _VARIABLE_ONLY.match(as_written)):
            name = f"{'SRC' if side == 'source' else 'DST'}_GIT_{key.upper()}"
            problems.append(
                problem(
                    (side, "git", key),
                    "must come from an environment variable, not be written in the plan",
                    f"export {name}=... and write {key}: ${{{name}}}",
                )
            )
    return problems


def _at(data: Any, path: Path_) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


# --- the rules ---------------------------------------------------------------------------------------


def _rules_problems(rules: dict[str, Any], at: Path_, problem: ProblemAt) -> list[Problem]:
    """The keys shared by the section's defaults and each repository's overrides."""
    problems: list[Problem] = []
    for key, check in (("refs", _ref_pattern_problem), ("paths", _path_pattern_problem)):
        selection = rules.get(key)
        if isinstance(selection, dict):
            for which in ("include", "exclude"):
                for i, pattern in _strings(selection.get(which)):
                    problems += _found(check(pattern), (*at, key, which, i), problem)
            if key == "refs" and selection.get("include") == []:
                # (An empty paths.include is "no include list": every path that is not excluded.)
                hint = "remove it to mirror refs/heads/* and refs/tags/*"
                problems.append(problem((*at, key, "include"), "selects no ref", hint))
    replace = rules.get("replace")
    for n, entry in enumerate(replace if isinstance(replace, list) else []):
        if isinstance(entry, dict):
            for i, pattern in _strings(entry.get("paths")):
                problems += _found(_path_pattern_problem(pattern), (*at, "replace", n, "paths", i), problem)
            if isinstance(entry.get("pattern"), str):
                problems += _found(_regex_problem(entry["pattern"]), (*at, "replace", n, "pattern"), problem)
    messages = rules.get("messages")
    if isinstance(messages, dict):
        for i, pattern in _strings(messages.get("scrub")):
            problems += _found(_regex_problem(pattern), (*at, "messages", "scrub", i), problem)
    secrets = rules.get("secrets")
    if isinstance(secrets, dict):
        for i, entry in _strings(secrets.get("allow")):
            if not _ALLOW_ENTRY.match(entry):
                problems.append(
                    problem(
                        (*at, "secrets", "allow", i),
                        f"must be 'sha256:' and 64 lower-case hex digits, got {entry!r}",
                        "copy the hash that the dry run prints for the finding, never the secret itself",
                    )
                )
    return problems


def _strings(values: Any) -> list[tuple[int, str]]:
    return [(i, v) for i, v in enumerate(values) if isinstance(v, str)] if isinstance(values, list) else []


def _found(found: tuple[str, str | None] | None, path: Path_, problem: ProblemAt) -> list[Problem]:
    return [problem(path, *found)] if found else []


def _path_pattern_problem(pattern: str) -> tuple[str, str | None] | None:
    """A wildmatch pattern that cannot mean what was meant. A local check until
    migrator.codebase.wildmatch.pattern_problem, the matcher's own, takes its place."""
    if not pattern:
        return "is empty", "remove it, or write '**' for every path"
    if "\0" in pattern:
        return "holds a NUL character", None
    escaped = False
    bracket_at: int | None = None
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[" and bracket_at is None:
            bracket_at = i
            # A ']' right after '[' (or '[!', '[^') is a member of the set, not its end.
            i += 2 if pattern[i + 1 : i + 2] in ("!", "^") else 1
            if pattern[i : i + 1] == "]":
                i += 1
            continue
        elif char == "]" and bracket_at is not None:
            bracket_at = None
        i += 1
    if bracket_at is not None:
        return f"has a '[' at column {bracket_at + 1} without its ']'", "write [[] to match a '[' itself"
    if escaped:
        return "ends with a lone '\\'", "double it to match a backslash"
    return None


def _ref_pattern_problem(pattern: str) -> tuple[str, str | None] | None:
    found = _path_pattern_problem(pattern)
    if found is None and not pattern.startswith(("refs/", "*")):
        return "does not match full ref names", f"did you mean 'refs/heads/{pattern}' or 'refs/tags/{pattern}'?"
    return found


def _regex_problem(pattern: str) -> tuple[str, str | None] | None:
    """The rewrite applies the expressions to bytes: one must compile as text and as bytes, and match
    at least one character (one that matches nothing would insert text between every two characters)."""
    try:
        compiled = re.compile(pattern)
        re.compile(pattern.encode("utf-8"))
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        return f"is not a valid regular expression: {exc.msg}{where}", None
    if compiled.fullmatch(""):
        return "matches the empty string", "make it match at least one character"
    return None


# --- the repositories ------------------------------------------------------------------------------


def _repositories_problems(repositories: Any, problem: ProblemAt) -> list[Problem]:
    if not isinstance(repositories, list):
        return []  # missing or not a list: the shape check says so
    problems: list[Problem] = []
    names: dict[str, int] = {}
    targets: dict[str, str] = {}
    for i, entry in enumerate(repositories):
        at: Path_ = ("codebase", "repositories", i)
        if isinstance(entry, str):
            entry = {"name": entry}
            name_at: Path_ = at
        elif isinstance(entry, dict):
            name_at = (*at, "name")
            problems += _rules_problems(entry, at, problem)
        else:
            continue
        name, target_name = entry.get("name"), entry.get("target_name")
        safe_name = isinstance(name, str) and _name_problem(name, "source", name_at, problem, problems)
        if isinstance(target_name, str):
            _name_problem(target_name, "target", (*at, "target_name"), problem, problems)
        if not isinstance(name, str):
            continue
        if name in names:
            problems.append(
                problem(name_at, f"repository {name} is listed twice", "list each repository once: it is one unit")
            )
            if target_name is None:
                continue  # the same mistake again, as a target: said once is enough
        names.setdefault(name, i)
        target = target_name if isinstance(target_name, str) else name
        if safe_name and target in targets:
            problems.append(
                problem(
                    (*at, "target_name") if isinstance(target_name, str) else name_at,
                    f"target {target} is also the target of repository {targets[target]}",
                    "give one of them another target_name",
                )
            )
        targets.setdefault(target, name)
    return problems


def _name_problem(name: str, side: str, at: Path_, problem: ProblemAt, problems: list[Problem]) -> bool:
    """A repository's name is a path under its side's codebase: relative, without '..', without
    characters a URL or a file system would read otherwise. Appends the problem; True when it is safe."""
    segments = name.split("/")
    under = f"it is a path under {side}.codebase"
    if not name:
        found: tuple[str, str | None] = ("is empty", under)
    elif name.startswith("/"):
        found = ("must be a relative path, not an absolute one", under)
    elif ".." in segments:
        found = (f"must not climb out of {side}.codebase with '..'", under)
    elif any(segment in ("", ".") or not _SEGMENT.match(segment) for segment in segments):
        found = (
            f"must be path segments of letters, digits, '.', '_' and '-', separated by '/', got {name!r}",
            None,
        )
    else:
        return True
    problems.append(problem(at, *found))
    return False
