"""Partial evaluation of JSONLogic targeting: what is fixed in the target is substituted and folded.

A rule is walked once. Each sub-rule becomes a `Part`: the rule to write (equivalent to the original for
every request in which the fixed attributes hold) and, when it is the same for all of them, its value.
Known values fold upwards with JSONLogic's own semantics (migrator/flags/jsonlogic.py); `and`/`or` keep
their short-circuit order (an unknown argument before a known one stays, so errors and values are
unchanged); an `if` branch whose condition is always false, or that an always-true condition before it
shadows, can never be chosen: it is a *dead rule*, dropped, kept, or refused per `dead_rules`.

Never folded: `fractional` (its buckets hash `targetingKey` and the flag key), any read of `targetingKey`
or `$flagd.*` (`flagKey`, `timestamp`), attributes the plan does not fix, and the operations that change
what `var` reads (`map`, `filter`, `reduce`, `all`, `some`, `none`) or that the list does not name: those
are copied as they are.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from migrator.flags.errors import FlagsError
from migrator.flags.facts import Facts
from migrator.flags.jsonlogic import OPERATIONS, NotFoldable, truthy
from migrator.flags.outcome import Removal
from migrator.flags.schema import json_path

DeadRules = Literal["drop", "keep", "fail"]

# flagd's schema allows only some argument forms for these: a literal put in place of a `var` might not
# be one of them (a number where `starts_with` wants a string, "1.2" where `sem_ver` wants "1.2.0"), so
# unless the whole operation folds, their arguments are written as the source had them.
_STRICT_ARGUMENTS = {"sem_ver", "starts_with", "ends_with", "missing", "missing_some", "var"}

# Equality that compares lists and objects by reference in JavaScript's JSONLogic.
_BY_REFERENCE = {"==", "!=", "===", "!=="}

_UNKNOWN = object()


@dataclass(frozen=True)
class Part:
    rule: Any  # JSONLogic equivalent to the original under the facts
    value: Any = _UNKNOWN  # its value in every request of the target, when that is one value

    @property
    def known(self) -> bool:
        return self.value is not _UNKNOWN


def representable(value: Any) -> bool:
    """Whether a JSON literal evaluates to `value`: an object with one key is an operation, not a value,
    a list's items are evaluated, NaN and infinities are not JSON."""
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return all(representable(item) for item in value)
    if isinstance(value, dict):
        return len(value) != 1
    return value is None or isinstance(value, (bool, int, str))


def _scalar(part: Part) -> bool:
    return part.known and not isinstance(part.value, (list, dict))


def emit(part: Part) -> Any:
    return copy.deepcopy(part.value) if part.known and representable(part.value) else part.rule


def _rebuild(operator: str, arguments: list[Any], was_list: bool) -> dict[str, Any]:
    # `{"!": x}` is `{"!": [x]}`; keep the source's short form unless the argument became a list literal
    # (which the short form would read as the argument list itself).
    if not was_list and len(arguments) == 1 and not isinstance(arguments[0], list):
        return {operator: arguments[0]}
    return {operator: arguments}


def compact(rule: Any, limit: int = 100) -> str:
    printed = json.dumps(rule, separators=(",", ":"), ensure_ascii=False)
    return printed if len(printed) <= limit else printed[: limit - 1] + "…"


@dataclass
class Simplifier:
    facts: Facts
    evaluators: dict[str, Any] = field(default_factory=dict)
    dead_rules: DeadRules = "drop"
    flag: str = ""
    facts_text: str = ""  # "country = 'US'": said in the reasons
    root: str = "targeting"
    removed: list[Removal] = field(default_factory=list)
    kept_dead: list[Removal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _expanding: tuple[str, ...] = ()

    def simplify(self, rule: Any) -> Part:
        return self._part(rule, ())

    # -- the walk -------------------------------------------------------------------------------------

    def _part(self, rule: Any, path: tuple[Any, ...]) -> Part:
        if isinstance(rule, list):
            parts = [self._part(item, (*path, i)) for i, item in enumerate(rule)]
            emitted = [emit(p) for p in parts]
            if all(p.known for p in parts):
                return Part(emitted, [p.value for p in parts])
            return Part(emitted)
        if not isinstance(rule, dict) or len(rule) != 1:
            return Part(copy.deepcopy(rule), copy.deepcopy(rule))
        ((operator, value),) = rule.items()
        arguments = value if isinstance(value, list) else [value]
        at = (*path, operator)
        if operator == "if":
            return self._if(rule, arguments, at)
        if operator in ("and", "or"):
            return self._and_or(operator, arguments, at)
        if operator == "$ref" and isinstance(value, str):
            return self._reference(value)
        if operator in ("var", "missing", "missing_some"):
            return self._data(rule, operator, arguments, isinstance(value, list), at)
        if operator in OPERATIONS:
            return self._operation(rule, operator, arguments, isinstance(value, list), at)
        return Part(copy.deepcopy(rule))  # fractional, map, filter, ...: copied as they are

    def _arguments(self, arguments: list[Any], at: tuple[Any, ...]) -> list[Part]:
        return [self._part(argument, (*at, i)) for i, argument in enumerate(arguments)]

    def _operation(self, rule: Any, operator: str, arguments: list[Any], was_list: bool, at: tuple[Any, ...]) -> Part:
        parts = self._arguments(arguments, at)
        if all(p.known for p in parts):
            try:
                result = OPERATIONS[operator](*[p.value for p in parts])
                return Part(_rebuild(operator, [emit(p) for p in parts], was_list), result)
            except NotFoldable:
                pass
        if operator in _STRICT_ARGUMENTS:
            return Part(copy.deepcopy(rule))
        if operator in _BY_REFERENCE:
            # `{"==": [{"var": "tags"}, {"var": "tags"}]}` compares one list with itself (true in JavaScript);
            # two list literals are two lists (false): known lists and objects stay the reads they were.
            return Part(_rebuild(operator, [emit(p) if _scalar(p) else p.rule for p in parts], was_list))
        return Part(_rebuild(operator, [emit(p) for p in parts], was_list))

    def _data(self, rule: Any, operator: str, arguments: list[Any], was_list: bool, at: tuple[Any, ...]) -> Part:
        """`var`, `missing` and `missing_some`: known when every name they read is fixed."""
        parts = self._arguments(arguments, at)
        if all(p.known for p in parts):
            values = [p.value for p in parts]
            result = self._read(operator, values)
            if result is not _UNKNOWN:
                return Part(_rebuild(operator, [emit(p) for p in parts], was_list), result)
        return Part(copy.deepcopy(rule))

    def _read(self, operator: str, values: list[Any]) -> Any:
        if operator == "var":
            known, found = self.facts.read(values[0] if values else None)
            if not known:
                return _UNKNOWN
            default = values[1] if len(values) > 1 else None
            return default if found is None else found
        if operator == "missing":
            names = values[0] if values and isinstance(values[0], list) else values
            return self._missing(names)
        count, names = [*values, None, None][:2]
        if not isinstance(names, list):
            return []
        absent = self._missing(names)
        if absent is _UNKNOWN or isinstance(count, bool) or not isinstance(count, (int, float)):
            return _UNKNOWN
        return [] if len(names) - len(absent) >= count else absent

    def _missing(self, names: list[Any]) -> Any:
        absent = []
        for name in names:
            known, found = self.facts.read(name)
            if not known or isinstance(name, (list, dict)):
                return _UNKNOWN
            if found is None or found == "":
                absent.append(name)
        return absent

    def _reference(self, name: str) -> Part:
        """A shared evaluator stays shared (copied as it is) unless it is the same value for every request
        in the target: then that value replaces the reference."""
        if name not in self.evaluators or name in self._expanding:
            return Part({"$ref": name})
        inner = Simplifier(self.facts, self.evaluators, "drop", self.flag, _expanding=(*self._expanding, name))
        part = inner.simplify(self.evaluators[name])
        if part.known and representable(part.value):
            return Part(copy.deepcopy(part.value), part.value)
        return Part({"$ref": name}, part.value)

    # -- control flow ---------------------------------------------------------------------------------

    def _and_or(self, operator: str, arguments: list[Any], at: tuple[Any, ...]) -> Part:
        """`and` returns its first falsy argument (else its last), `or` its first truthy one (else its
        last). A known argument that does not stop the chain is skipped; one that stops it ends the rule."""
        stops = (lambda v: not truthy(v)) if operator == "and" else truthy
        kept: list[Part] = []
        for i, argument in enumerate(arguments):
            part = self._part(argument, (*at, i))
            last = i == len(arguments) - 1
            if part.known and stops(part.value):
                kept.append(part)
                break
            if part.known and not last:
                continue
            kept.append(part)
        if not kept:
            return Part(None, None)  # `{"and": []}`
        if all(p.known for p in kept):
            return Part(emit(kept[-1]), kept[-1].value)
        if len(kept) == 1:
            return kept[0]
        return Part({operator: [emit(p) for p in kept]})

    def _if(self, rule: Any, arguments: list[Any], at: tuple[Any, ...]) -> Part:
        """`if` takes condition/branch pairs and an optional final else (odd argument count)."""
        pairs = [(arguments[i], arguments[i + 1], i) for i in range(0, len(arguments) - 1, 2)]
        otherwise = arguments[-1] if len(arguments) % 2 == 1 else None
        out: list[Any] = []
        chosen: Part | None = None  # the branch an always-true condition picks
        for position, (condition, branch, i) in enumerate(pairs):
            test = self._part(condition, (*at, i))
            if not test.known:
                out += [emit(test), emit(self._part(branch, (*at, i + 1)))]
                continue
            if truthy(test.value):
                holds = f"condition {compact(condition)} before it always holds{self._given()}"
                shadowed = [(j + 1, holds) for _, _, j in pairs[position + 1 :]]
                if len(arguments) % 2 == 1:
                    shadowed.append((len(arguments) - 1, f"{holds} (the else branch)"))
                if self.dead_rules == "keep" and shadowed:
                    out += [copy.deepcopy(condition), emit(self._part(branch, (*at, i + 1)))]
                    for index, reason in shadowed:
                        self._dead(at, index, reason)
                    out += copy.deepcopy(arguments[i + 2 :])
                    return Part({"if": out})
                for index, reason in shadowed:
                    self._dead(at, index, reason)
                chosen = self._part(branch, (*at, i + 1))
                break
            self._dead(at, i + 1, f"condition {compact(condition)} is never true{self._given()}")
            if self.dead_rules == "keep":
                out += [copy.deepcopy(condition), copy.deepcopy(branch)]
        else:
            if len(arguments) % 2 == 1:
                chosen = self._part(otherwise, (*at, len(arguments) - 1))
        if not out:
            return chosen if chosen is not None else Part(None, None)
        if chosen is not None:
            out.append(emit(chosen))
        return Part({"if": out})

    def _given(self) -> str:
        return f" when {self.facts_text}" if self.facts_text else ""

    def _dead(self, at: tuple[Any, ...], index: int, reason: str) -> None:
        where = json_path((self.root, *at, index))
        removal = Removal(path=where, reason=reason)
        if self.dead_rules == "fail":
            raise FlagsError(
                f"flag {self.flag!r}: {where} can never be chosen in the target ({reason}); "
                "dead_rules: fail refuses it (drop removes it, keep leaves it)",
                flag=self.flag,
                path=where,
            )
        (self.kept_dead if self.dead_rules == "keep" else self.removed).append(removal)
