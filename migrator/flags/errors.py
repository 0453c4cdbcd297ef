"""The one error of the flags core: the plan or the source asks for something migrator will not do."""

from __future__ import annotations

from migrator.errors import MigratorError


class FlagsError(MigratorError):
    """A flag cannot be migrated as the plan says: a `set` naming a flag that is not copied, a `$ref` to a
    missing evaluator, a rename that would move users between buckets, a dead rule under `dead_rules: fail`,
    an output that flagd's schema rejects. Exit 2, like a PlanError: fixing the plan (or the source) is the
    user's move, and nothing has been written. The message names the flag and the JSON path."""

    exit_code = 2

    def __init__(self, message: str, *, flag: str | None = None, path: str | None = None, ref: str | None = None):
        self.flag = flag
        self.path = path
        self.ref = ref  # the missing evaluator's name, for a `$ref` that points at nothing
        super().__init__(message)
