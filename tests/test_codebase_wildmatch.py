"""gitignore-style path rules, ref patterns and their git pathspecs, checked against git itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from migrator.codebase.wildmatch import PathRules, git_pathspecs, pattern_problem, ref_matches

EXCLUDE = ["region/eu/", "*.env", "/top.txt", "docs/*.md", "build/**", "**/tmp/*.log", "data[0-9].csv"]

CASES = {
    "region/eu/a.txt": False,
    "region/eu/deep/b.txt": False,
    "region/us/a.txt": True,
    "x/region/eu/a.txt": True,  # anchored: only at the root
    "a.env": False,
    "a/b/c.env": False,
    "top.txt": False,
    "a/top.txt": True,
    "docs/a.md": False,
    "docs/x/a.md": True,  # '*' does not cross '/'
    "build/out/x.o": False,
    "a/tmp/x.log": False,
    "tmp/x.log": False,
    "a/tmp/b/x.log": True,
    "data1.csv": False,
    "x/data2.csv": False,
    "dataX.csv": True,
}


@pytest.mark.parametrize(("path", "kept"), sorted(CASES.items()))
def test_keeps_file(path: str, kept: bool) -> None:
    assert PathRules(EXCLUDE, []).keeps_file(path) is kept


def test_directories() -> None:
    rules = PathRules(EXCLUDE, [])
    assert rules.excludes_dir("region/eu")
    assert rules.excludes_dir("region/eu/deep")
    assert not rules.excludes_dir("region")
    assert not rules.might_keep_under("region/eu")
    assert rules.might_keep_under("region")
    # A trailing '/' matches directories only: a file named like it is kept.
    assert PathRules(["cache/"], []).keeps_file("cache") and not PathRules(["cache/"], []).keeps_file("cache/x")


def test_include_list() -> None:
    rules = PathRules(["src/private/"], ["/src/", "/README.md"])
    assert rules.keeps_file("src/a/b.py")
    assert rules.keeps_file("README.md")
    assert not rules.keeps_file("docs/README.md")
    assert not rules.keeps_file("src/private/key.pem")  # the exclude list wins
    assert not rules.might_keep_under("docs")
    assert rules.might_keep_under("src")
    # Without a leading '/', a directory pattern matches at any depth (gitignore semantics).
    assert PathRules([], ["src/"]).might_keep_under("docs")
    assert PathRules([], ["src/"]).keeps_file("docs/src/x.py")


def test_refs() -> None:
    assert ref_matches("refs/heads/*", "refs/heads/main")
    assert not ref_matches("refs/heads/*", "refs/heads/team/x")
    assert ref_matches("refs/heads/**", "refs/heads/team/x")
    assert ref_matches("refs/tags/v[0-9]*", "refs/tags/v1.2")
    assert not ref_matches("refs/tags/v[0-9]*", "refs/tags/vx")


def test_pattern_problems() -> None:
    assert pattern_problem("src/[ab") is not None
    assert pattern_problem("!keep") is not None
    assert pattern_problem("") is not None
    assert pattern_problem("a//b") is not None
    assert pattern_problem("src/[ab]/*.py") is None


def test_pathspecs_select_what_the_rules_exclude(tmp_path: Path) -> None:
    """git's own pathspecs list exactly the paths the rules exclude (git ls-files on a real index)."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for path in CASES:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(path)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "--", *git_pathspecs(EXCLUDE)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert sorted(listed) == sorted(path for path, kept in CASES.items() if not kept)
