"""flagd's published JSON schema, shipped in migrator/flags/schemas/ (origin and licence in its README).

`flags.json` refers to `./targeting.json` by a URL relative to its `$id` (https://flagd.dev/schema/v0/):
both are registered under their `$id`s so that reference resolves to the packaged copy, never to the network.
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

_SCHEMA_FILES = ("flags.json", "targeting.json")


@cache
def _validator() -> Draft7Validator:
    folder = resources.files("migrator.flags") / "schemas"
    schemas = {name: json.loads((folder / name).read_text(encoding="utf-8")) for name in _SCHEMA_FILES}
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    # Draft 7 ignores `$id` beside a `$ref` (flags.json's root has both), so relative references would
    # resolve against no base; entering through the registered URL gives them flags.json's URL as base.
    return Draft7Validator({"$ref": schemas["flags.json"]["$id"]}, registry=registry)


def json_path(parts: Any) -> str:
    """`flags.my-flag.targeting.if[2]`: keys joined by dots, list indexes in brackets."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


def _describe(error: ValidationError) -> str:
    return f"{json_path(error.absolute_path)}: {error.message}"


def _explain(error: ValidationError) -> ValidationError:
    """The error to show. An anyOf/oneOf failure ("not valid under any of the given schemas") is said of
    the whole flag or rule; a problem every alternative reports (a flag's metadata, whatever the type of
    its variants) is the one to fix, else the sub-error jsonschema rates most relevant."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return error
    by_branch: dict[Any, set[tuple[tuple[Any, ...], str]]] = defaultdict(set)
    for sub in error.context:
        by_branch[sub.relative_schema_path[0]].add((tuple(sub.absolute_path), sub.message))
    shared = set.intersection(*by_branch.values())
    for sub in error.context:
        if (tuple(sub.absolute_path), sub.message) in shared:
            return _explain(sub)
    chosen = best_match(error.context)
    return error if chosen is None else _explain(chosen)


def validate_document(document: Any) -> list[str]:
    """Every schema problem of a flagd flag-definition document, one line each, naming the flag (or the
    evaluator, or the flag-set metadata) and the JSON path. Empty when the document is valid."""
    groups: dict[tuple[str, ...], list[ValidationError]] = defaultdict(list)
    for error in _validator().iter_errors(document):
        where = tuple(str(p) for p in list(error.absolute_path)[:2])
        groups[where].append(error)
    problems = []
    for where, errors in sorted(groups.items()):
        chosen = best_match(errors)
        assert chosen is not None  # the group is never empty
        error = _explain(chosen)
        if len(where) == 2 and where[0] == "flags":
            problems.append(f"flag {where[1]!r}: {_describe(error)}")
        elif len(where) == 2 and where[0] == "$evaluators":
            problems.append(f"evaluator {where[1]!r}: {_describe(error)}")
        else:
            problems.append(_describe(error))
    return problems


@cache
def _targeting_validator() -> Draft7Validator:
    folder = resources.files("migrator.flags") / "schemas"
    return Draft7Validator(json.loads((folder / "targeting.json").read_text(encoding="utf-8")))


def validate_targeting(rule: Any) -> list[str]:
    """Schema problems of one targeting rule (targeting.json alone), each with its JSON path."""
    return [_describe(_explain(error)) for error in _targeting_validator().iter_errors(rule)]
