"""What the flags part writes: the source's flag file read, converted (an Unleash export), migrated by
the plan's `flags` rules (migrator/flags), and serialised; with the digest that the audit trail, the
receipt and verification compare.

The digest is the SHA-256 of the output's canonical JSON (keys sorted, no whitespace), not of the
file's bytes: the file is written indented for people, and a target reformatted by an editor still
holds the same flags. Verification compares canonical JSON too, for the same reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrator.audit.canonical import canonical_bytes, sha256_hex
from migrator.engine.flag_files import FlagFile
from migrator.errors import PlanError, Problem, SafetyError, UsageError
from migrator.flags import FlagsError, FlagsOutcome, migrate_flags
from migrator.flags.bucketing import BucketingVersion
from migrator.flags.unleash import UnleashImport, convert_unleash, looks_like_unleash

if TYPE_CHECKING:
    from migrator.plan.load import LoadedPlan

FLAGD_SCHEMAS_VERSION = "0.2.15"  # migrator/flags/schemas/README.md
# How flagd's evaluators hash `fractional` buckets today: flagd's testbed calls it fractional-v3.
BUCKETING_VERSION: BucketingVersion = "cbor"
_BUCKETING_ALGORITHMS = {
    "cbor": "MurmurHash3 x86 32-bit (unsigned) of the bucketing value's canonical CBOR; "
    "the shorthand hashes [flagKey, targetingKey]; bucket = hash x total weight >> 32",
    "string": "MurmurHash3 x86 32-bit of the bucketing value as a string; the shorthand hashes flagKey + "
    "targetingKey (flagd before its CBOR change)",
    "unleash": "Unleash normalizedHash: MurmurHash3 x86 32-bit of groupId:stickinessValue, seed 86028157, "
    "mod 100, plus 1",
}


@dataclass
class BuiltFlags:
    source: FlagFile
    target: FlagFile
    source_format: str  # flagd | unleash
    outcome: FlagsOutcome
    imported: UnleashImport | None
    output: bytes = field(repr=False)  # the file as written
    digest: str  # SHA-256 of the output's canonical JSON

    def bucketing(self) -> dict[str, Any]:
        """The source's bucketing, for the receipt. A flagd document carries no marker of the flagd
        version (and so of the bucketing) it was written for: the receipt says so, names the hashing
        the source's flags are taken to use, and lists the flags whose buckets it decides."""
        evaluators = self.outcome.document.get("$evaluators") or {}
        fractional = [
            report.key
            for report, flag in self._copied_source_flags()
            if _uses_fractional(flag.get("targeting"), evaluators)
        ]
        if self.source_format == "unleash":
            return {
                "source_format": "unleash",
                "version": "unleash-normalized-hash",
                "algorithm": _BUCKETING_ALGORITHMS["unleash"],
                "marker_in_source": None,
                "flags_with_rollouts": fractional,
                "flagd_schemas": FLAGD_SCHEMAS_VERSION,
            }
        return {
            "source_format": "flagd",
            "version": self.outcome.bucketing_version,
            "algorithm": _BUCKETING_ALGORITHMS.get(self.outcome.bucketing_version, ""),
            "marker_in_source": None,
            "note": "flagd's flag definitions carry no bucketing version; this is the one flagd's current "
            "evaluators use (flagd-testbed: fractional-v3)",
            "flags_with_fractional": fractional,
            "flagd_schemas": FLAGD_SCHEMAS_VERSION,
        }

    def _copied_source_flags(self) -> list[tuple[Any, dict[str, Any]]]:
        flags = self.outcome.document.get("flags", {})
        return [(r, flags[r.target_key]) for r in self.outcome.flags if r.target_key in flags]

    def summary(self) -> dict[str, Any]:
        """The dry run's and the run's account of the flags: per flag what happened, every rule removed."""
        statuses = [r.status for r in self.outcome.flags]
        summary: dict[str, Any] = {
            "source": self.source.shown,
            "target": self.target.shown,
            "source_format": self.source_format,
            "copied": statuses.count("copied"),
            "overridden": statuses.count("overridden"),
            "excluded": statuses.count("excluded"),
            "rules_removed": self.outcome.rules_removed,
            "flags": [r.to_dict() for r in self.outcome.flags],
            "evaluators": list(self.outcome.evaluators),
            "warnings": list(self.outcome.warnings),
            "digest": self.digest,
        }
        if self.imported is not None:
            summary["import"] = self.imported.to_dict()
        return summary


def flag_files(loaded: LoadedPlan) -> tuple[FlagFile, FlagFile]:
    plan = loaded.plan
    assert plan.source.flags is not None and plan.target.flags is not None  # the loader demands both
    source = FlagFile(plan.source.flags, plan.source.s3, loaded.base_dir)
    target = FlagFile(plan.target.flags, plan.target.s3, loaded.base_dir)
    if source.identity == target.identity:
        raise SafetyError(f"target.flags is the source's flag file ({source.shown}): refusing to write over it")
    return source, target


def build_flags(loaded: LoadedPlan) -> BuiltFlags:
    """Read the source and compute the output. Raises FlagsError when the plan asks the impossible."""
    rules = loaded.plan.flags
    assert rules is not None
    source, target = flag_files(loaded)
    data = source.read()
    if data is None:
        raise UsageError(f"{source.shown}: the source flag file does not exist")
    document = parse_flag_document(data, source.shown)
    source_format = rules.source_format
    if source_format == "auto":
        source_format = "unleash" if looks_like_unleash(document) else "flagd"
    imported = None
    if source_format == "unleash":
        if not looks_like_unleash(document):
            raise UsageError(f"{source.shown}: not an Unleash export (no `features` list), but source_format says so")
        imported = convert_unleash(document)
        document = imported.document
    try:
        outcome = migrate_flags(document, rules, source_name=source.shown, bucketing_version=BUCKETING_VERSION)
    except FlagsError as error:
        raise _located(error, loaded, data, source.shown) from None
    output = render(outcome.document)
    return BuiltFlags(source, target, source_format, outcome, imported, output, digest_of(outcome.document))


def _line_of_ref(data: bytes, name: str) -> int | None:
    """The line of the first `"$ref": "NAME"` in the source file's text (None when it is not spelt
    that way, say with escapes: the message still names the flag and the path)."""
    text = data.decode("utf-8", errors="replace")
    found = re.search(r'"\$ref"\s*:\s*' + re.escape(json.dumps(name)), text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def parse_flag_document(data: bytes, shown: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{shown}: not JSON ({exc})") from None


def render(document: dict[str, Any]) -> bytes:
    """The file as people read it: indented, in the source's key order, UTF-8."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def digest_of(document: Any) -> str:
    return sha256_hex(canonical_bytes(document))


def _uses_fractional(rule: Any, evaluators: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether a rule buckets users with `fractional`, directly or through a shared evaluator."""
    if isinstance(rule, list):
        return any(_uses_fractional(item, evaluators, seen) for item in rule)
    if not isinstance(rule, dict):
        return False
    ref = rule.get("$ref")
    if len(rule) == 1 and isinstance(ref, str):
        return ref not in seen and _uses_fractional(evaluators.get(ref), evaluators, seen | {ref})
    return "fractional" in rule or any(_uses_fractional(value, evaluators, seen) for value in rule.values())


def _located(error: FlagsError, loaded: LoadedPlan, data: bytes, shown: str) -> FlagsError | PlanError:
    """A refusal about a key of the plan's `flags` section (a `set`, a `rename`, a `context` entry)
    is a plan error at that key's line; a `$ref` to an evaluator the source lacks, a plan error at
    the line of the source file that holds it; others stay as the core said them."""
    rules = loaded.plan.flags
    path = error.path or ""
    if error.ref is not None:
        line = _line_of_ref(data, error.ref)
        return PlanError([Problem(shown, line, path, str(error).removeprefix(f"flag {error.flag!r}: {path} "))])
    if rules is None:
        return error
    for section in ("set", "rename", "context"):
        named: dict[str, Any] = getattr(rules, section)
        # A flag key may hold dots: the flag the error names, else the longest entry the path starts with.
        candidates = [error.flag] if error.flag else sorted(named, key=len, reverse=True)
        for name in candidates:
            if name in named and (path == f"flags.{section}.{name}" or path.startswith(f"flags.{section}.{name}.")):
                line = loaded.line_of("flags", section, name)
                message = str(error).removeprefix(f"flags.{section}: ")
                return PlanError([Problem(str(loaded.file), line, f"flags.{section}.{name}", message)])
    return error
