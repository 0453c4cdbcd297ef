"""The plan's `codebase` section and the sides' `git` credentials, as frozen, validated objects (SPEC §2).

A repository entry may override every key of the section's defaults. A key it does not give is None
(or an empty list) here, so that `migrator.codebase.resolve` can tell "not given" from a value and
merge the two levels by one rule. Shape only: patterns, regular expressions, names and the sides
are checked in `codebase_checks.py`, with hints.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

Submodules = Literal["fail", "drop", "keep"]
Lfs = Literal["fail", "pointers-only"]
LargeBlobs = Literal["fail", "drop"]
OnSourceRewrite = Literal["fail", "follow"]
SecretsAction = Literal["refuse", "redact"]
_SECRETS_ACTIONS = ("refuse", "redact")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GitSettings(_Frozen):
    """How to reach one side's git server (SPEC §2 `git`). The password and the token must be ${VAR}s
    (the loader refuses them written in the file); git receives them through a credential helper,
    never in a URL or on a command line."""

    username: str | None = None
    password: str | None = None
    token: str | None = None

    @model_validator(mode="after")
    def _one_secret(self) -> GitSettings:
        if self.password is not None and self.token is not None:
            raise PydanticCustomError("password_or_token", "give either password or token, not both", {})
        if self.password is not None and self.username is None:
            raise PydanticCustomError("password_needs_user", "a password goes with a username: give both", {})
        return self


class RefSelection(_Frozen):
    """Which refs are mirrored: wildmatch globs on full ref names (refs/heads/main, refs/tags/v*)."""

    include: list[str] | None = None  # none given: refs/heads/* and refs/tags/*
    exclude: list[str] = Field(default_factory=list)


class PathSelection(_Frozen):
    """Which paths every commit keeps: gitignore-style wildmatch on full paths."""

    exclude: list[str] = Field(default_factory=list)
    include: list[str] | None = None  # none given: every path that is not excluded


class Replace(_Frozen):
    """Content replaced in the files at `paths`: every match of `pattern` (a regular expression)
    becomes the text `with`."""

    paths: list[str] = Field(min_length=1)
    pattern: str
    with_: str = Field(alias="with")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MessageRules(_Frozen):
    scrub: list[str] = Field(default_factory=list)  # regular expressions; each match becomes [scrubbed]


def _secrets_rule(value: Any) -> Any:
    if isinstance(value, str):
        if value not in _SECRETS_ACTIONS:
            raise PydanticCustomError(
                "choice",
                "must be one of {choices} or a mapping (action, allow)",
                {"choices": " | ".join(_SECRETS_ACTIONS), "given": value},
            )
        return {"action": value}
    return value


class SecretsRule(_Frozen):
    """What a secret found in what would be pushed does: refuse the push, or be redacted. `allow`
    names accepted findings by the hash the dry run prints ("sha256:<64 hex>"), never the secret."""

    action: SecretsAction | None = None  # none given: refuse
    allow: list[str] = Field(default_factory=list)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_size(value: Any) -> Any:
    """A number of bytes, or a size with a unit: KB, MB, GB, TB are powers of 1000, KiB, MiB, GiB,
    TiB powers of 1024 ("50MB" is 50,000,000 bytes; "1.5 GiB" 1,610,612,736). Rounded down to whole bytes."""
    if value is None:
        return None
    size: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        try:
            size = int(Decimal(m[1]) * _UNITS[(m[2] or "b").lower()])
        except InvalidOperation:  # pragma: no cover - the pattern admits only decimal numbers
            size = None
    if size is None or size < 1:
        raise PydanticCustomError(
            "size",
            "must be a number of bytes or a size such as 50MB or 1.5GiB, got {given}",
            {"given": repr(value)},
        )
    return size


Size = Annotated[int | None, BeforeValidator(parse_size, json_schema_input_type=int | str | None)]
Secrets = Annotated[
    SecretsRule | None, BeforeValidator(_secrets_rule, json_schema_input_type=SecretsAction | SecretsRule | None)
]


class RepositoryRules(_Frozen):
    """The keys a repository may override. None (or an empty list) means "not given": the
    section's value applies. See migrator/codebase/resolve.py for how the two levels merge."""

    refs: RefSelection | None = None
    paths: PathSelection | None = None
    replace: list[Replace] = Field(default_factory=list)
    messages: MessageRules | None = None
    submodules: Submodules | None = None
    lfs: Lfs | None = None
    max_blob_size: Size = None
    large_blobs: LargeBlobs | None = None
    on_source_rewrite: OnSourceRewrite | None = None
    secrets: Secrets = None


def _repository(value: Any) -> Any:
    """`- app` is short for `- {name: app}`."""
    return {"name": value} if isinstance(value, str) else value


class Repository(RepositoryRules):
    """One repository: `name` under source.codebase, `target_name` (default: the same) under target.codebase."""

    name: str
    target_name: str | None = None


class CodebaseSection(RepositoryRules):
    """Repositories under source.codebase mirrored to target.codebase (SPEC §2, §7a): the rules every
    repository gets, and the repositories, each with its own overrides."""

    submodules: Submodules = "fail"
    lfs: Lfs = "fail"
    large_blobs: LargeBlobs = "fail"
    on_source_rewrite: OnSourceRewrite = "fail"
    repositories: list[Annotated[Repository, BeforeValidator(_repository, json_schema_input_type=str | Repository)]] = (
        Field(min_length=1)
    )
