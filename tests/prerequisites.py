"""What a test does when a server or tool it needs is missing: skip here, fail in CI.

CI (set by .ci/run, as by every common CI service) must run every test, so that a green run means the
database tests ran: there a missing prerequisite fails the test. On a developer's machine it skips,
saying what is missing and how to get it, or how to leave those tests out.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def missing_prerequisite(what: str, remedy: str) -> NoReturn:
    """Skip a test whose server or tool is missing, naming it and the remedy; fail it under CI."""
    if in_ci():
        pytest.fail(f"{what}; CI is set, so every test must run: this fails instead of skipping", pytrace=False)
    pytest.skip(f"{what}: {remedy}")
