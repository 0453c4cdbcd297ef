"""An Unleash feature export, converted to flagd's flag definitions (issue 14, item 6).

The input is Unleash's client API shape, the one its SDKs read and its client specification tests
use: `{"version": 1, "features": [{name, enabled, strategies: [{name, parameters, constraints,
segments, variants}], variants, dependencies}], "segments": [{id, constraints}]}`; or its admin
export of one environment (`features`, `featureStrategies`, `featureEnvironments`, `segments`,
`dependencies`), brought into that shape first (`client_shape`).

Each feature becomes one boolean flag (variants `on`/`off`) whose targeting is the OR of its
strategies, each the AND of its constraints, its segments' constraints and the strategy's own test.
Unleash's context maps onto flagd's evaluation context as `unleash_context` says: the standard
fields (`userId`, `sessionId`, `remoteAddress`, `environment`, `appName`) keep their names, and
`properties` become top-level attributes.

Every feature is classed, for the report:
- **exact**: flagd answers as Unleash does for every context (Unleash's client specification tests
  check it through flagd's own evaluator, tests/test_flags_unleash.py);
- **approximate**: a gradual rollout between 0 and 100 %. Unleash buckets users with MurmurHash3 of
  `groupId:userId` (seed 86028157) into 1..100; flagd's `fractional` hashes its own bucketing key
  differently, so the same share of users is on, but not the same users: buckets move. A date
  constraint uses flagd's clock (`$flagd.timestamp`, whole seconds) and ignores a `currentTime`
  the application passes;
- **not converted**: what flagd's targeting cannot express (regular expressions, CIDR ranges,
  case-insensitive string operators, dependencies on other features, strategies of unknown names,
  unknown operators). Such a feature is left out of the output, with the reason, rather than
  copied with a rule that answers differently.

Unleash's variants (of the feature or of a strategy) are a second answer beside on/off, which a
flagd flag has no room for: they are not carried over, and every flag that had them says so.
The table of what carries over is docs/reference/unleash-import.md.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from migrator.errors import UsageError

EXACT, APPROXIMATE, NOT_CONVERTED = "exact", "approximate", "not-converted"
STANDARD_FIELDS = ("userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime")

_SEMVER_OPS = {"SEMVER_EQ": "=", "SEMVER_GT": ">", "SEMVER_GTE": ">=", "SEMVER_LT": "<", "SEMVER_LTE": "<="}
_NUMBER_OPS = {"NUM_EQ": "==", "NUM_GT": ">", "NUM_GTE": ">=", "NUM_LT": "<", "NUM_LTE": "<="}
# semver.org's own pattern: Unleash accepts these versions only.
_STRICT_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_STRING_OPS = {"STR_STARTS_WITH": "starts_with", "STR_ENDS_WITH": "ends_with", "STR_CONTAINS": "in"}


class NotConvertible(Exception):
    """A part of a feature that flagd's targeting cannot express; the message says which."""


@dataclass
class FeatureConversion:
    """How one Unleash feature came over: its class and, in plain words, why."""

    conversion: str  # exact | approximate | not-converted
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"conversion": self.conversion, "notes": self.notes}


@dataclass
class UnleashImport:
    """The flagd document, and per Unleash feature how it was converted."""

    document: dict[str, Any]
    features: dict[str, FeatureConversion]

    def keys_in(self, conversion: str) -> list[str]:
        return [name for name, feature in self.features.items() if feature.conversion == conversion]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "unleash",
            "exact": len(self.keys_in(EXACT)),
            "approximate": len(self.keys_in(APPROXIMATE)),
            "not_converted": len(self.keys_in(NOT_CONVERTED)),
            "features": {name: feature.to_dict() for name, feature in self.features.items()},
        }


def looks_like_unleash(document: Any) -> bool:
    """`source_format: auto`: an Unleash export has a list of features; flagd's a `flags` mapping."""
    return isinstance(document, dict) and isinstance(document.get("features"), list) and "flags" not in document


def unleash_context(context: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """An Unleash context as flagd's evaluation context: (targetingKey, attributes). The targeting
    key is the user id, as OpenFeature's Unleash provider maps it."""
    attributes = dict(context.get("properties") or {})
    for name in STANDARD_FIELDS:
        if name in context:
            attributes[name] = context[name]
    user = context.get("userId")
    return (str(user) if user not in (None, "") else None), attributes


def convert_unleash(document: dict[str, Any]) -> UnleashImport:
    if "featureStrategies" in document:
        document = client_shape(document)
    # A segment listed without its constraints (the admin export lists only ids and names) cannot be
    # evaluated: strategies that use it are not converted, rather than converted without it.
    segments = {
        s.get("id"): s["constraints"]
        for s in document.get("segments") or []
        if isinstance(s, dict) and isinstance(s.get("constraints"), list)
    }
    flags: dict[str, Any] = {}
    features: dict[str, FeatureConversion] = {}
    for feature in document.get("features") or []:
        if not isinstance(feature, dict) or not isinstance(feature.get("name"), str):
            continue
        name = feature["name"]
        converter = _Feature(name, segments)
        try:
            flags[name] = converter.flag(feature)
            features[name] = FeatureConversion(converter.conversion, converter.notes)
        except NotConvertible as reason:
            features[name] = FeatureConversion(NOT_CONVERTED, [*converter.notes, str(reason)])
    metadata = {"source": "unleash"}
    if isinstance(document.get("version"), int | str):
        metadata["unleashVersion"] = str(document["version"])
    return UnleashImport({"flags": flags, "metadata": metadata}, features)


class _Feature:
    """One feature's conversion; `conversion` and `notes` collect what was approximated."""

    def __init__(self, name: str, segments: dict[Any, list[Any]]):
        self.name = name
        self.segments = segments
        self.conversion = EXACT
        self.notes: list[str] = []

    def approximate(self, note: str) -> None:
        self.conversion = APPROXIMATE
        self.notes.append(note)

    def flag(self, feature: dict[str, Any]) -> dict[str, Any]:
        if feature.get("dependencies"):
            parents = ", ".join(str(d.get("feature")) for d in feature["dependencies"] if isinstance(d, dict))
            raise NotConvertible(f"depends on other features ({parents}): flagd flags cannot refer to each other")
        strategies = feature.get("strategies") or []
        variants = len(feature.get("variants") or []) + sum(len(s.get("variants") or []) for s in strategies)
        if variants:
            self.notes.append(f"{variants} variants not carried over: the flag answers on/off only")
        # No strategy at all: Unleash answers on for an enabled feature.
        condition = _any([self.strategy(s) for s in strategies]) if strategies else True
        flag: dict[str, Any] = {
            "state": "ENABLED" if feature.get("enabled") else "DISABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "on" if condition is True else "off",
        }
        if not isinstance(condition, bool):
            flag["targeting"] = {"if": [condition, "on", "off"]}
        metadata = {k: feature[k] for k in ("description", "type", "project") if isinstance(feature.get(k), str)}
        if metadata:
            flag["metadata"] = metadata
        return flag

    def strategy(self, strategy: dict[str, Any]) -> Any:
        tests = [self.constraint(c) for c in strategy.get("constraints") or []]
        for segment in strategy.get("segments") or []:
            if segment not in self.segments:
                raise NotConvertible(f"segment {segment}'s constraints are not in the export")
            tests += [self.constraint(c) for c in self.segments[segment]]
        tests.append(self.strategy_test(str(strategy.get("name")), strategy.get("parameters") or {}))
        return _all(tests)

    def strategy_test(self, name: str, parameters: dict[str, Any]) -> Any:
        if name == "default":
            return True
        if name == "userWithId":
            ids = [i.strip() for i in str(parameters.get("userIds", "")).split(",") if i.strip()]
            return {"in": [{"var": "userId"}, ids]}
        if name == "remoteAddress":
            addresses = [i.strip() for i in str(parameters.get("IPs", "")).split(",") if i.strip()]
            if any("/" in address for address in addresses):
                raise NotConvertible("remoteAddress strategy with CIDR ranges: flagd has no CIDR operator")
            return {"in": [{"var": "remoteAddress"}, addresses]}
        if name in ("gradualRolloutUserId", "gradualRolloutSessionId"):
            stickiness = "userId" if name == "gradualRolloutUserId" else "sessionId"
            group = str(parameters.get("groupId", self.name))
            return self.rollout(name, _percent(parameters.get("percentage")), stickiness, group)
        if name == "gradualRolloutRandom":
            return self.rollout(name, _percent(parameters.get("percentage")), "random", self.name)
        if name == "flexibleRollout":
            stickiness = str(parameters.get("stickiness") or "default")
            group = str(parameters.get("groupId") or self.name)
            return self.rollout(name, _percent(parameters.get("rollout")), stickiness, group)
        raise NotConvertible(f"strategy {name!r} has no flagd equivalent")

    def rollout(self, strategy: str, percent: int, stickiness: str, group: str) -> Any:
        """A share of users on. 0 and 100 are exact; between, flagd's `fractional` keeps the share
        but hashes differently from Unleash, so users move between on and off."""
        sticky = None if stickiness in ("default", "random") else {"var": stickiness}
        if percent <= 0:
            return False
        if percent >= 100:
            # Unleash answers off when the stickiness field is missing; `default` falls back to random.
            return True if sticky is None else {"!!": sticky}
        self.approximate(
            f"{strategy} at {percent} %: flagd's fractional buckets users differently from Unleash's "
            "MurmurHash3, so the same share is on but not the same users (buckets move)"
        )
        shares = [["on", percent], ["off", 100 - percent]]
        if sticky is None:
            if stickiness == "random":
                self.notes.append("random rollout: flagd's fractional is sticky per targetingKey")
            key: Any = {"cat": [group, ":", {"var": "targetingKey"}]}
            return {"==": [{"fractional": [key, *shares]}, "on"]}
        key = {"cat": [group, ":", sticky]}
        return {"and": [{"!!": sticky}, {"==": [{"fractional": [key, *shares]}, "on"]}]}

    def constraint(self, constraint: dict[str, Any]) -> Any:
        test = self.operator(constraint)
        return {"!": test} if constraint.get("inverted") else test

    def operator(self, constraint: dict[str, Any]) -> Any:
        operator = str(constraint.get("operator"))
        field_name = str(constraint.get("contextName"))
        value: Any = {"var": field_name}
        values = [str(v) for v in constraint.get("values") or []]
        single = constraint.get("value")
        if operator in ("IN", "NOT_IN"):
            member = {"in": [value, values]}
            return member if operator == "IN" else {"!": member}
        if operator in _STRING_OPS:
            if constraint.get("caseInsensitive"):
                raise NotConvertible(f"{operator} with caseInsensitive: flagd has no case-insensitive comparison")
            op = _STRING_OPS[operator]
            tests = [{op: [value, v]} if op != "in" else {"in": [v, value]} for v in values]
            return _all([{"!=": [value, None]}, _any(tests)])
        if operator in _NUMBER_OPS:
            try:
                number = _number(single)
            except ValueError:
                raise NotConvertible(f"{operator} {single!r}: not a number") from None
            return _all([{"!=": [value, None]}, {_NUMBER_OPS[operator]: [value, number]}])
        if operator in _SEMVER_OPS:
            if not _STRICT_SEMVER.fullmatch(str(single)):
                return False  # Unleash: a constraint on an invalid version never holds
            # flagd's sem_ver also reads `v1.2.3`, which Unleash takes for no version at all.
            no_v = [{"!": {"starts_with": [value, prefix]}} for prefix in ("v", "V")]
            return _all([{"!=": [value, None]}, *no_v, {"sem_ver": [value, _SEMVER_OPS[operator], str(single)]}])
        if operator in ("DATE_AFTER", "DATE_BEFORE"):
            return self.date(operator, field_name, single)
        if operator in ("REGEX", "IN_CIDR"):
            raise NotConvertible(f"{operator} on {field_name}: flagd's targeting has no such operator")
        raise NotConvertible(f"unknown constraint operator {operator!r}")

    def date(self, operator: str, field_name: str, single: Any) -> Any:
        if field_name != "currentTime":
            raise NotConvertible(f"{operator} on {field_name}: flagd compares dates only as its own clock")
        try:
            when = dt.datetime.fromisoformat(str(single).replace("Z", "+00:00"))
        except ValueError:
            raise NotConvertible(f"{operator} {single!r}: not a date") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        self.approximate(
            f"{operator} {single}: compared with flagd's clock ($flagd.timestamp, whole seconds); "
            "a currentTime given by the application is not used"
        )
        seconds = when.timestamp()
        op = ">" if operator == "DATE_AFTER" else "<"
        return {op: [{"var": "$flagd.timestamp"}, int(seconds) if seconds.is_integer() else seconds]}


def client_shape(export: dict[str, Any]) -> dict[str, Any]:
    """Unleash's admin export (`features`, `featureStrategies`, `featureEnvironments`, `segments`,
    `dependencies`; one environment, as Unleash exports it) in the client API's shape, one feature
    with its strategies. Disabled strategies and archived features are left out, as clients never
    see them."""
    environments = {
        str(item.get("environment"))
        for key in ("featureStrategies", "featureEnvironments")
        for item in export.get(key) or []
        if isinstance(item, dict) and item.get("environment") is not None
    }
    if len(environments) > 1:
        raise UsageError(
            f"the Unleash export holds several environments ({', '.join(sorted(environments))}): "
            "export the one environment the target deployment takes its flags from"
        )
    strategies: dict[str, list[dict[str, Any]]] = {}
    for strategy in export.get("featureStrategies") or []:
        if isinstance(strategy, dict) and not strategy.get("disabled"):
            strategies.setdefault(str(strategy.get("featureName")), []).append(strategy)
    settings = {str(e.get("featureName")): e for e in export.get("featureEnvironments") or [] if isinstance(e, dict)}
    parents = {
        str(d.get("feature")): d.get("dependencies") or []
        for d in export.get("dependencies") or []
        if isinstance(d, dict)
    }
    features = []
    for feature in export.get("features") or []:
        if not isinstance(feature, dict) or feature.get("archived"):
            continue
        name = str(feature.get("name"))
        setting = settings.get(name, {})
        ordered = sorted(strategies.get(name, []), key=lambda s: s.get("sortOrder") or 0)
        features.append(
            {
                **{k: feature[k] for k in ("name", "description", "type", "project") if k in feature},
                "enabled": bool(setting.get("enabled", False)),
                "strategies": ordered,
                "variants": setting.get("variants") or [],
                "dependencies": parents.get(name, []),
            }
        )
    return {"version": 1, "features": features, "segments": export.get("segments") or []}


def _percent(value: Any) -> int:
    try:
        return int(float(str(value)))
    except ValueError:
        raise NotConvertible(f"rollout percentage {value!r} is not a number") from None


def _number(value: Any) -> int | float:
    number = float(str(value))
    return int(number) if number.is_integer() else number


def _all(tests: list[Any]) -> Any:
    """AND, folded: `true` parts dropped, a `false` part makes all false."""
    kept = [t for t in tests if t is not True]
    if any(t is False for t in kept):
        return False
    if not kept:
        return True
    return kept[0] if len(kept) == 1 else {"and": kept}


def _any(tests: list[Any]) -> Any:
    kept = [t for t in tests if t is not False]
    if any(t is True for t in kept):
        return True
    if not kept:
        return False
    return kept[0] if len(kept) == 1 else {"or": kept}
