"""The tutorial's and the how-to guides' shown outputs are what their commands print (see
tests/docs_outputs.py for how a page is run and what is normalised).

After a change of output, rewrite the pages with
    MIGRATOR_UPDATE_DOCS=1 python3 -m pytest tests/test_doc_outputs.py
(or `python3 tests/docs_outputs.py --update`), then read the diff of docs/ before committing it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docs_blocks import matches, read_steps, rewrite
from docs_outputs import DOCS, PAGES, Difference, check_page

from tests.prerequisites import missing_prerequisite

UPDATE = os.environ.get("MIGRATOR_UPDATE_DOCS") == "1"


@pytest.fixture(scope="module")
def checked() -> Iterator[dict[str, Future[list[Difference]]]]:
    """Every page, run side by side: each spends most of its time starting `migrator` processes."""
    with ThreadPoolExecutor(max_workers=len(PAGES)) as pool:
        yield {name: pool.submit(check_page, page, UPDATE) for name, page in PAGES.items()}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_shown_outputs_are_printed(
    name: str, checked: dict[str, Future[list[Difference]]], request: pytest.FixtureRequest
) -> None:
    if PAGES[name].databases:  # the local PostgreSQL server: skipped or failed as every server test is
        request.getfixturevalue("pg_url_factory")()
    missing = [tool for tool in _tools(name) if shutil.which(tool) is None]
    if missing:
        missing_prerequisite(f"docs/{name} runs {', '.join(missing)}, not installed", f"install {', '.join(missing)}")
    differences = checked[name].result()
    if UPDATE:
        return
    assert not differences, (
        f"docs/{name}: {len(differences)} shown outputs differ from what the commands print "
        "(rewrite them with MIGRATOR_UPDATE_DOCS=1 python3 -m pytest tests/test_doc_outputs.py):\n\n"
        + "\n\n".join(str(d) for d in differences)
    )


def _tools(name: str) -> list[str]:
    """The programs besides `migrator` and `python3` that a page's blocks (and scripts) run."""
    steps = read_steps((DOCS / name).read_text(encoding="utf-8").splitlines())
    commands = "\n".join(command.text for step in steps for command in step.commands)
    named = [tool for tool in ("sqlite3", "jq", "psql", "createdb") if re.search(rf"\b{tool}\b", commands)]
    return ["bash", *named, *PAGES[name].tools]


def test_every_console_block_of_the_pages_is_run_or_says_why_not() -> None:
    for name in PAGES:
        text = (DOCS / name).read_text(encoding="utf-8")
        blocks = len(re.findall(r"^```console$", text, flags=re.MULTILINE))
        skipped = len(re.findall(r"^<!-- not run: \S.*-->$", text, flags=re.MULTILINE))
        run = [s for s in read_steps(text.splitlines()) if not s.hidden]
        assert len(run) + skipped == blocks, name
        assert len(run) > skipped, f"{name}: most of its console blocks should be run"


def test_the_tutorial_explains_the_sql_it_shows() -> None:
    """The prose about the comments query names only the subqueries the shown query has."""
    text = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    section = text.split("### The SQL", 1)[1].split("## 5.", 1)[0]
    shown, prose = section.split("```console", 1)[1].split("```", 1)
    named = set(re.findall(r"`(kept_\w+)`", prose)) - {"kept_T"}  # kept_T: any table
    assert named, "the explanation names no kept_ subquery"
    assert named <= set(re.findall(r"\bkept_\w+", shown)), sorted(named - set(re.findall(r"\bkept_\w+", shown)))


def test_ellipsis_matches_and_rewrites_keep_the_shape() -> None:
    printed = ["plan x", "table", "row 1", "row 2", "summary: 3 rows", "", "why", "  a", "  b"]
    assert matches(["...", "summary: 3 rows", "...", "  b"], printed)
    assert matches(["plan x", "...", "  a", "  b"], printed)
    assert not matches(["...", "summary: 4 rows", "..."], printed)
    assert not matches(["plan x", "table"], printed)
    assert rewrite(["...", "summary: 4 rows", "..."], printed) == ["...", "summary: 3 rows", "..."]
