"""flagd's own Python evaluator (openfeature-flagd-core) as the oracle of the flags tests.

`resolve` evaluates one flag of a document for one evaluation context, with evaluation time frozen (flagd
puts `$flagd.timestamp` into every evaluation), and returns what a caller sees: value, variant, or the
error's class. Tests only: migrator never imports it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

flagd_core = pytest.importorskip("openfeature.contrib.tools.flagd.core")
targeting_module = pytest.importorskip("openfeature.contrib.tools.flagd.core.targeting.targeting")
from openfeature.evaluation_context import EvaluationContext  # noqa: E402

FROZEN_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z


@contextlib.contextmanager
def frozen_time() -> Iterator[None]:
    with mock.patch.object(targeting_module.time, "time", return_value=FROZEN_TIME):
        yield


class Oracle:
    def __init__(self, document: dict[str, Any]):
        self.core = flagd_core.FlagdCore()
        self.core.set_flags(copy.deepcopy(document))  # flagd-core edits the definitions it is given

    def resolve(self, key: str, attributes: dict[str, Any], targeting_key: str | None = None) -> tuple[Any, ...]:
        """Resolved as a string flag: the tests' flags have string variants (flagd checks the type)."""
        context = EvaluationContext(targeting_key=targeting_key, attributes=copy.deepcopy(attributes))
        with frozen_time():
            try:
                result = self.core.resolve_string_value(key, "caller-default", context)
            except Exception as error:  # the error is part of the behaviour compared
                return ("error", type(error).__name__)
        return ("value", repr(result.value), result.variant)


def jsonlogic(rule: Any, data: Any) -> Any:
    """The oracle's JSONLogic (flagd's operators included) on a rule and data, errors as their class."""
    try:
        return targeting_module.jsonLogic(copy.deepcopy(rule), copy.deepcopy(data), targeting_module.OPERATORS)
    except Exception as error:
        return ("error", type(error).__name__)
