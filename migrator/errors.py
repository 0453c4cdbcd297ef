"""The one exception tree of migrator.

    MigratorError                      every error we expect and explain; exit code on the class
    ├── PlanError            (exit 2)  the plan is invalid: a list of Problems, each with file:line and key
    ├── UsageError           (exit 2)  the command line or the environment is wrong (a missing key, a flag)
    │   └── StoreUnavailable           a store refused us at first contact: connection refused, unknown host,
    │                                  authentication failed, unknown database, missing privilege
    ├── SafetyError          (exit 2)  refused before writing: target is the source, target not empty, ...
    ├── Interrupted          (exit 130) Ctrl-C: the unit under way was committed, the run can continue
    └── RunError             (exit 1)  the run started and failed
        ├── TransientError             worth retrying: dropped connection, timeout, throttling
        ├── PermanentError             retrying will not help: a constraint, a missing table
        └── DanglingRowsError          `dangling: fail` met rows that reference out-of-scope rows

Stores translate driver exceptions (SQLAlchemy, botocore) into TransientError or PermanentError at
their edge, so the engine's single retry policy only ever sees our classes. A store that refuses the
first connection is a StoreUnavailable: no retry, nothing written, exit 2, whichever side it is
(migrator/stores/sql/errors.py holds the classification). The CLI is the one place
that turns these into a message and an exit code; nothing prints a traceback unless --debug.
"""

from __future__ import annotations

from dataclasses import dataclass


class MigratorError(Exception):
    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan, located as precisely as we can."""

    file: str
    line: int | None
    key: str
    message: str
    hint: str | None = None

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class PlanError(MigratorError):
    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))


class UsageError(MigratorError):
    exit_code = 2


class StoreUnavailable(UsageError):
    """A store did not let us in when first asked: fixing the URL, the credentials, the grants or the
    server is the user's move, and retrying the same thing would fail the same way."""

    def __init__(self, message: str, kind: str | None = None):
        self.kind = kind  # "connection refused", "unknown host", ... or None when the driver says no more
        super().__init__(message)


class SafetyError(MigratorError):
    exit_code = 2


class Interrupted(MigratorError):
    exit_code = 130


class RunError(MigratorError):
    exit_code = 1


class TransientError(RunError):
    pass


class PermanentError(RunError):
    pass


class DanglingRowsError(RunError):
    pass
