"""Load a plan file: YAML -> checked, frozen `LoadedPlan`, or one PlanError listing every problem."""

from __future__ import annotations

import difflib
import hashlib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from migrator.errors import PlanError, Problem
from migrator.plan.model import Plan
from migrator.plan.paths import state_dir
from migrator.plan.rules import static_problems
from migrator.plan.yaml_source import Path_, YamlSource, dotted, read_yaml


@dataclass(frozen=True)
class LoadedPlan:
    """A valid plan and what we know about the file it came from."""

    plan: Plan
    file: Path
    sha256: str
    source: YamlSource
    sql_checked: bool = True  # load_plan(sql_checks=False) leaves the roots' and wheres' SQL to check_sql

    @property
    def base_dir(self) -> Path:
        """Relative paths in a plan are relative to the plan file's folder, wherever you run from."""
        return self.file.parent

    @property
    def state_dir(self) -> Path:
        return state_dir(self.base_dir, self.plan.state, self.plan.name)

    def line_of(self, *path: str | int) -> int | None:
        return self.source.line_of(tuple(path))

    def problem(self, path: Path_, message: str, hint: str | None = None) -> Problem:
        return Problem(self.source.file, self.source.line_of(path), dotted(path), message, hint)

    def check_sql(self) -> None:
        """The roots' and wheres' SQL checked, where load_plan left it: the PlanError it would have raised."""
        if not self.sql_checked:
            problems = static_problems(self.source.data, self.source)  # the rest held when loaded
            if problems:
                raise PlanError(_sorted_unique(problems))


def load_plan(path: str | Path, environ: Mapping[str, str] | None = None, *, sql_checks: bool = True) -> LoadedPlan:
    """`sql_checks=False`: the roots' and wheres' SQL is not parsed, unless the plan has other
    problems (then every problem is reported at once). For `verify`, which reads no source when
    the ledger vouches for the plan file; whoever goes on to use the SQL calls `check_sql` first.
    Parsing means importing sqlglot: a twentieth of a verification at the benchmark's scale 1."""
    file = Path(path)
    source, problems = read_yaml(file, environ)
    if source.data is None:
        raise PlanError(problems)
    if not isinstance(source.data, dict):
        message = f"the plan must be a mapping of keys to values, got {_kind(source.data)}"
        hint = "start from plans/demo.yaml or docs/examples/"
        raise PlanError([Problem(str(file), source.line_of(()), "", message, hint)])
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(source.data)
    except ValidationError as exc:
        problems += _without_consequences([_problem_from_pydantic(error, source) for error in exc.errors()])
    static = static_problems(source.data, source, sql=sql_checks)
    if (problems or static) and not sql_checks:
        static = static_problems(source.data, source)  # failing anyway: the SQL's problems too
    problems += static
    if problems:
        raise PlanError(_sorted_unique(problems))
    assert plan is not None
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    return LoadedPlan(plan, file.resolve(), digest, source, sql_checked=sql_checks)


def _problem_from_pydantic(error: Any, source: YamlSource) -> Problem:
    loc: Path_ = tuple(error["loc"])
    kind = error["type"]
    line = source.line_of(loc)
    key = dotted(loc)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return Problem(source.file, line, key, "unknown key", _did_you_mean(str(loc[-1]), allowed, "keys"))
    if kind == "missing":
        return Problem(source.file, source.line_of(loc[:-1]), key, "is required")
    if kind == "literal_error":
        return _choice_problem(source, loc, _literal_choices(error["ctx"]["expected"]), error.get("input"))
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return Problem(source.file, line, key, f"must be a whole number, got {_yaml_text(error.get('input'))}")
    if kind == "too_short":
        least = error["ctx"]["min_length"]
        return Problem(source.file, line, key, f"must have at least {least} {'entry' if least == 1 else 'entries'}")
    if kind in ("model_type", "dict_type"):
        hint = f"write it as {key}: {{database: URL}}" if loc in (("source",), ("target",)) else None
        return Problem(source.file, line, key, f"must be a mapping, got {_kind(error.get('input'))}", hint)
    if kind == "choice":
        choices = error["ctx"]["choices"].split(" | ")
        return Problem(
            source.file,
            line,
            key,
            f"{error['msg']}, got {error['ctx']['given']!r}",
            _did_you_mean(str(error["ctx"]["given"]), choices, "values"),
        )
    return Problem(source.file, line, key, _plain(error["msg"]))


def _choice_problem(source: YamlSource, loc: Path_, choices: list[str], given: Any) -> Problem:
    line, key = source.line_of(loc), dotted(loc)
    if len(choices) == 1:
        message = f"must be {choices[0]}, got {_yaml_text(given)}"
    else:
        message = f"must be one of {' | '.join(choices)}, got {_yaml_text(given)}"
    if isinstance(given, str) and given in choices and loc == ("version",):
        hint: str | None = f"write it without quotes: {key}: {given}"
    elif loc == ("version",):
        hint = "this version of migrator reads plan format 1"
    else:
        hint = _did_you_mean(str(given), choices, "values")
    return Problem(source.file, line, key, message, hint)


def _without_consequences(problems: list[Problem]) -> list[Problem]:
    """A misspelt key also makes the key it was meant to be "required": report only the typo."""
    meant = {(p.key.rpartition(".")[0], p.hint) for p in problems if p.message == "unknown key"}
    result = []
    for p in problems:
        parent, _, name = p.key.rpartition(".")
        if p.message == "is required" and (parent, f"did you mean {name!r}?") in meant:
            continue
        result.append(p)
    return result


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    names = {str: "a string", int: "a number", float: "a number", list: "a list", dict: "a mapping"}
    return names.get(type(value), "nothing" if value is None else "a value")


def _yaml_text(value: Any) -> str:
    """A value as it would be written in YAML: true, null, 12, 'text'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value)


def _plain(message: str) -> str:
    message = message.replace("Input should be a valid dictionary", "must be a mapping")
    message = message.replace("Input should be a valid string", "must be a string")
    message = message.replace("Input should be a valid list", "must be a list")
    message = message.replace("Input should be a valid integer", "must be a whole number")
    message = message.replace("Input should be ", "must be ")
    return message


def _literal_choices(expected: str) -> list[str]:
    return [part.strip(" '") for part in expected.replace(" or ", ", ").split(",") if part.strip(" '")]


def _did_you_mean(given: str, choices: list[str], what: str) -> str | None:
    close = difflib.get_close_matches(given, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if choices:
        return f"allowed {what}: {', '.join(choices)}"
    return None


def _allowed_keys(path: Path_) -> list[str]:
    """The keys the model accepts at `path`, found by walking the model's field annotations."""
    node: Any = Plan
    for part in path:
        node = _step(node, part)
        if node is None:
            return []
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        explicit = getattr(node, "yaml_keys", None)
        return list(explicit) if explicit else [f.alias or name for name, f in node.model_fields.items()]
    return []


def _step(node: Any, part: str | int) -> Any:
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        for name, f in node.model_fields.items():
            if part in (name, f.alias):
                return f.annotation
        return None
    origin = typing.get_origin(node)
    if origin in (dict, list):
        return typing.get_args(node)[-1]
    return None


def _unwrap(node: Any) -> Any:
    while True:
        origin = typing.get_origin(node)
        if origin is typing.Annotated:
            node = typing.get_args(node)[0]
        elif origin in (typing.Union, types.UnionType):
            models = [a for a in typing.get_args(node) if isinstance(a, type) and issubclass(a, BaseModel)]
            if not models:
                return node
            node = models[0]
        else:
            return node


def _sorted_unique(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line or 0, p.key))
