"""The plan's `codebase` section -> one frozen RepoRules per repository, and the sides' locations.

How a repository's overrides merge with the section's defaults (docs/reference/plan.md says the same):

- Exclusions never weaken. A repository's `paths.exclude`, `refs.exclude`, `messages.scrub` and
  `replace` are ADDED to the defaults (defaults first, in the plan's order, each pattern once), and
  so is `secrets.allow` (the hashes accepted in this repository, besides those accepted everywhere).
  A repository cannot take back an exclusion, a scrub or a replacement the defaults make: give those
  per repository instead of in the defaults when one repository must differ.
- Every other key a repository gives replaces the default: `refs.include`, `paths.include`,
  `submodules`, `lfs`, `max_blob_size`, `large_blobs`, `on_source_rewrite` and `secrets.action`
  (`secrets: redact` is `secrets: {action: redact}`).
- A key given at neither level takes the built-in default: refs/heads/* and refs/tags/*, every path
  that is not excluded, `fail` for submodules, LFS, large blobs and a rewritten source, no size
  limit, `refuse` for secrets.
- `target_name` defaults to `name`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from migrator.codebase.rules import Replacement, RepoRules
from migrator.plan.codebase_model import CodebaseSection, Repository
from migrator.plan.model import Plan

DEFAULT_REFS = ("refs/heads/*", "refs/tags/*")


def rules_for(plan: Plan) -> list[RepoRules]:
    """The resolved rules of every repository of the plan, in the plan's order (none without a codebase)."""
    if plan.codebase is None:
        return []
    return [resolve_repository(plan.codebase, repository) for repository in plan.codebase.repositories]


def resolve_repository(section: CodebaseSection, repository: Repository) -> RepoRules:
    """One repository's rules: its overrides merged with the section's defaults (see the module docstring)."""
    top, own = section, repository
    top_secrets, own_secrets = top.secrets, own.secrets
    return RepoRules(
        name=own.name,
        target_name=own.target_name or own.name,
        refs_include=_first_given(
            own.refs.include if own.refs else None, top.refs.include if top.refs else None, default=DEFAULT_REFS
        ),
        refs_exclude=_added(top.refs.exclude if top.refs else [], own.refs.exclude if own.refs else []),
        paths_exclude=_added(top.paths.exclude if top.paths else [], own.paths.exclude if own.paths else []),
        paths_include=_first_given(
            own.paths.include if own.paths else None, top.paths.include if top.paths else None, default=()
        ),
        replacements=tuple(
            dict.fromkeys(
                Replacement(paths=tuple(r.paths), pattern=r.pattern, replacement=r.with_)
                for r in (*top.replace, *own.replace)
            )
        ),
        message_scrub=_added(top.messages.scrub if top.messages else [], own.messages.scrub if own.messages else []),
        submodules=own.submodules or top.submodules,
        lfs=own.lfs or top.lfs,
        max_blob_size=own.max_blob_size if own.max_blob_size is not None else top.max_blob_size,
        large_blobs=own.large_blobs or top.large_blobs,
        on_source_rewrite=own.on_source_rewrite or top.on_source_rewrite,
        secrets=(own_secrets.action if own_secrets else None)
        or (top_secrets.action if top_secrets else None)
        or "refuse",
        secrets_allow=frozenset(
            (*(top_secrets.allow if top_secrets else ()), *(own_secrets.allow if own_secrets else ()))
        ),
    )


def side_location(location: str, base_dir: Path) -> str:
    """A side's `codebase` as git is to be given it: a URL as written (file:// as its path), a folder
    as an absolute path, a relative one taken from the plan file's folder (`base_dir`)."""
    if location.startswith("file://"):
        return unquote(urlsplit(location).path)
    if "://" in location:
        return location
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def _first_given(*levels: Iterable[str] | None, default: Iterable[str]) -> tuple[str, ...]:
    """The most specific level that gives the key (an empty list is given: it means none)."""
    for level in levels:
        if level is not None:
            return tuple(level)
    return tuple(default)


def _added(defaults: Iterable[str], own: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*defaults, *own)))
