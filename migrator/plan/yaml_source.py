"""Read a plan's YAML into plain Python values, remembering the line of every key and value.

PyYAML's composer gives us nodes with marks; we turn them into dicts, lists and scalars ourselves so
that each value's path (("data", "tables", "users")) maps to the line it came from. `${VAR}` is
expanded here, in string scalars only, so that an unset variable is reported at its own line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from migrator.errors import Problem

Path_ = tuple[str | int, ...]
_SCALARS = yaml.constructor.SafeConstructor()
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class YamlSource:
    """The document as data plus where each piece of it stands in the file."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    unset: set[Path_] = field(default_factory=set)  # values that named an unset ${VAR}

    def line_of(self, path: Path_) -> int | None:
        """The line of `path`, or of its nearest ancestor that the file has."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return None


def read_yaml(path: Path, environ: Mapping[str, str] | None = None) -> tuple[YamlSource, list[Problem]]:
    env = os.environ if environ is None else environ
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return YamlSource(name, None), [Problem(name, None, "", f"cannot read the plan: {reason}")]
    except UnicodeDecodeError as exc:
        # A binary file, or text in another encoding: name the first byte that is not UTF-8.
        line = exc.object[: exc.start].count(b"\n") + 1
        message = f"not a text file in UTF-8: byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is not UTF-8"
        return YamlSource(name, None), [Problem(name, line, "", message, "a plan is a YAML file saved as UTF-8")]
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, ...): a binary file
        line = text[: exc.position].count("\n") + 1
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"not a text file: character U+{character:04X} at offset {exc.position} cannot be in YAML"
        return YamlSource(name, None), [Problem(name, line, "", message, "a plan is a YAML file saved as UTF-8")]
    except yaml.YAMLError as exc:
        return YamlSource(name, None), [_yaml_problem(name, exc)]
    source = YamlSource(name, None)
    problems: list[Problem] = []
    if root is None:
        return source, [Problem(name, 1, "", "the plan is empty", "start from plans/demo.yaml or docs/examples/")]
    source.data = _convert(root, (), source, problems, env)
    return source, problems


def _convert(node: yaml.Node, path: Path_, src: YamlSource, problems: list[Problem], env: Mapping[str, str]) -> Any:
    src.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(_SCALARS.construct_object(key_node))
            if key in result:
                problems.append(Problem(src.file, key_node.start_mark.line + 1, dotted((*path, key)), "duplicate key"))
                continue
            src.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, (*path, key), src, problems, env)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), src, problems, env) for i, item in enumerate(node.value)]
    value = _SCALARS.construct_object(node)  # a typed scalar: int, float, bool, null or str
    if isinstance(value, str):
        return _interpolate(value, node.start_mark.line + 1, path, src, problems, env)
    return value


def _interpolate(
    value: str, line: int, path: Path_, src: YamlSource, problems: list[Problem], env: Mapping[str, str]
) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            src.unset.add(path)
            problems.append(
                Problem(
                    src.file,
                    line,
                    dotted(path),
                    f"environment variable {name} is not set",
                    f"export {name}=... before running",
                )
            )
            return ""
        return env[name]

    return _VARIABLE.sub(substitute, value)


def dotted(path: Path_) -> str:
    """('data', 'relations', 0, 'from') -> 'data.relations[0].from'."""
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


# PyYAML names tokens after its grammar; people read them better as what they stand for.
_TOKENS = {
    "<scalar>": "a value",
    "<block end>": "the end of an indented block",
    "<block mapping start>": "a new indented mapping",
    "<block sequence start>": "a new indented list",
    "<flow mapping end>": "'}'",
    "<flow sequence end>": "']'",
    "<stream end>": "the end of the file",
}


def _yaml_problem(file: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    reason = getattr(exc, "problem", None) or "it could not be read"
    for token, words in _TOKENS.items():
        reason = reason.replace(f"'{token}'", words).replace(token, words)
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    hint = "check its brackets, quotes and indentation"
    if context and context_mark is not None:
        hint = f"{context} that starts on line {context_mark.line + 1}: {hint}"
    return Problem(file, mark.line + 1 if mark else None, "", f"not valid YAML: {reason}", hint)
