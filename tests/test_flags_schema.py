"""flagd's schema, shipped in the package: flagd's own positive test files validate, the negative ones do
not; a schema problem in the source is a warning naming the flag and the path, in the output an error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from migrator.flags import FlagsError, migrate_flags, validate_document, validate_targeting
from migrator.plan.model import FlagsSection

SCHEMA_TESTS = Path(__file__).parent / "data" / "flagd_schemas"


def _daemon_form(path: Path) -> bool:
    """Written for flagd.json, the daemon's superset (flags as an array), which migrator neither reads
    nor writes and does not ship."""
    return str(json.loads(path.read_text(encoding="utf-8")).get("$schema", "")).endswith("/flagd.json")


def _files(kind: str, verdict: str) -> list[Any]:
    paths = sorted((SCHEMA_TESTS / kind / verdict).glob("*.json"))
    return [pytest.param(path, id=path.name) for path in paths if not _daemon_form(path)]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_schema_test_files_are_all_here() -> None:
    # flags/*: flag documents (flags.json); targeting/*: rules (targeting.json). The two files in flagd's
    # daemon-only form (flagd.json) and flagd-schemas' json/test/flagd/ are left out.
    counts = {
        f"{kind}/{verdict}": len(_files(kind, verdict))
        for kind in ("flags", "targeting")
        for verdict in ("positive", "negative")
    }
    assert counts == {"flags/positive": 7, "flags/negative": 9, "targeting/positive": 7, "targeting/negative": 9}


@pytest.mark.parametrize("path", _files("flags", "positive"))
def test_positive_flag_documents_validate(path: Path) -> None:
    assert validate_document(_load(path)) == []


@pytest.mark.parametrize("path", _files("flags", "negative"))
def test_negative_flag_documents_do_not(path: Path) -> None:
    problems = validate_document(_load(path))
    assert problems
    assert all(problem.startswith(("flag '", "metadata", "flags")) for problem in problems)


@pytest.mark.parametrize("path", _files("targeting", "positive"))
def test_positive_targeting_validates(path: Path) -> None:
    assert validate_targeting(_load(path)) == []


@pytest.mark.parametrize("path", _files("targeting", "negative"))
def test_negative_targeting_does_not(path: Path) -> None:
    assert validate_targeting(_load(path))


def test_problem_names_flag_and_path() -> None:
    document = {
        "flags": {
            "ok": {"state": "ENABLED", "variants": {"on": True}},
            "bad": {"state": "ON", "variants": {"on": True}},
        }
    }
    assert validate_document(document) == ["flag 'bad': flags.bad.state: 'ON' is not one of ['ENABLED', 'DISABLED']"]


def test_source_problem_is_a_warning() -> None:
    # flagd evaluates this (it ignores what it does not know); the schema does not allow the extra key.
    source = {
        "flags": {
            "f": {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "on",
                "targeting": {"if": [{"sem_ver": [{"var": "version"}, ">=", "1.2"]}, "on", "off"]},
            },
        }
    }
    problems = validate_document(source)
    assert problems and problems[0].startswith("flag 'f': flags.f.targeting")
    # excluded from the copy: the source is warned about, the output is valid
    source["flags"]["g"] = {"state": "ENABLED", "variants": {"x": 1}}
    outcome = migrate_flags(source, FlagsSection(include=["g"]), source_name="src.json")
    assert outcome.warnings == [f"src.json: {problems[0]}"]
    assert list(outcome.document["flags"]) == ["g"]


def test_output_problem_is_an_error() -> None:
    source = {"flags": {"f": {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "on"}}}
    with pytest.raises(FlagsError, match=r"flag 'f': flags\.f\.state: 'on' is not one of"):
        migrate_flags(source, FlagsSection(set={"f": {"state": "on"}}), source_name="src.json")
