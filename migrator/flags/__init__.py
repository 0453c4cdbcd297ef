"""Feature flags: flagd flag definitions filtered, overridden and simplified for the target (SPEC §7).

    migrate_flags(document, rules, *, source_name, bucketing_version="cbor") -> FlagsOutcome
                                                 the whole job, pure (no I/O but the packaged schema)
    validate_document(document) -> list[str]     flagd schema problems, each naming flag and JSON path
    validate_targeting(rule) -> list[str]        the same for one targeting rule
    FlagsError                                   exit 2: the plan (or the source) asks the impossible

The pieces: selection (include/exclude/rename/prefix), overrides (`set`), evaluators (`$ref`s),
facts (what the plan's `context` fixes), jsonlogic (JSONLogic's value semantics), simplify (partial
evaluation), targeting (a flag's targeting after simplification), bucketing (renames and
`fractional`), schema (flagd's packaged JSON schema), outcome (the report).
"""

from migrator.flags.errors import FlagsError
from migrator.flags.migrate import migrate_flags
from migrator.flags.outcome import FlagReport, FlagsOutcome, Removal
from migrator.flags.schema import validate_document, validate_targeting

__all__ = [
    "FlagReport",
    "FlagsError",
    "FlagsOutcome",
    "Removal",
    "migrate_flags",
    "validate_document",
    "validate_targeting",
]
