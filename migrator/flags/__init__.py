"""Feature flags: flagd flag definitions filtered, overridden and simplified for the target (SPEC §7).

    migrate_flags(document, rules, *, source_name) -> FlagsOutcome    the whole job, pure (no I/O)
    validate_document(document) -> list[str]                          flagd schema problems, flag and path
    FlagsError                                                        exit 2: the plan asks the impossible

The pieces: selection (include/exclude/rename/prefix), overrides (`set`), evaluators (`$ref`s),
bucketing (renames and `fractional`), jsonlogic (JSONLogic's value semantics), simplify (partial
evaluation with the plan's `context`), targeting (a flag's targeting after simplification), schema
(flagd's packaged JSON schema).
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
