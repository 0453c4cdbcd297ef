"""The console blocks of a documentation page: the commands they show, the outputs shown after
them, the comments that steer the run, and how a shown output (with `...`) is compared with a
printed one and rewritten. See tests/docs_outputs.py."""

from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass

ELLIPSIS = "..."


# --- reading a page --------------------------------------------------------------------------------


@dataclass
class Command:
    text: str  # as the reader types it, continuation lines joined with newlines
    expected: list[str]  # the lines shown after it
    first: int  # index in the page of the first expected line (expected lines are first..first+len)
    line: int  # 1-based line of the `$` in the page, for messages


@dataclass
class Step:
    """A console block (its commands), or a hidden `run:` command."""

    line: int
    commands: list[Command]
    hidden: bool = False
    ctrl_c: str | None = None


_DIRECTIVE = re.compile(r"^<!--\s*(not run|run|ctrl-c after):\s*(.*?)\s*-->\s*$")


def _complete(command: str) -> bool:
    if command.endswith("\\"):
        return False
    try:
        shlex.split(command)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def read_steps(lines: list[str]) -> list[Step]:
    steps: list[Step] = []
    skip_next, ctrl_c = False, None
    i = 0
    while i < len(lines):
        directive = _DIRECTIVE.match(lines[i])
        if directive:
            kind, value = directive.groups()
            if kind == "run":
                steps.append(Step(i + 1, [Command(value, [], i + 1, i + 1)], hidden=True))
            elif kind == "not run":
                skip_next = True
            else:
                ctrl_c = value
            i += 1
            continue
        if lines[i].strip() != "```console":
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        if not skip_next:
            steps.append(Step(i + 1, _commands(lines, i + 1, end), ctrl_c=ctrl_c))
        skip_next, ctrl_c = False, None
        i = end + 1
    return steps


def _commands(lines: list[str], start: int, end: int) -> list[Command]:
    commands: list[Command] = []
    j = start
    while j < end:
        if not (lines[j] == "$" or lines[j].startswith("$ ")):
            raise ValueError(f"line {j + 1}: output before any `$ command`")
        at, text = j, lines[j][2:]
        j += 1
        while not _complete(text) and j < end:
            text += "\n" + lines[j]
            j += 1
        first = j
        while j < end and not (lines[j] == "$" or lines[j].startswith("$ ")):
            j += 1
        commands.append(Command(text, lines[first:j], first, at + 1))
    return commands


# --- comparing and rewriting -----------------------------------------------------------------------


def _segments(expected: list[str]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    for line in expected:
        if line == ELLIPSIS:
            segments.append([])
        else:
            segments[-1].append(line)
    return segments


def matches(expected: list[str], actual: list[str]) -> bool:
    expected = [line.rstrip() for line in expected]
    if ELLIPSIS not in expected:
        return expected == actual
    segments = _segments(expected)
    head, tail, middle = segments[0], segments[-1], segments[1:-1]
    if actual[: len(head)] != head or len(actual) < len(head) + len(tail):
        return False
    if tail and actual[len(actual) - len(tail) :] != tail:
        return False
    pos, stop = len(head), len(actual) - len(tail)
    for segment in middle:
        found = next((i for i in range(pos, stop - len(segment) + 1) if actual[i : i + len(segment)] == segment), None)
        if found is None:
            return False
        pos = found + len(segment)
    return True


def rewrite(expected: list[str], actual: list[str]) -> list[str]:
    """What a block should show now: the printed lines, or for a block with `...`, each run of shown
    lines replaced by the printed lines most like it (the ellipses stay where they were)."""
    if ELLIPSIS not in expected:
        return actual
    new: list[str] = []
    pos = 0
    segments = _segments(expected)
    for n, segment in enumerate(segments):
        if n:
            new.append(ELLIPSIS)
        if not segment:
            continue
        if n == 0:
            best = 0
        elif n == len(segments) - 1:
            best = max(pos, len(actual) - len(segment))
        else:
            text = "\n".join(segment)
            starts = range(pos, max(pos, len(actual) - len(segment)) + 1)
            best = max(
                starts,
                key=lambda i: difflib.SequenceMatcher(None, text, "\n".join(actual[i : i + len(segment)])).ratio(),
            )
        new.extend(actual[best : best + len(segment)])
        pos = best + len(segment)
    return new
