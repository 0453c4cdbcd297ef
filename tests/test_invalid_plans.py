"""Golden tests: every invalid plan gets its exact message on stderr, exit code 2, and nothing is written.

Each case is a pair under tests/invalid_plans/: `NN-name.yaml` and `NN-name.expected`, the exact stderr
with the plan's path written as `{plan}`. A plan whose first lines hold `# command: plan` is checked
against the demo source database (it needs the schema); the others need only the file.

Every plan is copied into its own empty folder and run from there, with the target database and the
state folder (through ${TARGET_URL} and ${STATE_DIR}) inside that folder too: after the command the
folder must hold the plan and nothing else.

To add a case, add the .yaml and run this file: the failure prints the actual stderr; read it, and if
it is a good message, save it as the .expected (with the path replaced by `{plan}`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from migrator.demo.generate import generate_demo

CASES_DIR = Path(__file__).resolve().parent / "invalid_plans"
CASES = sorted(CASES_DIR.glob("*.yaml"))
SCHEMA_AWARE = "# command: plan"
UNSET_VARIABLE = "MIGRATOR_TEST_UNSET_VARIABLE"  # named by 24-unset-variable.yaml; must stay unset

# rich wraps stderr at the terminal width (80 when stderr is not a terminal, COLUMNS when set), and
# the copies' absolute paths make some lines longer than 200 characters: see test_error_lines_are_not_wrapped.
WIDE = "1000"

# Cases whose .expected holds the message the loader SHOULD give while it gives a worse one: strict
# xfails, so that the XPASS says when to remove the entry. Empty: every message is the right one.
PENDING: dict[str, str] = {}


def _is_schema_aware(case: Path) -> bool:
    return SCHEMA_AWARE in case.read_text(encoding="utf-8")


def _params(cases: list[Path], other_reason: Callable[[Path], str | None] = lambda case: None) -> list[object]:
    """One pytest param per case; a strict xfail when the case is PENDING or `other_reason` gives one."""
    params = []
    for case in cases:
        reason = PENDING.get(case.stem) or other_reason(case)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(case, id=case.stem, marks=marks))
    return params


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo source database, generated once for this module; the cases only ever read it."""
    return generate_demo(tmp_path_factory.mktemp("demo")).database.resolve()


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _invoke(run_cli, case: Path, tmp_path: Path, demo_source: Path, *command: str, columns: str = WIDE):  # type: ignore[no-untyped-def]
    """Run `python -m migrator COMMAND PLAN` on a copy of the case; check that nothing was written."""
    assert UNSET_VARIABLE not in os.environ, f"{UNSET_VARIABLE} must not be set for these tests"
    work = tmp_path.resolve() / "work"
    work.mkdir()
    plan = work / case.name
    shutil.copyfile(case, plan)
    source_before = _listing(demo_source.parent)
    env = {
        "SOURCE_URL": f"sqlite:///{demo_source}",
        "TARGET_URL": f"sqlite:///{work / 'target' / 'target.db'}",
        "STATE_DIR": str(work / "state"),
        "COLUMNS": columns,
        "NO_COLOR": "1",
    }
    result = run_cli(*command, plan, env=env, cwd=work)
    stderr = result.stderr.replace(str(plan), "{plan}")

    written = [name for name in _listing(work) if name != case.name]
    assert written == [], f"`migrator {' '.join(command)}` wrote {written} for an invalid plan"
    assert _listing(demo_source.parent) == source_before, "the source folder changed"
    return result, stderr


def _expected(case: Path, actual: str, exit_code: int, stdout: str) -> str:
    expected = case.with_suffix(".expected")
    if not expected.exists():
        pytest.fail(
            f"{expected.relative_to(CASES_DIR.parent)} is missing. The command exited {exit_code}, "
            f"stdout was {stdout!r}, and stderr was:\n{actual}"
            "If that message is right, save it as the .expected file.",
            pytrace=False,
        )
    return expected.read_text(encoding="utf-8")


def _check(result, stderr: str, case: Path) -> None:  # type: ignore[no-untyped-def]
    expected = _expected(case, stderr, result.returncode, result.stdout)
    assert stderr == expected
    assert result.returncode == 2
    assert result.stdout == ""


@pytest.mark.parametrize("case", _params(CASES))
def test_invalid_plan_is_refused_with_its_message(run_cli, case: Path, tmp_path: Path, demo_source: Path) -> None:  # type: ignore[no-untyped-def]
    command = "plan" if _is_schema_aware(case) else "validate"
    result, stderr = _invoke(run_cli, case, tmp_path, demo_source, command)
    _check(result, stderr, case)


@pytest.mark.parametrize("case", _params(CASES))
def test_run_refuses_invalid_plan_and_writes_nothing(run_cli, case: Path, tmp_path: Path, demo_source: Path) -> None:  # type: ignore[no-untyped-def]
    result, stderr = _invoke(run_cli, case, tmp_path, demo_source, "run")
    _check(result, stderr, case)


@pytest.mark.parametrize("case", _params([c for c in CASES if _is_schema_aware(c)]))
def test_validate_connect_gives_the_same_message(run_cli, case: Path, tmp_path: Path, demo_source: Path) -> None:  # type: ignore[no-untyped-def]
    result, stderr = _invoke(run_cli, case, tmp_path, demo_source, "validate", "--connect")
    _check(result, stderr, case)


def test_error_lines_are_not_wrapped(run_cli, tmp_path: Path, demo_source: Path) -> None:  # type: ignore[no-untyped-def]
    case = CASES_DIR / "27-several-problems.yaml"
    result, stderr = _invoke(run_cli, case, tmp_path, demo_source, "validate", columns="80")
    assert result.returncode == 2
    assert stderr == case.with_suffix(".expected").read_text(encoding="utf-8")


def test_every_plan_has_its_expected_message_and_there_are_enough() -> None:
    plans = {p.stem for p in CASES}
    expected = {p.stem for p in CASES_DIR.glob("*.expected")}
    assert expected - plans == set(), "an .expected file without its .yaml"
    assert len(plans) >= 20
    assert set(PENDING) <= plans, "PENDING names a case that does not exist"
    assert len(plans - set(PENDING)) >= 24, "at least 24 cases must pass as they are"
    for case in CASES:
        assert case.stem[:2].isdigit() and case.stem[2] == "-", f"{case.name}: name it NN-short-name.yaml"
